"""A hit costs the promoter the same whatever its copy's volume (issue 14): judging one more hit
on a copy with thousands reads no more than on a copy with five. Counted, not timed: the
statements a pass runs and the rows they return (both databases), and on SQLite the virtual
machine's steps (a progress handler), which grow with every index entry or row a query
walks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event

from mailbeacon.app import Services
from mailbeacon.store.observations import KIND_CLICK, KIND_OPEN
from tests.support import hits as stored_hits
from tests.support.tenants import new_tenant
from tests.workers.test_promoter import CHROME, DELIVERED, PERSON, promoted, promoter_of, send

BUSY = 3000  # hits on the busy copy, all within the last few minutes (a bot looping)
STEP = 100  # SQLite: the progress handler is called every this many virtual machine steps


@dataclass
class Work:
    statements: int = 0
    rows: int = 0
    steps: int = 0


@pytest.fixture
def services(make_services: Callable[..., Services], database_url: str) -> Services:
    made = make_services(database_url)
    made.clock.advance(hours=1)
    return made


def store(services: Services, copy_id: int, hits: int, start: timedelta) -> None:
    rows = [
        {
            "copy_id": copy_id,
            "kind": KIND_CLICK if n % 2 else KIND_OPEN,
            "link_index": n % 5,
            "at_us": int((DELIVERED + start + timedelta(milliseconds=90 * n)).timestamp() * 1e6),
            "method": "GET",
            "host": "t.example.test",
            "ip": "203.0.113.7",
            "user_agent": CHROME,
            "headers": PERSON,
        }
        for n in range(hits)
    ]
    with services.db.write() as conn:
        stored_hits.store(conn, rows)


def counting(services: Services) -> Iterator[Work]:
    """Count the work of the database connections made from here on."""
    engine = services.db.engine
    engine.dispose()  # new connections, so that the SQLite ones get the progress handler
    work = Work()

    def executed(_conn: Any, cursor: Any, _statement: Any, params: Any, *_: Any) -> None:
        work.statements += len(params) if isinstance(params, list) else 1
        if cursor.description is not None:  # a query that returns rows
            work.rows += max(cursor.rowcount, 0) if not services.db.is_sqlite else 0

    def connected(dbapi: Any, _record: Any) -> None:
        def step() -> int:
            work.steps += 1
            return 0

        dbapi.set_progress_handler(step, STEP)

    event.listen(engine, "after_cursor_execute", executed)
    if services.db.is_sqlite:
        event.listen(engine, "connect", connected)
    try:
        yield work
    finally:
        event.remove(engine, "after_cursor_execute", executed)
        if services.db.is_sqlite:
            event.remove(engine, "connect", connected)


def one_more(services: Services, copy_id: int, after: timedelta) -> Work:
    store(services, copy_id, 1, after)
    counter = counting(services)
    work = next(counter)
    assert promoter_of(services).run_once() == 1
    counter.close()
    return work


def test_one_more_hit_costs_the_same_on_a_busy_copy_as_on_a_quiet_one(
    services: Services,
) -> None:
    busy, quiet = send(services, new_tenant(services.db, services.clock), recipients=2)
    store(services, busy, BUSY, timedelta(minutes=30))
    store(services, quiet, 5, timedelta(minutes=30))
    promoter = promoter_of(services)
    while promoter.run_once():
        pass
    assert len(promoted(services)) == BUSY + 5
    last = timedelta(minutes=30, milliseconds=90 * BUSY + 50)
    on_busy = one_more(services, busy, last)
    on_quiet = one_more(services, quiet, last + timedelta(milliseconds=10))
    assert on_busy.statements == on_quiet.statements
    if services.db.is_sqlite:
        # a B-tree one level deeper may take a few steps more; the copy's history, thousands
        assert on_busy.steps <= on_quiet.steps * 1.25 + 2, (on_busy, on_quiet)
    else:
        assert on_busy.rows == on_quiet.rows, (on_busy, on_quiet)
    assert len(promoted(services)) == BUSY + 7
