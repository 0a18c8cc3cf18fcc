"""store/events.py ``insert_many`` converts values itself (the promoter's bulk path): it must
store exactly what the table's typed columns store through SQLAlchemy, on both databases."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import func, null, select

from mailbeacon.core.events import NO_DATA, Event
from mailbeacon.service.context import Services
from mailbeacon.store.events import insert_many
from mailbeacon.store.ids import new_id
from mailbeacon.store.schema import copies, events
from tests.conftest import START
from tests.support.delivered import delivered_copies
from tests.support.tenants import new_tenant

PARIS = timezone(timedelta(hours=1))


def _samples(project_id: int, message_id: int, copy_id: int) -> list[Event]:
    codes = ("human_user_agent", "accept_language")
    return [
        Event(
            new_id(),
            project_id,
            message_id,
            "message.clicked",
            datetime(2026, 11, 23, 12, 0, 0, 123456, tzinfo=UTC),
            copy_id,
            None,
            "R@x.example",
            3,
            "https://shop.example/x?a=1&b=\u00e9",
            "Anchor \u201cquoted\u201d",
            False,  # (True, twice for a copy, the unique index of first events refuses)
            "genuine",
            95,
            None,
            "Chrome",
            codes,
            ["2 different links clicked within 1.5 s"],
            False,
            True,
            "desktop",
            "browser",
            "Chrome",
            "Mozilla/5.0 (X11; Linux x86_64)",
            NO_DATA,
            5,
        ),
        Event(  # the same reason codes object again, a time in another zone, the honeypot
            new_id(),
            project_id,
            message_id,
            "message.clicked",
            datetime(2026, 11, 23, 13, 0, 1, tzinfo=PARIS),
            copy_id,
            None,
            None,
            0,
            None,
            None,
            None,
            "security_scanner",
            80,
            None,
            None,
            codes,
            None,
            True,
            False,
            None,
            None,
            None,
            "",
            {"honeypot": True},
            None,
        ),
        Event(  # a message-wide event: most fields empty, a whole second
            new_id(),
            project_id,
            message_id,
            "message.created",
            datetime(2026, 11, 23, 0, 0, tzinfo=UTC),
            data={"recipients": 2, "note": ["a", {"b": None}]},
        ),
    ]


def test_insert_many_stores_what_the_typed_columns_store(
    make_services: Callable[..., Services], database_url: str
) -> None:
    services = make_services(database_url)
    db = services.db
    tenant = new_tenant(db, services.clock)
    [copy_id] = delivered_copies(
        services, tenant, "<a href='https://x.example/'>x</a>", ["r@x.example"], START
    )
    with db.read() as conn:
        query = select(copies.c.message_id).where(copies.c.id == copy_id)
        message_id = conn.execute(query).scalar_one()
    samples = _samples(tenant.project.id, message_id, copy_id)
    columns = [name for name in Event._fields if name != "id"]
    typed: list[dict[str, Any]] = []
    for sample in samples:
        values = {name: getattr(sample, name) for name in columns}
        values["public_id"] = new_id()
        values["data"] = dict(values["data"])
        for name in ("reason_codes", "details"):  # SQL NULL for none, not JSON's null
            values[name] = null() if values[name] is None else list(values[name])
        typed.append(values)
    with db.write() as conn:
        before = conn.execute(select(func.max(events.c.id))).scalar_one()  # accept's own
        insert_many(conn, samples)
        conn.execute(events.insert(), typed)
    with db.read() as conn:
        listed = ", ".join(column for column in columns if column != "public_id")
        rows = conn.exec_driver_sql(
            f"SELECT {listed} FROM events WHERE id > {int(before)} ORDER BY id"
        ).all()
    assert len(rows) == 2 * len(samples)
    fast, slow = rows[: len(samples)], rows[len(samples) :]
    for ours, theirs in zip(fast, slow, strict=True):
        assert tuple(ours) == tuple(theirs)
    # and read back as events, the times are the same instants
    assert [row[3] for row in fast][1] in (
        "2026-11-23 12:00:01.000000",
        datetime(2026, 11, 23, 12, 0, 1),
    )
