"""Erasing one recipient's data (a GDPR request): every trace of an address, in one team or in
all of them, removed or anonymised, reported, and logged without the address.

The tables and what becomes of each are store/personal_data.py's registry; this runs it:

1. find the address's copies (any letter case) and the messages they belong to, and the names
   the address was given with in those messages;
2. for each registry entry, find its rows and change them in batches of a few hundred, each its
   own short transaction (SQLite's write lock is never held long);
3. a message sent to nobody else loses its bodies whole (a base64 body hides the address from
   any search), keeping its header block as retention does;
4. announce the messages on the feed of changed links, naming the erased copies: every serve
   process rewrites the links it holds and strips the copies' hits still waiting in its hit
   journal (service/link_feed.py);
5. log the erasure in ``erasures``: who asked, when, rows changed per table, and the address
   only as a keyed hash (core/lifecycle/scrub.py, under an instance secret).

Erasing again finds nothing left and changes nothing. Links already sent keep redirecting;
a later click on an erased copy is recorded without a recipient's address.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select, update

from ..core.errors import Refused
from ..core.intake.submission import parse_address
from ..core.lifecycle.scrub import Scrubber, subject_hash
from ..store import erasure_log, link_changes, personal_data, tenancy
from ..store import secrets as instance_secrets
from ..store.db import Database
from ..store.ids import new_id
from ..store.personal_data import REGISTRY, PersonalData
from ..store.retention import header_block
from ..store.schema import copies, erasures, messages

__all__ = ["Erasure", "address_of", "erase"]


@dataclass(frozen=True, slots=True)
class Erasure:
    public_id: str
    subject_hash: str
    erased: dict[str, int]  # rows changed, by table
    at: datetime


def address_of(value: str) -> str:
    """The address as erasures know it (lower case, its domain in IDNA form), or a 422."""
    found = parse_address(value.strip()) if isinstance(value, str) else None
    if found is None or found.name:
        raise Refused(
            "The recipient must be an email address.",
            errors={"recipient": ["Give one address, such as ann@example.org."]},
        )
    return found.email.lower()


def _theirs(
    conn: Connection, address: str, projects: Sequence[int] | None
) -> tuple[dict[int, list[int]], set[str], set[int]]:
    """The address's copies by message, the names it was given with, and the messages sent
    to nobody else."""
    query = (
        select(copies.c.id, copies.c.message_id)
        .join(messages, messages.c.id == copies.c.message_id)
        .where(func.lower(copies.c.recipient) == address)
    )
    if projects is not None:
        query = query.where(messages.c.project_id.in_(list(projects)))
    by_message: dict[int, list[int]] = {}
    for copy_id, message_id in conn.execute(query):
        by_message.setdefault(message_id, []).append(copy_id)
    names: set[str] = set()
    only_theirs: set[int] = set()
    if by_message:
        people = select(messages.c.id, messages.c.to, messages.c.cc, messages.c.bcc)
        for row in conn.execute(people.where(messages.c.id.in_(list(by_message)))):
            for entry in [*row.to, *row.cc, *row.bcc]:
                if str(entry.get("email", "")).lower() == address and entry.get("name"):
                    names.add(str(entry["name"]))
        counts = select(copies.c.message_id, func.count()).group_by(copies.c.message_id)
        for message_id, count in conn.execute(
            counts.where(copies.c.message_id.in_(list(by_message)))
        ):
            if count == len(by_message[message_id]):
                only_theirs.add(message_id)
    return by_message, names, only_theirs


def erase(
    db: Database,
    recipient: str,
    now: datetime,
    *,
    team: tenancy.Team | None,
    requested_by: str,
    suppressions: bool = False,
    registry: Sequence[PersonalData] = REGISTRY,
) -> Erasure:
    """Erase ``recipient`` from ``team``'s data (None: every team's). ``suppressions``: also
    the entries kept only until the person asks (see the registry's ``on_request``)."""
    address = address_of(recipient)
    with db.read() as conn:
        projects = (
            [p.id for p in tenancy.list_projects(conn, team.id)] if team is not None else None
        )
        by_message, names, only_theirs = _theirs(conn, address, projects)
    copy_ids = [c for found in by_message.values() for c in found]
    scrubber = Scrubber(address, names)
    changed: dict[str, set[Any]] = {}
    for entry in registry:
        if entry.on_request and not suppressions:
            continue
        with db.read() as conn:
            found = personal_data.locate(
                conn,
                entry,
                address,
                message_ids=list(by_message),
                copy_ids=copy_ids,
                team_id=team.id if team is not None else None,
                projects=projects,
            )
        for keys in personal_data.batches(found):
            with db.write() as conn:
                done = personal_data.apply(conn, entry, keys, scrubber)
            changed.setdefault(entry.table.name, set()).update(done)
    with db.write() as conn:
        _drop_bodies(conn, only_theirs)
        link_changes.invalidate(conn, list(by_message), now, erased_copies=by_message)
        key = instance_secrets.get_or_create(
            conn, erasure_log.HASH_KEY, lambda: secrets.token_hex(32), now
        )
        erasure = Erasure(
            new_id(),
            subject_hash(key.encode(), address),
            {table: len(keys) for table, keys in sorted(changed.items()) if keys},
            now,
        )
        conn.execute(
            erasures.insert().values(
                public_id=erasure.public_id,
                team_id=team.id if team is not None else None,
                subject_hash=erasure.subject_hash,
                requested_by=requested_by,
                at=now,
                report=erasure.erased,
            )
        )
    return erasure


def _drop_bodies(conn: Connection, message_ids: set[int]) -> None:
    if not message_ids:
        return
    rows = conn.execute(select(messages.c.id, messages.c.raw).where(messages.c.id.in_(message_ids)))
    for message_id, raw in rows.all():
        conn.execute(
            update(messages)
            .where(messages.c.id == message_id)
            .values(html=None, text=None, raw=header_block(bytes(raw)))
        )
