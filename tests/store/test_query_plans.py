"""The API's big reads are index range scans, on both databases: proved with the databases'
own EXPLAIN of the very statements the store functions run, over enough rows (generated in
SQL) that each planner has a real choice to make. No timings: plans do not flake.

- one page of a big message's events (GET /v1/messages/{id}/events), people only or all;
- the message list filtered by recipient (filter[recipient], any letter case);
- the per-link report of a big message (GET /v1/messages/{id}): its counters, not its events.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Connection, event, select, text

from mailbeacon.clock import FixedClock
from mailbeacon.store import link_report, queries
from mailbeacon.store.db import Database
from mailbeacon.store.schema import messages
from tests.support import databases
from tests.support.tenants import Tenant, new_tenant

BIG = 30_000  # events of the big message
OTHER = 30_000  # events of the other messages, so the big one is not the whole table
MESSAGES = 3_000
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

# Rows made in SQL: (PostgreSQL, SQLite) ways of counting from 1 to n.
_SERIES = {
    "postgresql": "generate_series(1, {n}) AS s(i)",
    "sqlite": "(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n}) "
    "SELECT i FROM s) AS s",
}


def _fill(conn: Connection, tenant: Tenant) -> int:
    """MESSAGES messages with one copy each (Ann-<i>@Example.org) and links 0..4;
    the first gets BIG click events (a third of them machine clicks), the others share OTHER.
    The id of the first."""
    dialect = conn.dialect.name
    series = _SERIES[dialect]
    cast = "" if dialect == "sqlite" else "::json"
    raw = "X''" if dialect == "sqlite" else "''::bytea"
    lists = ", ".join([f"'[]'{cast}"] * 6)  # to, cc, bcc, reply_to, tags, attachments
    conn.execute(
        text(
            'INSERT INTO messages (public_id, project_id, source, status, from_email, "to", cc, '
            "bcc, reply_to, tags, attachments, metadata, raw, transactional, track_opens, "
            "track_clicks, status_changed_at, created_at) "
            f"SELECT 'm-' || i, :project, 'lettermint', 'queued', 'shop@shop.example', {lists}, "
            f"'{{}}'{cast}, {raw}, true, true, true, :now, :now FROM {series.format(n=MESSAGES)}"
        ).bindparams(project=tenant.project.id, now=NOW)
    )
    first = conn.execute(select(messages.c.id).where(messages.c.public_id == "m-1")).scalar_one()
    conn.execute(
        text(
            "INSERT INTO copies (message_id, recipient, recipient_kind, status, attempts, raw, "
            "updated_at) SELECT id, 'Ann-' || substr(public_id, 3) || '@Example.org', 'to', "
            f"'queued', 0, {raw}, :now FROM messages"
        ).bindparams(now=NOW)
    )
    conn.execute(
        text(
            "INSERT INTO links (message_id, link_index, url, anchor_text, element) "
            "SELECT m.id, s.i - 1, 'https://shop.example/' || s.i, 'Link ' || s.i, 'a' "
            f"FROM messages m CROSS JOIN {series.format(n=5)}"
        )
    )
    for message, count, offset in ((":first", BIG, 0), (":first + 1 + i % :others", OTHER, BIG)):
        sql = (
            "INSERT INTO events (public_id, project_id, message_id, copy_id, type, at, "
            "link_index, machine, counts_for_metrics, data) "
            f"SELECT 'e-' || (i + {offset}), :project, {message}, i % 50, "
            f"'message.clicked', :now, i % 5, i % 3 = 0, i % 3 <> 0, '{{}}'{cast} "
            f"FROM {series.format(n=count)}"
        )
        values = {"project": tenant.project.id, "now": NOW, "first": first}
        if ":others" in sql:
            values["others"] = MESSAGES - 1
        conn.execute(text(sql).bindparams(**values))
    # every message's links' counters, as the promoter keeps them (figures of its own)
    conn.execute(
        text(
            "INSERT INTO link_clicks (message_id, link_index, human, human_events, machine, "
            f"machine_events) SELECT m.id, s.i - 1, s.i, 10 * s.i, 2 * s.i, 20 * s.i "
            f"FROM messages m CROSS JOIN {series.format(n=5)}"
        )
    )
    return int(first)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def filled(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Database, int]]:
    """One filled database of each kind for the whole module: the tests only read it."""
    if request.param == "sqlite":
        urls: Iterator[str] = iter([databases.fresh_sqlite(tmp_path_factory.mktemp("plans"))])
    else:
        urls = databases.fresh_postgres()
    url = next(urls)
    db = Database(url)
    try:
        tenant = new_tenant(db, FixedClock(NOW))
        with db.write() as conn:
            first = _fill(conn, tenant)
        # the planners' statistics and PostgreSQL's visibility map, as autovacuum keeps them
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE" if db.is_sqlite else "VACUUM ANALYZE")
        yield db, first
    finally:
        db.dispose()
        next(urls, None)  # drops the PostgreSQL database


def _plans(conn: Connection, run: Callable[[], Any]) -> list[str]:
    """The plan of every statement ``run`` executes, as the database explains it."""
    seen: list[tuple[str, Any]] = []

    def capture(_c: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    event.listen(conn, "before_cursor_execute", capture)
    try:
        run()
    finally:
        event.remove(conn, "before_cursor_execute", capture)
    explain = "EXPLAIN QUERY PLAN " if conn.dialect.name == "sqlite" else "EXPLAIN "
    plans = []
    for statement, parameters in seen:
        rows = conn.exec_driver_sql(explain + statement, parameters).all()
        plans.append("\n".join(str(row[-1]) for row in rows))
    return plans


def _uses(plan: str, index: str) -> bool:
    """SQLite: "SEARCH events USING [COVERING] INDEX name (...)"; PostgreSQL: "Index [Only]
    Scan [Backward] using name on events"."""
    words = plan.replace("COVERING INDEX", "INDEX").replace("USING INDEX", "using")
    return f"using {index} " in words + " " or f"using {index}\n" in words


