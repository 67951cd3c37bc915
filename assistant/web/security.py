"""Who is calling: a personal API token (``Authorization: Bearer``) or a browser session cookie. One role
check for both, as a dependency: ``Depends(require("expert"))``. Deny by default.

A change by cookie needs the CSRF token and must not come from a page of another host (``Origin``, else
``Referer``). Over HTTPS (``secure_cookies``) the cookie is ``__Host-kontor_session``: Secure, Path=/, no
Domain, so neither a plain-http page nor a sibling subdomain can plant or overwrite it. ``make run`` and the
tests speak plain http on loopback, where browsers and HTTP clients may drop a Secure cookie: there it is
``kontor_session`` without Secure (production refuses that setting).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from urllib.parse import urlsplit

from fastapi import HTTPException, Request

from assistant.auth import AuthError, Principal, Role

SESSION_COOKIE = "kontor_session"
SECURE_SESSION_COOKIE = "__Host-kontor_session"
CSRF_HEADER = "X-CSRF-Token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def cookie_name(request: Request) -> str:
    return SECURE_SESSION_COOKIE if request.app.state.services.settings.secure_cookies else SESSION_COOKIE


def same_origin(request: Request) -> None:
    """Refuse a request whose page is on another host. Browsers send ``Origin`` with every POST/PUT/PATCH/DELETE
    (``null`` from sandboxed frames and some redirects: refused too); without it, ``Referer`` decides; without
    either (very old browsers, some privacy tools) the CSRF token alone does."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if source is not None and not _same_host(source, request.headers.get("host", "")):
        raise HTTPException(403, "Anfrage von einer fremden Seite abgelehnt")


def _same_host(url: str, host: str) -> bool:
    """``url``'s host and port against the ``Host`` header. A Host without port may be either default port
    (behind a TLS proxy the scheme the server sees is not the browser's)."""
    try:
        source, ours = urlsplit(url), urlsplit("//" + host)
        port, our_port = source.port or {"http": 80, "https": 443}.get(source.scheme), ours.port
    except ValueError:  # a port that is no number
        return False
    if source.scheme not in ("http", "https") or not source.hostname or source.hostname != ours.hostname:
        return False
    return port == our_port if our_port is not None else port in (80, 443)


def principal(request: Request) -> Principal:
    users = request.app.state.services.users
    header = request.headers.get("Authorization", "")
    try:
        if header:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise AuthError("Authorization: Bearer <token> erwartet")
            return users.by_token(token.strip())
        cookie = request.cookies.get(cookie_name(request))
        if not cookie:
            raise AuthError("Bitte anmelden")
        user: Principal = users.by_session(cookie)
    except AuthError as exc:
        raise HTTPException(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None
    if request.method in _SAFE_METHODS:
        return user
    same_origin(request)  # a script cannot forge Origin, and the browser attaches the cookie from any site
    sent = request.headers.get(CSRF_HEADER, "")
    if not secrets.compare_digest(sent, user.csrf_token or ""):
        # a cookie alone is sent by the browser to any site's form; the token proves it is our page
        raise HTTPException(403, "CSRF-Token fehlt oder ist falsch")
    return user


def require(role: Role) -> Callable[[Request], Principal]:
    def check(request: Request) -> Principal:
        user = principal(request)
        if not user.has_role(role):
            raise HTTPException(403, f"Dafür braucht es die Rolle '{role}'")
        return user

    return check
