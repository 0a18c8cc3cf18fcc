"""Idempotency keys: replay, conflict, in flight, expiry; per project and per scope."""

from __future__ import annotations

import threading

import pytest

from mailbeacon.clock import FixedClock
from mailbeacon.store import idempotency, tenancy
from mailbeacon.store.db import Database
from mailbeacon.store.idempotency import Outcome


@pytest.fixture
def project_ids(db: Database, clock: FixedClock) -> tuple[int, int]:
    with db.write() as conn:
        team, _ = tenancy.create_team(conn, "Acme", clock.now())
        one, _ = tenancy.create_project(conn, team.id, "One", clock.now())
        two, _ = tenancy.create_project(conn, team.id, "Two", clock.now())
    return one.id, two.id


def test_new_then_replay_then_conflict(
    db: Database, clock: FixedClock, project_ids: tuple[int, int]
) -> None:
    project, _ = project_ids
    with db.write() as conn:
        claim = idempotency.begin(conn, project, "s", "k", "hash-a", clock.now())
        assert claim.outcome is Outcome.NEW
        assert claim.key_id is not None
        idempotency.finish(conn, claim.key_id, 202, {"message_id": "m1"})
    with db.write() as conn:
        replay = idempotency.begin(conn, project, "s", "k", "hash-a", clock.now())
        conflict = idempotency.begin(conn, project, "s", "k", "hash-b", clock.now())
    assert (replay.outcome, replay.status_code, replay.response) == (
        Outcome.REPLAY,
        202,
        {"message_id": "m1"},
    )
    assert conflict.outcome is Outcome.CONFLICT


def test_keys_are_per_project_and_per_scope(
    db: Database, clock: FixedClock, project_ids: tuple[int, int]
) -> None:
    one, two = project_ids
    with db.write() as conn:
        claims = [
            idempotency.begin(conn, one, "s", "k", "h", clock.now()),
            idempotency.begin(conn, two, "s", "k", "h", clock.now()),
            idempotency.begin(conn, one, "other", "k", "h", clock.now()),
        ]
    assert [c.outcome for c in claims] == [Outcome.NEW] * 3


def test_an_unfinished_key_is_in_flight(
    db: Database, clock: FixedClock, project_ids: tuple[int, int]
) -> None:
    project, _ = project_ids
    with db.write() as conn:
        idempotency.begin(conn, project, "s", "k", "h", clock.now())
    with db.write() as conn:
        assert idempotency.begin(conn, project, "s", "k", "h", clock.now()).outcome is (
            Outcome.IN_FLIGHT
        )


def test_keys_expire_after_24_hours(
    db: Database, clock: FixedClock, project_ids: tuple[int, int]
) -> None:
    project, _ = project_ids
    with db.write() as conn:
        claim = idempotency.begin(conn, project, "s", "k", "h", clock.now())
        assert claim.key_id is not None
        idempotency.finish(conn, claim.key_id, 202, {})
    clock.advance(hours=24, seconds=1)
    with db.write() as conn:
        assert idempotency.begin(conn, project, "s", "k", "other", clock.now()).outcome is (
            Outcome.NEW
        )


def test_racing_requests_with_one_key_claim_it_once(
    db: Database, clock: FixedClock, project_ids: tuple[int, int]
) -> None:
    """Two transactions claiming the same key at once: exactly one owns it."""
    project, _ = project_ids
    outcomes: list[Outcome] = []
    barrier = threading.Barrier(2)

    def claim() -> None:
        barrier.wait()
        with db.write() as conn:
            result = idempotency.begin(conn, project, "s", "race", "h", clock.now())
            if result.outcome is Outcome.NEW and result.key_id is not None:
                idempotency.finish(conn, result.key_id, 202, {"ok": True})
            outcomes.append(result.outcome)

    threads = [threading.Thread(target=claim) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(o.value for o in outcomes) in (
        ["new", "replay"],  # the second waited for the first, then replayed it
        ["in_flight", "new"],
    )
