"""The low-level rules behind ``deps.principal``: the session cookie's name, where a change may come from, the CSRF
token. A change by cookie needs the CSRF token and must not come from a page of another host (``Origin``, else
``Referer``). Over HTTPS (``secure_cookies``) the cookie is ``__Host-kontor_session``: Secure, Path=/, no
Domain, so neither a plain-http page nor a sibling subdomain can plant or overwrite it. ``make run`` and the
tests speak plain http on loopback, where browsers and HTTP clients may drop a Secure cookie: there it is
``kontor_session`` without Secure (production refuses that setting).
"""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from fastapi import HTTPException, Request

from assistant.auth import Principal
from assistant.config import Settings

SESSION_COOKIE = "kontor_session"
SECURE_SESSION_COOKIE = "__Host-kontor_session"
CSRF_HEADER = "X-CSRF-Token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def cookie_name(settings: Settings) -> str:
    return SECURE_SESSION_COOKIE if settings.web.secure_cookies else SESSION_COOKIE


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


def check_csrf(request: Request, user: Principal) -> None:
    """A change by session cookie: from a page of this host, with the session's CSRF token (403 otherwise)."""
    if request.method in _SAFE_METHODS:
        return
    same_origin(request)  # a script cannot forge Origin, and the browser attaches the cookie from any site
    sent = request.headers.get(CSRF_HEADER, "")
    if not secrets.compare_digest(sent, user.csrf_token or ""):
        # a cookie alone is sent by the browser to any site's form; the token proves it is our page
        raise HTTPException(403, "CSRF-Token fehlt oder ist falsch")
