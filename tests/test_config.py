"""Settings: one table, the environment, an optional TOML file, errors naming the variable."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from mailbeacon.config import SETTINGS, Settings, describe, load_settings
from mailbeacon.core.errors import ConfigError, KeyringError

KEYS = "1:" + "k" * 12 + "abcdefghijklmnopqrstu"


def test_defaults_in_development() -> None:
    settings = load_settings({"MAILBEACON_ENVIRONMENT": "development"})
    assert settings.database_url == "sqlite:///mailbeacon.sqlite3"
    assert settings.public_url == "http://127.0.0.1:8025"
    assert settings.upstream.capture
    assert settings.token_lifetime_days == 30
    assert settings.ip_privacy == "truncated"
    assert settings.keyring() is None  # made and kept in the database at startup


def test_the_public_url_follows_host_and_port_unless_set() -> None:
    env = {"MAILBEACON_ENVIRONMENT": "development", "MAILBEACON_PORT": "9000"}
    assert load_settings(env).public_url == "http://127.0.0.1:9000"
    env["MAILBEACON_PUBLIC_URL"] = "https://t.example.com/"
    assert load_settings(env).public_url == "https://t.example.com"


def test_production_requires_signing_keys_and_refuses_placeholders() -> None:
    with pytest.raises(ConfigError, match="MAILBEACON_SIGNING_KEYS is required"):
        load_settings({})
    with pytest.raises(ConfigError, match="placeholder"):
        load_settings({"MAILBEACON_SIGNING_KEYS": "1:" + "x" * 40})
    with pytest.raises(KeyringError, match="MAILBEACON_SIGNING_KEYS"):
        load_settings({"MAILBEACON_SIGNING_KEYS": "1:short"})
    assert load_settings({"MAILBEACON_SIGNING_KEYS": KEYS}).keyring() is not None


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("MAILBEACON_PORT", "eighty", "MAILBEACON_PORT must be a whole number"),
        ("MAILBEACON_TOKEN_LIFETIME_DAYS", "0", "MAILBEACON_TOKEN_LIFETIME_DAYS must be at least"),
        ("MAILBEACON_IP_PRIVACY", "some", "MAILBEACON_IP_PRIVACY must be one of full"),
        ("MAILBEACON_DATABASE_URL", "mysql://x", "MAILBEACON_DATABASE_URL must be a sqlite"),
        ("MAILBEACON_PUBLIC_URL", "t.example.com", "MAILBEACON_PUBLIC_URL must be an absolute"),
        ("MAILBEACON_UPSTREAM", "ftp://x", "MAILBEACON_UPSTREAM must be 'capture'"),
        ("MAILBEACON_AUTO_MIGRATE", "perhaps", "MAILBEACON_AUTO_MIGRATE must be true or false"),
        ("MAILBEACON_SETTLE_SECONDS", "-1", "MAILBEACON_SETTLE_SECONDS must not be negative"),
    ],
)
def test_bad_values_name_the_variable(variable: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings({"MAILBEACON_SIGNING_KEYS": KEYS, variable: value})


def test_smtp_upstreams() -> None:
    env = {
        "MAILBEACON_SIGNING_KEYS": KEYS,
        "MAILBEACON_UPSTREAM": "smtp://user%40x:p%3Ass@mail.example.com:2525",
    }
    upstream = load_settings(env).upstream
    assert (upstream.host, upstream.port, upstream.username, upstream.password, upstream.tls) == (
        "mail.example.com",
        2525,
        "user@x",
        "p:ss",
        "starttls",
    )
    env["MAILBEACON_UPSTREAM"] = "smtps://mail.example.com"
    assert (load_settings(env).upstream.port, load_settings(env).upstream.tls) == (465, "tls")
    env["MAILBEACON_UPSTREAM"] = "smtp://127.0.0.1:25"
    env["MAILBEACON_UPSTREAM_TLS"] = "none"
    assert load_settings(env).upstream.tls == "none"
    assert "p:ss" not in load_settings(env).upstream.describe()


def test_a_toml_file_fills_in_and_the_environment_wins(tmp_path: Path) -> None:
    config = tmp_path / "mailbeacon.toml"
    config.write_text(f'port = 9100\nip_privacy = "none"\nsigning_keys = "{KEYS}"\n')
    settings = load_settings({"MAILBEACON_CONFIG": str(config), "MAILBEACON_PORT": "9200"})
    assert (settings.port, settings.ip_privacy) == (9200, "none")


def test_a_bad_file_is_named(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("prot = 1\n")
    with pytest.raises(ConfigError, match=r"unknown settings in .*bad.toml: \['prot'\]"):
        load_settings({"MAILBEACON_CONFIG": str(config)})
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings({"MAILBEACON_CONFIG": str(tmp_path / "missing.toml")})


def test_overrides_from_flags_win() -> None:
    settings = load_settings({"MAILBEACON_SIGNING_KEYS": KEYS, "MAILBEACON_PORT": "1"}, port="8080")
    assert settings.port == 8080


def test_the_table_documents_every_setting() -> None:
    names = {f.name for f in fields(Settings)}
    table = {s.name for s in SETTINGS} - {"upstream_tls"}
    assert table == names
    assert all(help_text for _, _, help_text in describe())
