"""The layer order (docs/architecture.md), enforced: every import of the package's own modules,
type-only and function-local ones included, goes down the layers, never up or across.

    cli, __main__          entry points: may import anything
    app                    the composition root: anything but the entry points
    web | smtp | workers   adapters: service and below (workers may use smtp's sender)
    service                use cases: store and below
    store                  the database: core only
    config, clock, memory  foundations: core only
    core                   pure: nothing of ours
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "mailbeacon"
BASE = {"core"}
FOUNDATIONS = BASE | {"config", "clock", "memory"}
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "clock": set(),
    "memory": set(),
    "gc_tuning": set(),
    "parent_death": set(),
    "supervisor": set(),
    "config": BASE,
    "store": BASE,
    "service": FOUNDATIONS | {"store"},
    "web": FOUNDATIONS | {"store", "service"},
    "smtp": FOUNDATIONS | {"store", "service"},
    "workers": FOUNDATIONS | {"store", "service", "smtp"},
    "app": FOUNDATIONS
    | {"store", "service", "web", "smtp", "workers", "gc_tuning", "parent_death", "supervisor"},
    "__init__": BASE,
}
ENTRY_POINTS = {"cli", "__main__"}


def _layer(path: Path, root: Path = SRC) -> str:
    return path.relative_to(root).parts[0].removesuffix(".py")


def _imports(path: Path, root: Path = SRC) -> list[tuple[int, str]]:
    """(line, module) for every import of mailbeacon's own modules in ``path``."""
    package = list(path.relative_to(root.parent).with_suffix("").parts)
    if package[-1] == "__init__":
        package.pop()
    else:
        package = package[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
                names = [f"{target}.{alias.name}" for alias in node.names]
            else:
                target, names = node.module or "", []
            found += [(node.lineno, name) for name in [target, *names]]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
    return [(line, name) for line, name in found if name.split(".")[0] == "mailbeacon"]


def _layer_of(module: str) -> str | None:
    parts = module.split(".")
    if len(parts) == 1:
        return None  # the package itself (``from . import x`` names x too)
    candidate = parts[1]
    if (SRC / candidate).is_dir() or (SRC / f"{candidate}.py").exists():
        return candidate
    return None  # a name imported from the package's __init__: judged as that name


MODULES = sorted(p for p in SRC.rglob("*.py") if "migrations" not in p.parts)


def _climbs(path: Path, root: Path = SRC) -> list[str]:
    """The imports of ``path`` that go up or across the layers."""
    layer = _layer(path, root)
    if layer in ENTRY_POINTS:
        return []
    assert layer in ALLOWED, f"{layer} is not in the layer table: place it"
    return [
        f"line {line}: {module}"
        for line, module in _imports(path, root)
        if (target := _layer_of(module)) is not None
        and target != layer
        and target not in ALLOWED[layer]
    ]


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_imports_go_down_the_layers(path: Path) -> None:
    wrong = _climbs(path)
    assert not wrong, f"{path.relative_to(SRC)} imports above or across: {wrong}"


def test_only_entry_points_import_the_composition_root() -> None:
    importers = [
        str(path.relative_to(SRC))
        for path in MODULES
        if _layer(path) not in ENTRY_POINTS
        and _layer(path) != "app"
        and any(module.startswith("mailbeacon.app") for _, module in _imports(path))
    ]
    assert importers == []


def test_the_layer_check_sees_a_climb(tmp_path: Path) -> None:
    """The check itself: a type-only import of the composition root from a worker, and a
    store module reaching for the service layer, are both found."""
    root = tmp_path / "mailbeacon"
    (root / "workers").mkdir(parents=True)
    (root / "store").mkdir()
    worker = root / "workers" / "probe.py"
    worker.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..app import Services\n"
    )
    store = root / "store" / "probe.py"
    store.write_text("def f() -> None:\n    from ..service import events\n")
    assert _climbs(worker, root) == ["line 3: mailbeacon.app", "line 3: mailbeacon.app.Services"]
    assert _climbs(store, root) == [
        "line 2: mailbeacon.service",
        "line 2: mailbeacon.service.events",
    ]
