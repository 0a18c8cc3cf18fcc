"""deploy/Caddyfile end to end: Caddy in front of `mailbeacon serve`, certificates from pebble
(Let's Encrypt's test CA) obtained on demand through mailbeacon's /tls/ask, and an HTTPS click
on a verified custom tracking domain that resolves to loopback.

Needs Debian's ``caddy`` and ``pebble`` packages (`make test` installs them when it can). Without
them the test is skipped, except with CI=true, where it must run and so fails. Pebble's package
ships no certificate for its own HTTPS listener: the test makes one with a throw-away CA and
hands that CA to Caddy (SSL_CERT_FILE), as an operator of a private ACME CA would.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import SIGNING_KEYS
from tests.support.dns_server import DnsZone
from tests.support.process import run_cli, serve_process
from tests.support.server import free_port
from tests.support.smtp_server import make_certificates

ROOT = Path(__file__).resolve().parents[2]
CADDYFILE = ROOT / "deploy" / "Caddyfile"
API_HOST = "api.mailbeacon.test"
BASE = "trk.mailbeacon.test"
CUSTOM = "track.shop.test"
LATER = "links.shop.test"
DESTINATION = "https://shop.example/sale?a=1&b=2"


def require(*tools: str) -> None:
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        message = (
            f"{', '.join(missing)} not installed (apt-get install caddy pebble; `make test` "
            "installs them when run as root)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


@contextlib.contextmanager
def started(
    command: list[str], env: dict[str, str], log: Path, ready: Callable[[], bool]
) -> Iterator[subprocess.Popen[bytes]]:
    """A process, in its own process group, until the block ends; ``ready`` polled first."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            deadline = time.monotonic() + 30
            while not ready():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"{command[0]} did not start: {log.read_text()[-3000:]}")
                time.sleep(0.05)
            yield process
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(10)


def answers(url: str, **options: Any) -> bool:
    try:
        httpx.get(url, timeout=1, **options)
    except httpx.TransportError:
        return False
    return True


@contextlib.contextmanager
def pebble(tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    """Pebble on free ports, validating every challenge (PEBBLE_VA_ALWAYS_VALID): yields its
    directory URL, its management URL and the CA its HTTPS listener's certificate is from."""
    certificates = make_certificates(tmp_path / "pebble-tls")
    acme, management = free_port(), free_port()
    config = tmp_path / "pebble.json"
    config.write_text(
        json.dumps(
            {
                "pebble": {
                    "listenAddress": f"127.0.0.1:{acme}",
                    "managementListenAddress": f"127.0.0.1:{management}",
                    "certificate": str(certificates.cert),
                    "privateKey": str(certificates.key),
                    "httpPort": free_port(),  # unused: challenges are not really validated
                    "tlsPort": free_port(),
                    "ocspResponderURL": "",
                    "externalAccountBindingRequired": False,
                }
            }
        )
    )
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PEBBLE_VA_ALWAYS_VALID": "1",
        "PEBBLE_VA_NOSLEEP": "1",
        "PEBBLE_WFE_NONCEREJECT": "0",  # no bad-nonce retries to wait for
    }
    directory = f"https://127.0.0.1:{acme}/dir"
    trusting = ssl.create_default_context(cafile=str(certificates.ca))
    ready = lambda: answers(directory, verify=trusting)  # noqa: E731
    with started(["pebble", "-config", str(config)], env, tmp_path / "pebble.log", ready):
        yield directory, f"https://127.0.0.1:{management}", certificates.ca


def https_get(port: int, host: str, path: str, root: Path) -> tuple[int, str | None]:
    """GET https://{host}{path} from the server on 127.0.0.1:port, as if ``host`` resolved to
    loopback (SNI and Host are ``host``), checking its certificate against ``root``: the
    status and the Location header."""
    context = ssl.create_default_context(cafile=str(root))
    connection = http.client.HTTPSConnection(host, port, context=context, timeout=60)
    connection._create_connection = (  # type: ignore[attr-defined]
        lambda address, *args, **kwargs: socket.create_connection(
            ("127.0.0.1", address[1]), *args, **kwargs
        )
    )
    try:
        connection.request("GET", path)
        answer = connection.getresponse()
        answer.read()
        return answer.status, answer.getheader("location")
    finally:
        connection.close()


