"""``mailbeacon domain``: custom tracking domains from the operator's shell.

``add`` claims a domain for a project and prints the CNAME record to create (with a tracking
base domain, pointing at the project's own host ``p{sid}.{base}``: service/domains.py);
``verify`` looks the record up now (with MAILBEACON_DNS_RESOLVERS) and exits 0 only when the
domain is active, 1 while it is not (so scripts can wait for it); ``list`` shows them all. Bad
input exits 2 with a message, as every command does.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..clock import SystemClock
from ..core.errors import CommandError, InvalidHostname
from ..core.hosts.domain_checks import DomainStatus
from ..core.hosts.hostnames import normalise_domain
from ..service.cnames import CnameResolver
from ..service.domains import DomainPolicy, add_domain, check_domain
from ..store import tenancy
from ..store import tracking_domains as store
from ..store.db import Database
from .command import settings_and_database


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "domain",
        help="manage custom tracking domains",
        description="Custom tracking domains: a project's links on its own subdomain, once "
        "the subdomain's CNAME points at the project's host p{sid}.TRACKING_BASE_DOMAIN (or "
        "at MAILBEACON_TRACKING_CNAME_TARGET when set): `add` prints the record.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser(
        "add",
        help="add a custom tracking domain to a project and print the DNS record to create",
    )
    add.add_argument("domain", help="a subdomain of the project's own, e.g. track.example.com")
    add.add_argument("--project", required=True, help="the project's id or short id (sid)")
    add.add_argument("--json", action="store_true", help="print JSON")
    add.set_defaults(run=run_add)
    verify = actions.add_parser(
        "verify",
        help="look the domain's CNAME up now; exit 0 when active, 1 when not",
    )
    verify.add_argument("domain", help="the domain, or its id")
    verify.add_argument("--json", action="store_true", help="print JSON")
    verify.set_defaults(run=run_verify)
    listing = actions.add_parser("list", help="list custom tracking domains")
    listing.add_argument("--project", help="only this project's (id or short id)")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(run=run_list)


def _project(db: Database, reference: str) -> tenancy.Project:
    with db.read() as conn:
        project = tenancy.project_by_reference(conn, reference.strip())
    if project is None:
        raise CommandError(f"no project has the id or short id {reference!r}")
    return project


def _row(domain: store.TrackingDomain, policy: DomainPolicy) -> dict[str, Any]:
    def iso(moment: Any) -> str | None:
        return moment.isoformat() if moment is not None else None

    target = policy.target_for(domain.project_sid)
    return {
        "id": domain.public_id,
        "project_id": domain.project_public_id,
        "project_sid": domain.project_sid,
        "domain": domain.domain,
        "status": domain.status.value,
        "status_reason": domain.status_reason,
        "dns_records": [{"type": "CNAME", "name": domain.domain, "value": target}],
        "created_at": iso(domain.created_at),
        "verified_at": iso(domain.verified_at),
        "last_checked_at": iso(domain.last_checked_at),
    }


def _record(row: dict[str, Any]) -> str:
    """The row's CNAME record as a zone file line."""
    record = row["dns_records"][0]
    return f"{record['name']}.  CNAME  {record['value']}."


def _line(row: dict[str, Any]) -> str:
    reason = f"  ({row['status_reason']})" if row["status_reason"] else ""
    return f"{row['domain']}  {row['status']}{reason}"


def run_add(args: argparse.Namespace) -> int:
    settings, db = settings_and_database()
    try:
        project = _project(db, args.project)
        policy = DomainPolicy.from_settings(settings)
        # A DomainError is a MailbeaconError: main() prints its sentence, exit 2.
        added = add_domain(db, project, args.domain, policy, SystemClock().now())
    finally:
        db.dispose()
    row = _row(added, policy)
    if args.json:
        print(json.dumps(row, indent=2))
        return 0
    print(f"{row['domain']} added to project {project.name} ({project.sid}), pending.")
    print("Create this DNS record, then run `mailbeacon domain verify` (or wait: it is")
    print("checked every few minutes):")
    print(f"  {_record(row)}")
    return 0


def _find(db: Database, reference: str) -> store.TrackingDomain:
    reference = reference.strip()
    with db.read() as conn:
        found = store.by_public_id(conn, reference)
        if found is None:
            try:
                found = store.by_domain(conn, normalise_domain(reference))
            except InvalidHostname as exc:
                raise CommandError(str(exc)) from None
    if found is None:
        raise CommandError(f"no tracking domain {reference!r}: see `mailbeacon domain list`")
    return found


def run_verify(args: argparse.Namespace) -> int:
    settings, db = settings_and_database()
    try:
        found = _find(db, args.domain)
        cnames = CnameResolver(settings.dns_resolvers, timeout=settings.dns_timeout_seconds)
        policy = DomainPolicy.from_settings(settings)
        checked = check_domain(db, cnames, found, policy, SystemClock().now())
    finally:
        db.dispose()
    if checked is None:
        raise CommandError(f"{found.domain} was deleted while it was being checked")
    row = _row(checked, policy)
    if args.json:
        print(json.dumps(row, indent=2))
    else:
        print(_line(row))
        if checked.status is not DomainStatus.ACTIVE:
            print(f"expected: {_record(row)}")
    return 0 if checked.status is DomainStatus.ACTIVE else 1


def run_list(args: argparse.Namespace) -> int:
    settings, db = settings_and_database()
    try:
        project_id = _project(db, args.project).id if args.project else None
        with db.read() as conn:
            found = store.list_domains(conn, project_id=project_id)
    finally:
        db.dispose()
    policy = DomainPolicy.from_settings(settings)
    rows = [_row(d, policy) for d in found]
    if args.json:
        print(json.dumps(rows, indent=2))
    elif not rows:
        print("no tracking domains yet: mailbeacon domain add --project ID DOMAIN")
    else:
        for row in rows:
            print(f"{row['id']}  {row['project_sid']:10}  {_line(row)}")
    return 0
