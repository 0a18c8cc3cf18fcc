"""Where personal data lives: one registry of every table's personal columns, and the store's
side of erasing an address from them (service/erasure.py runs it).

Each entry says how the rows holding a person's data are found and what becomes of them:

- ``MESSAGE``: the rows of the messages sent to the address (``key`` holds a message id);
- ``COPY``: the rows of the address's own copies (``key`` holds a copy id);
- ``TEXT``: the rows whose ``key`` column (text) mentions the address, within the team;
- ``ADDRESS``: the rows whose ``key`` column is the address (any letter case), within the team.

Then ``scrub`` columns have the address (and its names) cut out (core/lifecycle/scrub.py),
``clear`` columns are set to the values given, and ``delete`` deletes the rows. A table with
personal data is added here with one line, and erasures cover it; ``on_request`` ones only
when the erasure asks (a suppression is kept to honour the person's wish, unless they ask
otherwise).
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    Connection,
    Table,
    Text,
    and_,
    func,
    or_,
    select,
    update,
)

from ..core.lifecycle.scrub import ERASED, Scrubber
from .schema import (
    analytics_daily,
    analytics_values,
    copies,
    events,
    idempotency_keys,
    link_changes,
    links,
    messages,
    observations,
    stats_daily,
    suppressions,
    tracking_opt_outs,
    webhook_attempts,
    webhook_deliveries,
)

__all__ = ["BATCH", "REGISTRY", "Found", "Locate", "PersonalData", "apply", "batches", "locate"]


class Locate(enum.Enum):
    MESSAGE = "message"
    COPY = "copy"
    TEXT = "text"
    ADDRESS = "address"


@dataclass(frozen=True, slots=True)
class PersonalData:
    table: Table
    locate: Locate
    key: str
    scrub: tuple[str, ...] = ()
    clear: Mapping[str, Any] = field(default_factory=dict)
    delete: bool = False
    on_request: bool = False
    # TEXT and ADDRESS rows, within a team: the column naming their project, or else the
    # column naming their team (``team``), or else ``via``: (a table, the column referring to
    # its id, its project column)
    project: str | None = "project_id"
    team: str | None = None
    via: tuple[Table, str, str] | None = None


REGISTRY: tuple[PersonalData, ...] = (
    PersonalData(
        messages,
        Locate.MESSAGE,
        "id",
        scrub=(
            *("subject", "html", "text", "raw", "to", "cc", "bcc", "reply_to"),
            *("tag", "metadata", "tags", "envelope_from", "attachments"),
        ),
    ),
    PersonalData(
        copies, Locate.COPY, "id", scrub=("last_error",), clear={"recipient": ERASED, "raw": b""}
    ),
    PersonalData(copies, Locate.MESSAGE, "message_id", scrub=("raw",)),  # others' To: lines
    PersonalData(links, Locate.MESSAGE, "message_id", scrub=("url", "anchor_text")),
    PersonalData(link_changes, Locate.MESSAGE, "message_id", scrub=("old_url", "new_url")),
    PersonalData(events, Locate.MESSAGE, "message_id", scrub=("url", "anchor_text", "data")),
    PersonalData(events, Locate.COPY, "copy_id", clear={"recipient": None, "user_agent": None}),
    PersonalData(
        observations, Locate.COPY, "copy_id", clear={"ip": None, "user_agent": "", "headers": "{}"}
    ),
    PersonalData(
        webhook_deliveries,
        Locate.TEXT,
        "payload",
        scrub=("payload", "response_body", "error_message"),
    ),
    PersonalData(
        webhook_attempts,
        Locate.TEXT,
        "response_body",
        scrub=("response_body", "error_message"),
        project=None,
        via=(webhook_deliveries, "delivery_id", "project_id"),
    ),
    # a per-value counter whose value names the person (a personalised link): not anonymous
    PersonalData(analytics_daily, Locate.TEXT, "value", delete=True),
    PersonalData(analytics_values, Locate.TEXT, "value", delete=True),  # the same values' totals
    PersonalData(stats_daily, Locate.TEXT, "tag", delete=True),
    PersonalData(idempotency_keys, Locate.TEXT, "response", scrub=("response",)),
    # the person's own wishes (no mail, no tracking): kept unless the erasure asks
    PersonalData(
        suppressions,
        Locate.ADDRESS,
        "value",
        delete=True,
        on_request=True,
        project=None,
        team="team_id",
    ),
    PersonalData(
        tracking_opt_outs,
        Locate.ADDRESS,
        "value",
        delete=True,
        on_request=True,
        project=None,
        team="team_id",
    ),
)

BATCH = 500


@dataclass
class Found:
    """The rows of one entry to change, by primary key."""

    entry: PersonalData
    keys: list[tuple[Any, ...]]


def _like(address: str) -> str:
    escaped = address.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _within(
    entry: PersonalData, team_id: int | None, projects: Collection[int] | None
) -> list[ColumnElement[bool]]:
    if team_id is None or projects is None:
        return []
    if entry.project is not None:
        return [entry.table.c[entry.project].in_(list(projects))]
    if entry.team is not None:
        return [entry.table.c[entry.team] == team_id]
    if entry.via is None:
        raise ValueError(f"{entry.table.name}: the registry entry says no way to its team")
    parent, column, project = entry.via
    owned = select(parent.c.id).where(parent.c[project].in_(list(projects)))
    return [entry.table.c[column].in_(owned)]


def locate(
    conn: Connection,
    entry: PersonalData,
    address: str,
    *,
    message_ids: Collection[int],
    copy_ids: Collection[int],
    team_id: int | None,
    projects: Collection[int] | None,
) -> Found:
    """The primary keys of the entry's rows that hold the address's data."""
    table = entry.table
    primary = list(table.primary_key.columns)
    key = table.c[entry.key]
    conditions: list[ColumnElement[bool]]
    if entry.locate is Locate.MESSAGE:
        conditions = [key.in_(list(message_ids))] if message_ids else []
    elif entry.locate is Locate.COPY:
        conditions = [key.in_(list(copy_ids))] if copy_ids else []
    elif entry.locate is Locate.TEXT:
        searched = key.cast(Text) if isinstance(key.type, JSON) else key  # JSON: as its text
        text = func.lower(searched)
        conditions = [text.like(_like(address), escape="\\"), *_within(entry, team_id, projects)]
    else:
        conditions = [func.lower(key) == address, *_within(entry, team_id, projects)]
    if not conditions:
        return Found(entry, [])
    rows = conn.execute(select(*primary).where(*conditions))
    return Found(entry, [tuple(row) for row in rows])


def _where_keys(table: Table, keys: Sequence[tuple[Any, ...]]) -> ColumnElement[bool]:
    primary = list(table.primary_key.columns)
    if len(primary) == 1:
        return primary[0].in_([k[0] for k in keys])
    return or_(*(and_(*(c == v for c, v in zip(primary, k, strict=True))) for k in keys))


def batches(found: Found) -> Iterator[list[tuple[Any, ...]]]:
    for start in range(0, len(found.keys), BATCH):
        yield found.keys[start : start + BATCH]


def apply(
    conn: Connection, entry: PersonalData, keys: Sequence[tuple[Any, ...]], scrubber: Scrubber
) -> set[tuple[Any, ...]]:
    """Erase the address from these rows of the entry; the keys of the rows changed."""
    table = entry.table
    if not keys:
        return set()
    where = _where_keys(table, keys)
    if entry.delete:
        conn.execute(table.delete().where(where))
        return set(keys)
    changed: set[tuple[Any, ...]] = set()
    if entry.clear:
        conn.execute(update(table).where(where).values(**entry.clear))
        changed.update(keys)
    if entry.scrub:
        primary = list(table.primary_key.columns)
        columns = [table.c[name] for name in entry.scrub]
        for row in conn.execute(select(*primary, *columns).where(where)).all():
            key = tuple(row[: len(primary)])
            old = dict(zip(entry.scrub, row[len(primary) :], strict=True))
            new = {name: scrubber.any(value) for name, value in old.items()}
            new = {name: value for name, value in new.items() if value != _plain(old[name])}
            if new:
                conn.execute(update(table).where(_where_keys(table, [key])).values(**new))
                changed.add(key)
    return changed


def _plain(value: Any) -> Any:
    return bytes(value) if isinstance(value, (bytearray, memoryview)) else value
