"""Sessions, CSRF and who is logged in.

The session is Starlette's SessionMiddleware: a cookie signed with itsdangerous (HttpOnly always; SameSite=Strict
and Secure set by :func:`session_middleware`). It holds the API's own bearer token (made by the API's
``POST /auth/token``, so log-in is the API's argon2 check), a CSRF token and the time of the last request.
CSRF: a per-session random token, put in every form as ``csrf`` and compared (constant time) on every POST by
:func:`check_csrf`, an app-wide dependency; SameSite=Strict is the second line.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware

from api.auth import Principal

COOKIE = "esup_console"


@dataclass(frozen=True)
class SessionConfig:
    """The session cookie's settings: signing secret, Secure flag and idle limit in seconds."""

    secret: str  # signs the cookie
    secure: bool = True  # Secure cookies: only over https (dev http on loopback turns it off)
    idle_s: int = 30 * 60  # a session unused this long is over


class LoginRequired(Exception):
    """No session, an expired one, or a token the API no longer accepts: go to the log-in page."""


class Forbidden(Exception):
    """Logged in, but not allowed to see or do this (another department, region or role)."""


class CsrfRejected(Exception):
    """A POST whose form ``csrf`` does not match the session's: refused with an error page."""

    pass


def session_middleware(cfg: SessionConfig) -> Middleware:
    """The signed-cookie session middleware; its max age is the idle limit, renewed with every answer."""
    # max_age renews with every answer (the cookie is re-signed), so it is the idle limit as well.
    return Middleware(
        SessionMiddleware,
        secret_key=cfg.secret,
        session_cookie=COOKIE,
        max_age=cfg.idle_s,
        same_site="strict",
        https_only=cfg.secure,
    )


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use (the log-in page makes one for the anonymous session)."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


async def check_csrf(request: Request) -> None:
    """On every POST: the form's ``csrf`` equals the session's (both present); else the request is refused."""
    if request.method != "POST":
        return
    form = await request.form()  # Starlette caches it: the endpoint reads the same form
    sent, want = form.get("csrf"), request.session.get("csrf")
    if not (isinstance(sent, str) and isinstance(want, str) and hmac.compare_digest(sent, want)):
        raise CsrfRejected()


def start(request: Request, token: str, now_s: float) -> None:
    """A fresh session after log-in (a new CSRF token too: nothing from before the log-in carries over)."""
    request.session.clear()
    request.session.update({"token": token, "seen": now_s, "csrf": secrets.token_urlsafe(32)})


def current(request: Request, auth: Any, now: Any, idle_s: int) -> Principal:
    """The logged-in principal, or LoginRequired (no token, idle too long, or expired/unknown to the API)."""
    token, seen = request.session.get("token"), request.session.get("seen")
    t = now()
    if not isinstance(token, str) or not isinstance(seen, int | float) or t.timestamp() - seen > idle_s:
        request.session.pop("token", None)
        raise LoginRequired()
    who: Principal | None = auth.verify(token, t)
    if who is None:
        request.session.pop("token", None)
        raise LoginRequired()
    request.session["seen"] = t.timestamp()
    request.state.principal = who
    return who