def test_caddy_serves_a_verified_custom_domain_with_a_certificate_it_obtained_on_demand(
    tmp_path: Path, dns_zone: DnsZone
) -> None:
    require("caddy", "pebble")
    https_port = free_port()
    env = {
        "MAILBEACON_DATABASE_URL": f"sqlite:///{tmp_path / 'mb.sqlite3'}",
        "MAILBEACON_SIGNING_KEYS": SIGNING_KEYS,
        "MAILBEACON_PUBLIC_URL": f"https://{API_HOST}:{https_port}",
        "MAILBEACON_TRACKING_BASE_DOMAIN": BASE,
        "MAILBEACON_DNS_RESOLVERS": dns_zone.resolvers,
        "MAILBEACON_TRUST_FORWARDED_FOR": "true",
        "MAILBEACON_SMTP_PORT": "0",
    }
    run_cli("migrate", env=env, cwd=tmp_path)
    project = json.loads(
        run_cli("project", "create", "Shop", "--json", env=env, cwd=tmp_path).stdout
    )
    team = {"authorization": f"Bearer {project['team_token']}"}
    with (
        pebble(tmp_path) as (directory, management, pebble_ca),
        serve_process(env, tmp_path) as (backend, _),
    ):
        # The custom domain, verified through the loopback DNS server.
        dns_zone.cname(CUSTOM, f"p{project['sid']}.{BASE}")  # the project's own host
        added = httpx.post(f"{backend}/v1/tracking-domains", json={"domain": CUSTOM}, headers=team)
        assert added.status_code == 201, added.text
        verified = httpx.post(
            f"{backend}/v1/tracking-domains/{added.json()['data']['id']}/verify", headers=team
        )
        assert verified.json()["data"]["status"] == "active", verified.text
        sent = httpx.post(
            f"{backend}/v1/send",
            headers={"x-lettermint-token": project["sending_token"]},
            json={
                "from": "Shop <shop@shop.example>",
                "to": ["ann@example.org"],
                "subject": "Sale",
                "html": f'<p><a href="{DESTINATION.replace("&", "&amp;")}">Sale</a></p>',
            },
        )
        assert sent.status_code == 202, sent.text
        html = httpx.get(f"{backend}/v1/messages/{sent.json()['message_id']}/html", headers=team)
        prefix = f"https://{CUSTOM}:{https_port}/c/"
        link = html.text.rsplit(prefix, 1)[1][:32]  # the sale link (the honeypot comes first)

        admin = free_port()
        caddy_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(tmp_path),
            "XDG_DATA_HOME": str(tmp_path / "caddy-data"),
            "XDG_CONFIG_HOME": str(tmp_path / "caddy-config"),
            "SSL_CERT_FILE": str(pebble_ca),  # trusts pebble's HTTPS listener
            "MAILBEACON_API_HOST": API_HOST,
            "MAILBEACON_BACKEND": backend.removeprefix("http://"),
            "MAILBEACON_ACME_CA": directory,
            "MAILBEACON_HTTP_PORT": str(free_port()),
            "MAILBEACON_HTTPS_PORT": str(https_port),
            "MAILBEACON_CADDY_ADMIN": f"127.0.0.1:{admin}",
        }
        command = ["caddy", "run", "--config", str(CADDYFILE), "--adapter", "caddyfile"]
        ready = lambda: answers(f"http://127.0.0.1:{admin}/config/")  # noqa: E731
        with started(command, caddy_env, tmp_path / "caddy.log", ready):
            roots = tmp_path / "pebble-roots.pem"
            trusting = ssl.create_default_context(cafile=str(pebble_ca))
            roots.write_text(httpx.get(f"{management}/roots/0", verify=trusting).text)
            try:
                clicked = https_get(https_port, CUSTOM, f"/c/{link}", roots)
            except (ssl.SSLError, OSError) as exc:
                log = (tmp_path / "caddy.log").read_text()[-4000:]
                raise AssertionError(f"HTTPS to {CUSTOM} failed: {exc}\n{log}") from exc
            assert clicked == (302, DESTINATION)
            # Names mailbeacon does not vouch for get no certificate: unknown, or pending.
            later = httpx.post(
                f"{backend}/v1/tracking-domains", json={"domain": LATER}, headers=team
            ).json()["data"]
            for name in ("evil.shop.test", LATER):
                ask = httpx.get(f"{backend}/tls/ask", params={"domain": name})
                assert ask.status_code == 404, name
                with pytest.raises((ssl.SSLError, ConnectionResetError)):
                    https_get(https_port, name, f"/c/{link}", roots)
            # Verified, the same project's second domain gets one at its first handshake, and
            # the link works there too: the token is the project's, not the host's.
            dns_zone.cname(LATER, f"p{project['sid']}.{BASE}")
            verified = httpx.post(
                f"{backend}/v1/tracking-domains/{later['id']}/verify", headers=team
            )
            assert verified.json()["data"]["status"] == "active", verified.text
            assert https_get(https_port, LATER, f"/c/{link}", roots) == (302, DESTINATION)
        log = (tmp_path / "caddy.log").read_text()
        obtained = re.findall(r'"certificate obtained successfully","identifier":"([^"]+)"', log)
        assert sorted(obtained) == sorted([API_HOST, CUSTOM, LATER])
        on_demand = re.findall(r'"tls.on_demand".*?"server_name":"([^"]+)"', log)
        assert sorted(on_demand) == sorted([CUSTOM, LATER])
