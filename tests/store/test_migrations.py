"""The migrations build exactly the schema the code declares, on both databases."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Connection, Index, select, text
from sqlalchemy.schema import CreateIndex

from mailbeacon.core.history import CopyHistory
from mailbeacon.service.context import Services
from mailbeacon.store import migrate
from mailbeacon.store.db import Database
from mailbeacon.store.observations import KIND_CLICK
from mailbeacon.store.schema import (
    analytics_daily,
    analytics_hourly,
    analytics_values,
    copies,
    copy_states,
    events,
    messages,
    metadata,
    observations,
    projects,
    teams,
    unpromoted,
)
from mailbeacon.workers.promoter import promote_settled
from tests.store.test_analytics_rollup import populate
from tests.support import hits as stored_hits
from tests.support import link_figures
from tests.support.delivered import delivered_copies
from tests.support.tenants import new_tenant

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


def test_migrations_match_the_declared_schema(db: Database) -> None:
    assert migrate.is_up_to_date(db)
    with db.engine.connect() as conn, warnings.catch_warnings():
        if db.engine.dialect.name == "sqlite":
            # SQLite's expression indexes cannot be reflected, so alembic skips them (and says
            # so): the next test compares them.
            warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression")
            warnings.filterwarnings("ignore", "autogenerate skipping metadata-specified expr")
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    assert differences == []


def _special(index: Index) -> bool:
    """An index alembic cannot compare on SQLite: on an expression, or partial."""
    has_expression = any(not isinstance(e, Column) for e in index.expressions)
    return has_expression or index.dialect_options["sqlite"]["where"] is not None


def test_sqlite_expression_and_partial_indexes_are_as_declared(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    try:
        declared = {
            index.name: CreateIndex(index).compile(dialect=db.engine.dialect).string
            for table in metadata.sorted_tables
            for index in table.indexes
            if _special(index)
        }
        assert {"ix_copies_lower_recipient", "ix_events_message_id_id_people"} <= set(declared)
        with db.engine.connect() as conn:
            built = dict(
                conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'index'")).all()
            )
    finally:
        db.dispose()

    def normal(sql: str) -> str:
        return re.sub(r"\s+", " ", sql).strip()

    for name, sql in declared.items():
        assert normal(built[name]) == normal(sql), name


def test_stored_client_names_take_lettermints_names(database_url: str) -> None:
    """Migration 0008 renames the client names events already carry, as new events get them."""
    db = Database(database_url)
    try:
        command.downgrade(migrate._config(db), "0007")  # and so the downgrade runs too
        with db.write() as conn:
            project, message = _message(conn)
            names = ["Mobile Safari", "Chrome Mobile", "Chrome", None, "Thunderbird"]
            conn.execute(
                events.insert(),
                [
                    {
                        "public_id": f"e{i}",
                        "project_id": project,
                        "message_id": message,
                        "type": "message.opened",
                        "at": NOW,
                        "client_name": name,
                        "data": {},
                    }
                    for i, name in enumerate(names)
                ],
            )
        migrate.upgrade(db)
        with db.read() as conn:
            stored = conn.execute(select(events.c.client_name).order_by(events.c.id)).scalars()
            assert list(stored) == ["Safari", "Chrome", "Chrome", None, "Thunderbird"]
    finally:
        db.dispose()


def _message(conn: Connection) -> tuple[int, int]:
    """A team, a project and a message in it, written as the tables are now: (project id,
    message id)."""
    team = conn.execute(
        teams.insert().values(public_id="t", name="T", token_hash="h", created_at=NOW)
    ).inserted_primary_key[0]
    project = conn.execute(
        projects.insert().values(
            public_id="p",
            team_id=team,
            sid="s",
            name="P",
            sending_token_hash="x",
            token_generated_at=NOW,
            created_at=NOW,
            updated_at=NOW,
        )
    ).inserted_primary_key[0]
    message = conn.execute(
        messages.insert().values(
            public_id="m",
            project_id=project,
            source="lettermint",
            status="queued",
            from_email="a@b.c",
            to=[],
            cc=[],
            bcc=[],
            reply_to=[],
            tags=[],
            metadata={},
            attachments=[],
            raw=b"",
            transactional=True,
            track_opens=True,
            track_clicks=True,
            status_changed_at=NOW,
            created_at=NOW,
        )
    ).inserted_primary_key[0]
    return project, message


def test_copies_get_their_summary_and_keep_one_first_per_type(database_url: str) -> None:
    """Migration 0015 makes each copy's summary from its events and keeps the earliest of the
    duplicate firsts two promoters could make before it (so its unique index can be made)."""
    db = Database(database_url)
    try:
        command.downgrade(migrate._config(db), "0014")
        with db.write() as conn:
            project, message = _message(conn)
            copy_id = conn.execute(
                copies.insert().values(
                    message_id=message,
                    recipient="r@x.example",
                    recipient_kind="to",
                    status="delivered",
                    raw=b"",
                    updated_at=NOW,
                )
            ).inserted_primary_key[0]
            made = [
                ("message.opened", True, "genuine", True),
                ("message.opened", True, "genuine", True),  # a second first: the bug
                ("message.clicked", None, "security_scanner", False),
            ]
            conn.execute(
                events.insert(),
                [
                    {
                        "public_id": f"e{i}",
                        "project_id": project,
                        "message_id": message,
                        "copy_id": copy_id,
                        "type": kind,
                        "at": NOW,
                        "first": first,
                        "classification": classification,
                        "counts_for_metrics": counted,
                        "data": {},
                    }
                    for i, (kind, first, classification, counted) in enumerate(made)
                ],
            )
        migrate.upgrade(db)
        with db.read() as conn:
            firsts = conn.execute(select(events.c.first).order_by(events.c.id)).scalars()
            assert list(firsts) == [True, False, None]
            state = conn.execute(select(copy_states)).one()
        history = CopyHistory.stored(state.opens, state.clicks, state.hits, state.recent)
        assert state.copy_id == copy_id
        assert history.hits == 3
        assert history.record(True, "genuine", True).first is False  # it had its first open
        assert history.record(False, "genuine", True).first is True  # a scanner's click only
    finally:
        db.dispose()


def test_preview_counters_are_recounted_from_the_events_already_there(
    make_services: Callable[..., Services], database_url: str
) -> None:
    """Migration 0016 adds the link previews' counters and fills them, for the rows of
    events recorded before it, with what the writer would have kept."""
    services = make_services(database_url)
    populate(services, 6)
    db = services.db

    def counters() -> dict[str, set[tuple[Any, ...]]]:
        with db.read() as conn:
            return {
                table.name: {tuple(row) for row in conn.execute(select(table))}
                for table in (analytics_hourly, analytics_daily)
            }

    kept = counters()
    assert any(row[-2] or row[-1] for row in kept["analytics_daily"])  # previews were counted
    command.downgrade(migrate._config(db), "0015")
    db.engine.dispose()  # connections that knew the dropped columns
    migrate.upgrade(db)
    assert counters() == kept


def test_each_values_totals_are_filled_from_the_daily_counters(
    make_services: Callable[..., Services], database_url: str
) -> None:
    """Migration 0017 gives each value already counted the totals and days the writer keeps."""
    services = make_services(database_url)
    populate(services, 7)
    db = services.db

    def totals() -> set[tuple[Any, ...]]:
        with db.read() as conn:
            return {tuple(row) for row in conn.execute(select(analytics_values))}

    kept = totals()
    assert len(kept) > 20
    command.downgrade(migrate._config(db), "0016")
    db.engine.dispose()
    migrate.upgrade(db)
    assert totals() == kept


def test_links_counters_and_copies_clicked_links_are_filled_from_the_events(
    make_services: Callable[..., Services], database_url: str
) -> None:
    """Migration 0018 fills the links' counters and each copy's clicked links, for the click
    events recorded before it, with what the promoter keeps."""
    services = make_services(database_url)
    services.clock.advance(hours=1)
    tenant = new_tenant(services.db, services.clock)
    copy_ids = delivered_copies(
        services,
        tenant,
        "<body>" + '<a href="https://a.example/">A</a>' * 3,
        ["a@x.example", "b@x.example", "c@x.example"],
        NOW,
    )
    db = services.db
    at_us = int(NOW.timestamp() * 1_000_000)
    hits = [  # copy, link, user agent: people, a HEAD probe, a preview bot, the same twice
        (copy_ids[0], 0, "GET", CHROME),
        (copy_ids[0], 0, "GET", CHROME),
        (copy_ids[1], 0, "HEAD", CHROME),
        (copy_ids[1], 2, "GET", CHROME),
        (copy_ids[2], 1, "GET", "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"),
        (copy_ids[2], 1, "GET", CHROME),
    ]
    with db.write() as conn:
        stored_hits.store(
            conn,
            [
                {
                    "copy_id": copy_id,
                    "kind": KIND_CLICK,
                    "link_index": link,
                    "at_us": at_us + 60_000_000 * (n + 1),
                    "method": method,
                    "host": "t.example.test",
                    "ip": "203.0.113.7",
                    "user_agent": agent,
                    "headers": '{"accept-language":"en-GB"}',
                }
                for n, (copy_id, link, method, agent) in enumerate(hits)
            ],
        )
    assert promote_settled(db, services.clock, services.settings.settle_seconds) == len(hits)

    def kept() -> tuple[link_figures.Figures, set[tuple[int, str]]]:
        with db.read() as conn:
            linked = {
                tuple(row)
                for row in conn.execute(select(copy_states.c.copy_id, copy_states.c.linked))
            }
            return link_figures.kept(conn), linked

    figures, linked = kept()
    with db.read() as conn:
        assert figures == link_figures.from_events(conn)
    assert len(figures) == 3
    assert all(text for _, text in linked)
    command.downgrade(migrate._config(db), "0017")
    db.engine.dispose()
    migrate.upgrade(db)
    assert kept() == (figures, linked)


def test_the_promoters_queue_is_filled_from_the_flags_then_as_hits_are_stored(
    database_url: str,
) -> None:
    """Migration 0019 queues the observations not yet promoted (and only those); from then
    on every observation stored is queued with it."""
    db = Database(database_url)
    try:
        command.downgrade(migrate._config(db), "0018")
        db.engine.dispose()

        def hit(n: int, **more: Any) -> dict[str, Any]:
            return {
                "copy_id": n,
                "kind": KIND_CLICK,
                "link_index": 0,
                "at_us": 1_000_000 * n,
                "method": "GET",
                "host": "t.example.test",
                "ip": None,
                "user_agent": "a",
                "headers": "{}",
                **more,
            }

        names = list(hit(0, promoted=False))
        flagged = text(
            f"INSERT INTO observations ({', '.join(names)}) "
            f"VALUES ({', '.join(':' + name for name in names)})"
        )
        with db.write() as conn:  # as revision 0018 has them: a flag each
            conn.execute(flagged, [hit(n, promoted=n % 2 == 0) for n in range(1, 7)])
        migrate.upgrade(db)
        with db.write() as conn:
            stored_hits.store(conn, [hit(7), hit(8)])
        with db.read() as conn:
            waiting = conn.execute(
                select(unpromoted.c.at_us, observations.c.copy_id)
                .join(observations, observations.c.id == unpromoted.c.observation_id)
                .order_by(unpromoted.c.at_us)
            ).all()
        assert [tuple(row) for row in waiting] == [(1_000_000 * n, n) for n in (1, 3, 5, 7, 8)]
    finally:
        db.dispose()
