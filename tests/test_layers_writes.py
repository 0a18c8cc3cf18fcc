"""Writes go through service/; the entry points (web/, cli/, smtp/) may only read.

docs/architecture.md: an endpoint, a command or the relay validates, calls one service
function and shapes its answer. A write transaction opened in an entry point is a use case
living in the wrong layer, where the other entry points cannot reuse its rules. Reads
(``db.read()``) stay allowed. The check parses the modules (ast), so comments and strings do
not count and any spelling of the receiver (``db``, ``services.db``,
``services_of(request).db``, ``self.services.db``) does.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import mailbeacon

PACKAGE = Path(mailbeacon.__file__).parent
ENTRY_POINTS = ("web", "cli", "smtp")


def _names_a_database(node: ast.expr) -> bool:
    """``db``, ``database``, ``something.db``, ``self._db``...: the receiver of ``.write()``."""
    name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", None)
    return isinstance(name, str) and name.lstrip("_").lower() in ("db", "database")


def database_writes(source: str) -> list[int]:
    """The lines of ``source`` that open a write transaction on a database."""
    return [
        node.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "write"
        and _names_a_database(node.func.value)
    ]


def _modules() -> list[Path]:
    return sorted(p for part in ENTRY_POINTS for p in (PACKAGE / part).rglob("*.py"))


def test_the_entry_points_exist() -> None:
    """A moved package must not make the check below pass by finding nothing."""
    found = {p.relative_to(PACKAGE).parts[0] for p in _modules()}
    assert found == set(ENTRY_POINTS)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_entry_points_do_not_open_write_transactions(path: Path) -> None:
    lines = database_writes(path.read_text())
    assert not lines, (
        f"{path.relative_to(PACKAGE)} opens a write transaction at line(s) {lines}: "
        "move the write into a service/ function and call that"
    )


@pytest.mark.parametrize(
    "source",
    [
        "with services.db.write() as conn: pass",  # what web/lettermint/team.py did
        "with services_of(request).db.write() as conn: pass",  # webhooks.py's delete
        "with db.write() as conn: pass",  # cli/project.py, cli/data.py
        "with self.services.db.write() as conn: pass",
        "with self._db.write() as conn: pass",
    ],
)
def test_the_check_sees_every_spelling_of_a_write(source: str) -> None:
    assert database_writes(source) == [1]


@pytest.mark.parametrize(
    "source",
    [
        "with services.db.read() as conn: pass",
        "sys.stdout.write('x')",
        "path.write_text('x')",
        "text = 'db.write()'  # and in a comment: db.write()",
    ],
)
def test_reads_and_other_writes_pass(source: str) -> None:
    assert database_writes(source) == []
