"""CSRF: every form carries a token, and a POST without the right one is refused (403).

Signed in, the token is the session's (synchroniser pattern: stored with the session, never
in a cookie script can read). The sign-in form has no session yet: it uses a double-submit
cookie, a random value set with the form and posted back in it, which another site can
neither read nor set.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import Depends, Form, Request
from starlette.exceptions import HTTPException

from ...store.accounts import SessionRow

__all__ = ["LOGIN_COOKIE", "Checked", "checked", "new_login_token", "require_login_token"]

LOGIN_COOKIE = "mb_login_csrf"


def _same(given: str, expected: str) -> bool:
    return bool(given) and hmac.compare_digest(given.encode(), expected.encode())


def checked(request: Request, csrf: Annotated[str, Form()] = "") -> SessionRow:
    """A dependency of every signed-in POST: the viewer, once the form's token matches."""
    viewer: SessionRow | None = request.state.viewer
    if viewer is None or not _same(csrf, viewer.csrf_token):
        raise HTTPException(403, "This form has expired or did not come from this site.")
    return viewer


def new_login_token() -> str:
    return secrets.token_urlsafe(24)


def require_login_token(request: Request, csrf: str) -> None:
    if not _same(csrf, request.cookies.get(LOGIN_COOKIE, "")):
        raise HTTPException(403, "This form has expired or did not come from this site.")


Checked = Annotated[SessionRow, Depends(checked)]
