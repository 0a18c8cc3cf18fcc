"""Teams, projects, routes and tokens, on SQLite and PostgreSQL."""

from __future__ import annotations

from mailbeacon.clock import FixedClock
from mailbeacon.core.intake.policy import RouteType
from mailbeacon.store import tenancy
from mailbeacon.store.db import Database


def test_a_new_project_gets_the_outgoing_transactional_route_as_default(
    db: Database, clock: FixedClock
) -> None:
    with db.write() as conn:
        team, _ = tenancy.create_team(conn, "Acme", clock.now())
        project, token = tenancy.create_project(conn, team.id, "Shop", clock.now())
        (route,) = tenancy.list_routes(conn, project.id)
    assert (route.slug, route.route_type, route.is_default) == (
        "outgoing",
        RouteType.TRANSACTIONAL,
        True,
    )
    assert project.default_route_id == route.id
    assert route.track_opens
    assert route.track_clicks
    assert token.startswith("lm_")
    assert len(token) == 35
    assert len(project.sid) == 8


def test_tokens_are_stored_hashed_and_found_by_value(db: Database, clock: FixedClock) -> None:
    with db.write() as conn:
        team, team_token = tenancy.create_team(conn, "Acme", clock.now())
        project, sending_token = tenancy.create_project(conn, team.id, "Shop", clock.now())
    with db.read() as conn:
        stored = conn.exec_driver_sql("SELECT sending_token_hash FROM projects").scalar_one()
        assert sending_token not in stored
        assert tenancy.project_by_sending_token(conn, sending_token) == project
        assert tenancy.team_by_token(conn, team_token) == team
        assert tenancy.project_by_sending_token(conn, team_token) is None
        assert tenancy.team_by_token(conn, sending_token) is None
        assert tenancy.project_by_sending_token(conn, sending_token + "x") is None


def test_one_team_cannot_reach_another_teams_projects_or_routes(
    db: Database, clock: FixedClock
) -> None:
    with db.write() as conn:
        mine, _ = tenancy.create_team(conn, "Mine", clock.now())
        theirs, _ = tenancy.create_team(conn, "Theirs", clock.now())
        their_project, _ = tenancy.create_project(conn, theirs.id, "Theirs", clock.now())
        (their_route,) = tenancy.list_routes(conn, their_project.id)
    with db.read() as conn:
        assert tenancy.project_for_team(conn, mine.id, their_project.public_id) is None
        assert tenancy.route_for_team(conn, mine.id, their_route.public_id) is None
        assert tenancy.project_for_team(conn, theirs.id, their_project.public_id) is not None
        assert tenancy.list_projects(conn, mine.id) == []


def test_route_slugs_are_unique_per_project(db: Database, clock: FixedClock) -> None:
    with db.write() as conn:
        team, _ = tenancy.create_team(conn, "Acme", clock.now())
        project, _ = tenancy.create_project(conn, team.id, "Shop", clock.now())
        first = tenancy.create_route(
            conn, project.id, "News Letter", RouteType.BROADCAST, clock.now()
        )
        second = tenancy.create_route(
            conn, project.id, "News Letter", RouteType.BROADCAST, clock.now()
        )
        other, _ = tenancy.create_project(conn, team.id, "Other", clock.now())
        elsewhere = tenancy.create_route(
            conn, other.id, "News Letter", RouteType.BROADCAST, clock.now()
        )
    assert (first.slug, second.slug, elsewhere.slug) == (
        "news-letter",
        "news-letter-2",
        "news-letter",
    )


def test_inbound_routes_never_track(db: Database, clock: FixedClock) -> None:
    with db.write() as conn:
        team, _ = tenancy.create_team(conn, "Acme", clock.now())
        project, _ = tenancy.create_project(conn, team.id, "Shop", clock.now())
        route = tenancy.create_route(
            conn,
            project.id,
            "In",
            RouteType.INBOUND,
            clock.now(),
            track_opens=True,
            track_clicks=True,
        )
    assert not route.track_opens
    assert not route.track_clicks
