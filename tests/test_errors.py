"""One exception tree: every error class lives in core/errors.py, and the tree holds together.

The first test reads the source (``ast``), so it catches an error class in a module no test
imports; the others import core/errors.py and check what the JSON APIs and the CLI rely on.
"""

from __future__ import annotations

import ast
import builtins
import errno
import inspect
import re
from pathlib import Path

import mailbeacon
from mailbeacon.core import errors

PACKAGE = Path(mailbeacon.__file__).parent
HOME = PACKAGE / "core" / "errors.py"

# A base that makes a class an error: a built-in exception, one of the tree's classes, or
# anything named like an error (a class of another library's, say).
_BUILTIN_ERRORS = {
    name
    for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, BaseException)
}
_ERROR_NAME = re.compile(r"(Error|Exception)$")


def _public_errors() -> list[type[BaseException]]:
    return [
        value
        for name, value in vars(errors).items()
        if not name.startswith("_")
        and isinstance(value, type)
        and issubclass(value, BaseException)
        and value.__module__ == errors.__name__
    ]


def _base_name(base: ast.expr) -> str | None:
    if isinstance(base, ast.Name):
        return base.id
    if isinstance(base, ast.Attribute):
        return base.attr
    return None


def _is_error(node: ast.ClassDef, known: set[str]) -> bool:
    if _ERROR_NAME.search(node.name):
        return True
    names = {_base_name(base) for base in node.bases}
    return any(name is not None and (name in known or _ERROR_NAME.search(name)) for name in names)


def test_every_error_class_is_defined_in_core_errors() -> None:
    known = _BUILTIN_ERRORS | {cls.__name__ for cls in _public_errors()} | {"MailbeaconError"}
    strays = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == HOME:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            # Private classes are internal control flow (workers/promoter.py's _Stale).
            private = isinstance(node, ast.ClassDef) and node.name.startswith("_")
            if isinstance(node, ast.ClassDef) and not private and _is_error(node, known):
                strays.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name}")
    assert strays == [], "error classes outside core/errors.py: " + ", ".join(strays)


def test_every_public_exception_is_a_mailbeacon_error() -> None:
    found = _public_errors()
    assert errors.ApiError in found  # the walk sees the tree at all
    for cls in found:
        assert issubclass(cls, errors.MailbeaconError), cls.__name__
        assert cls.__name__ in errors.__all__, cls.__name__


def test_the_docstring_draws_every_public_exception() -> None:
    drawing = errors.__doc__ or ""
    for cls in _public_errors():
        assert re.search(rf"\b{cls.__name__}\b", drawing), cls.__name__


def _subclasses(cls: type[errors.ApiError]) -> list[type[errors.ApiError]]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


# answers that are not the client's fault: the service is away for a while
SERVER_SIDE = {errors.DatabaseUnavailable: 503}


def test_every_api_error_subclass_knows_its_client_status_and_code() -> None:
    subclasses = _subclasses(errors.ApiError)
    assert errors.DomainClaimed in subclasses
    for cls in subclasses:
        status = getattr(cls, "status", None)
        code = getattr(cls, "code", None)
        assert isinstance(status, int), cls.__name__
        if cls in SERVER_SIDE:
            assert status == SERVER_SIDE[cls], cls.__name__
        else:
            assert 400 <= status <= 499, cls.__name__
        assert isinstance(code, str), cls.__name__
        assert code, cls.__name__


def test_an_instance_answers_with_its_class_status_code_errors_and_headers() -> None:
    unknown = errors.UnknownRoute("No such route.", field="route")
    assert (unknown.status, unknown.code, unknown.errors) == (
        422,
        "route_not_found",
        {"route": ["No such route."]},
    )
    busy = errors.IdempotencyInFlight("Still running.")
    assert (busy.status, busy.code, busy.errors, busy.headers) == (
        409,
        "idempotency_in_progress",
        None,
        {"Retry-After": "1"},
    )
    claimed = errors.DomainClaimed("Taken.", domain="t.example.com")
    assert (claimed.status, claimed.code, claimed.errors, claimed.domain) == (
        409,
        "conflict",
        None,
        "t.example.com",
    )
    invalid = errors.SubmissionError({"to": ["The to field is required."]})
    assert (invalid.status, invalid.message, invalid.errors) == (
        422,
        "The to field is required.",
        {"to": ["The to field is required."]},
    )


def test_address_refused_is_still_a_permission_error() -> None:
    """aiohttp reports an OSError from a resolver or socket factory as a failed connection:
    the tree must not change what it sees."""
    refused = errors.AddressRefused(errors.UrlRefused("The host is private.", host="h"))
    assert isinstance(refused, PermissionError)
    assert isinstance(refused, errors.MailbeaconError)
    assert (refused.errno, refused.strerror) == (errno.EACCES, "The host is private.")
    assert str(refused) == str(PermissionError(errno.EACCES, "The host is private."))
    assert refused.reason.host == "h"


def test_core_errors_imports_the_standard_library_only() -> None:
    tree = ast.parse(inspect.getsource(errors))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0, "core/errors.py imports nothing of mailbeacon's"
            assert node.module in {"__future__", "collections.abc", "typing"}, node.module
        elif isinstance(node, ast.Import):
            assert {alias.name for alias in node.names} <= {"errno"}
