"""CSRF protection of the web forms.

Signed in: every POST form carries the session's token (hidden field `csrf`, derived from the session secret, see
sessions.py), compared in constant time. Before sign-in there is no session, so the sign-in form uses a double
submit: GET /web/signin sets a random value in an HttpOnly, SameSite=Strict cookie scoped to /web/signin and puts the
same value in the form; the POST must present both, equal. A cross-site page can make a browser post the form but
can neither read nor set that cookie, so it cannot sign a visitor into its own workspace (login CSRF)."""

from __future__ import annotations

import secrets

from cliply.web.sessions import same

FIELD = "csrf"
SIGNIN_COOKIE = "cliply_signin"
SIGNIN_PATH = "/web/signin"
SIGNIN_MAX_AGE_S = 3600
MAX_TOKEN_CHARS = 128


def well_formed(value: str | None) -> bool:
    return bool(value) and len(value or "") <= MAX_TOKEN_CHARS and (value or "").isascii()


def signin_token(cookie: str | None) -> str:
    """The double-submit value for the sign-in form: the browser's current one when well formed, else a new one."""
    return cookie if cookie is not None and well_formed(cookie) and len(cookie) >= 32 else secrets.token_urlsafe(32)


def matches(expected: str | None, given: str | None) -> bool:
    """The form's token equals the expected one (constant time); missing or malformed on either side: no."""
    if not well_formed(expected) or not well_formed(given):
        return False
    return same(expected or "", given or "")
