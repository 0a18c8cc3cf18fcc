"""``mailbeacon project``: create and list projects (with their teams and tokens)."""

from __future__ import annotations

import argparse
import json
import secrets
import shlex
import sys
from pathlib import Path
from typing import Any

from ..clock import SystemClock
from ..core.errors import CommandError, Refused
from ..service import accounts, projects
from ..store import tenancy
from ..store.db import Database
from .command import settings_and_database

DEMO_EMAIL = "demo@example.com"


def _demo_user(db: Database, demo: dict[str, Any]) -> str:
    """The demo team's dashboard user: demo@example.com, or, when a demo of an earlier state
    file has it already (var/demo.json deleted, the database kept), one named after the
    project."""
    for email in (DEMO_EMAIL, f"demo-{demo['sid']}@example.com"):
        try:
            accounts.add_user(
                db, demo["team_token"], email, demo["dashboard_password"], SystemClock().now()
            )
        except Refused as exc:
            if exc.code != "email_taken":
                raise
            continue
        return email
    raise CommandError("the demo's dashboard users exist already: delete the database")


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser("project", help="manage projects")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser(
        "create",
        help="create a project and print its tokens (shown once)",
        description="Create a project with the default route 'outgoing'. Without "
        "--team-token it gets a new team of its own, whose team token is printed too.",
    )
    create.add_argument("name")
    create.add_argument("--team-token", help="add the project to this team instead")
    create.add_argument("--json", action="store_true", help="print JSON")
    create.set_defaults(run=run_create)
    listing = actions.add_parser("list", help="list projects")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(run=run_list)
    demo = actions.add_parser(
        "demo",
        help="create the demo project once and print how to use it (make run)",
    )
    demo.add_argument("--state", default="var/demo.json", help="where its tokens are kept")
    demo.set_defaults(run=run_demo)


def create_project(db: Database, name: str, team_token: str | None) -> dict[str, Any]:
    if not name.strip() or len(name) > 255:
        raise CommandError("a project name is 1 to 255 characters")
    # A refusal (an unknown team token) is a MailbeaconError: main() prints it, exit 2.
    created = projects.create_project(db, name, SystemClock().now(), team_token=team_token)
    return {
        "id": created.project.public_id,
        "sid": created.project.sid,
        "name": created.project.name,
        "team_id": created.team.public_id,
        "sending_token": created.sending_token,
        "team_token": created.team_token,
    }


def run_create(args: argparse.Namespace) -> int:
    _, db = settings_and_database()
    try:
        created = create_project(db, args.name, args.team_token)
    finally:
        db.dispose()
    if args.json:
        print(json.dumps(created, indent=2))
        return 0
    print(f"project        {created['name']}")
    print(f"id             {created['id']}")
    print(f"short id       {created['sid']}")
    print(f"sending token  {created['sending_token']}   (shown once)")
    if created["team_token"]:
        print(f"team token     {created['team_token']}   (shown once)")
    return 0


def run_list(args: argparse.Namespace) -> int:
    _, db = settings_and_database()
    try:
        with db.read() as conn:
            found = tenancy.list_projects(conn)
    finally:
        db.dispose()
    rows = [
        {"id": p.public_id, "sid": p.sid, "name": p.name, "created_at": p.created_at.isoformat()}
        for p in found
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
    elif not rows:
        print("no projects yet: mailbeacon project create NAME", file=sys.stderr)
    else:
        for row in rows:
            print(f"{row['id']}  {row['sid']:10}  {row['name']}")
    return 0


def run_demo(args: argparse.Namespace) -> int:
    settings, db = settings_and_database()
    state = Path(args.state)
    try:
        demo = json.loads(state.read_text()) if state.exists() else create_project(db, "Demo", None)
        if "dashboard_password" not in demo:  # a state file from before the dashboard too
            demo["dashboard_password"] = secrets.token_urlsafe(12)
            demo["dashboard_email"] = _demo_user(db, demo)
            state.parent.mkdir(parents=True, exist_ok=True)
            state.write_text(json.dumps(demo, indent=2))
            state.chmod(0o600)
    finally:
        db.dispose()
    base = f"http://{settings.host}:{settings.port}"
    body = json.dumps(
        {
            "from": "Demo <demo@example.com>",
            "to": ["you@example.com"],
            "subject": "Hello from mailbeacon",
            "html": '<p>Hi! <a href="https://example.com/welcome">Open the welcome page</a></p>',
        }
    )
    print(
        f"""
mailbeacon demo project (tokens kept in {state})
  sending token  {demo["sending_token"]}
  team token     {demo["team_token"]}

Send an email:
  curl -s {base}/v1/send -H 'x-lettermint-token: {demo["sending_token"]}' \\
       -H 'content-type: application/json' -d {shlex.quote(body)}
Read the captured copy (tracked links and pixel) of the message_id it returns:
  curl -s {base}/v1/messages/MESSAGE_ID/html -H 'authorization: Bearer {demo["team_token"]}'
See its events after clicking a link:
  curl -s {base}/v1/messages/MESSAGE_ID/events -H 'authorization: Bearer {demo["team_token"]}'
API docs: {base}/docs

Dashboard: {base}/dashboard/
  sign in as     {demo["dashboard_email"]}
  password       {demo["dashboard_password"]}
""",
        file=sys.stderr,
    )
    return 0