def _no_table_scan(plan: str) -> bool:
    return "Seq Scan" not in plan and "SCAN events" not in plan and "SCAN copies" not in plan


def _starts_at_the_anchor(plan: str) -> bool:
    """The anchor bounds the index range itself, not a filter over the rows read."""
    sqlite = re.search(r"\(message_id=\? AND id[<>]=?\?\)", plan)
    postgresql = re.search(r"Index Cond: .*ROW\(message_id, id\) [<>]=? ROW", plan)
    return bool(sqlite or postgresql)


@pytest.mark.parametrize("include_machine", [False, True])
@pytest.mark.parametrize("newest_first", [False, True])
def test_a_page_of_a_big_messages_events_is_one_index_range(
    filled: tuple[Database, int], newest_first: bool, include_machine: bool
) -> None:
    """People only (the default): the partial index, whose rows are all shown; everything:
    the (message_id, id) index. A later page starts its range at the cursor's row."""
    db, message_id = filled
    index = "ix_events_message_id_id" + ("" if include_machine else "_people")

    def page(seek: queries.Seek) -> queries.Slice[Any]:
        return queries.event_page(
            conn, message_id, include_machine=include_machine, newest_first=newest_first, page=seek
        )

    with db.read() as conn:
        first = page(queries.Seek(25))
        [opening] = _plans(conn, lambda: page(queries.Seek(25)))
        later = queries.Seek(25, first.rows[-1].id)
        following, behind = _plans(conn, lambda: page(later))  # the page, and rows before it?
        backwards = queries.Seek(25, first.rows[-1].id, backwards=True)
        preceding, _ = _plans(conn, lambda: page(backwards))
    assert len(first.rows) == 25
    if not include_machine:
        assert not any(e.machine for e in first.rows)
    for plan in (opening, following, behind, preceding):
        assert _uses(plan, index), plan
        assert _no_table_scan(plan), plan
        assert "Sort" not in plan, plan
        assert "TEMP B-TREE" not in plan, plan
    for plan in (following, behind, preceding):
        assert _starts_at_the_anchor(plan), plan


def test_the_recipient_filter_looks_the_address_up_in_its_index(
    filled: tuple[Database, int],
) -> None:
    db, _ = filled
    team_id = _team_of(db)
    where = queries.MessageQuery(recipient="ann-1234@EXAMPLE.org")
    with db.read() as conn:
        found = queries.message_page(conn, team_id, where, queries.Seek(25))
        [plan] = _plans(conn, lambda: queries.message_page(conn, team_id, where, queries.Seek(25)))
    assert [m.public_id for m in found.rows] == ["m-1234"]
    assert _uses(plan, "ix_copies_lower_recipient"), plan
    assert _no_table_scan(plan), plan


def test_the_link_report_reads_its_messages_counters_only(filled: tuple[Database, int]) -> None:
    """The report of a message with BIG clicks reads its links and their counters by primary
    key: five rows each, not the events."""
    db, message_id = filled
    with db.read() as conn:
        report = link_report.link_report(conn, message_id)
        [plan] = _plans(conn, lambda: link_report.link_report(conn, message_id))
    assert [
        (r.link_index, r.human_clicks, r.human_clicks_events, r.machine_clicks) for r in report
    ] == [(i, i + 1, 10 * (i + 1), 2 * (i + 1)) for i in range(5)]
    assert "events" not in plan, plan
    assert _no_table_scan(plan), plan
    assert "SCAN link_clicks" not in plan, plan
    assert "Seq Scan on link_clicks" not in plan, plan


def _team_of(db: Database) -> int:
    with db.read() as conn:
        return int(conn.exec_driver_sql("SELECT team_id FROM projects").scalar_one())
