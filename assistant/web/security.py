"""Who is calling: a personal API token (``Authorization: Bearer``) or a browser session cookie. One role
check for both, as a dependency: ``Depends(require("expert"))``. Deny by default."""

from __future__ import annotations

import secrets
from collections.abc import Callable

from fastapi import HTTPException, Request

from assistant.auth import AuthError, Principal, Role

SESSION_COOKIE = "kontor_session"
CSRF_HEADER = "X-CSRF-Token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def principal(request: Request) -> Principal:
    users = request.app.state.services.users
    header = request.headers.get("Authorization", "")
    try:
        if header:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise AuthError("Authorization: Bearer <token> erwartet")
            return users.by_token(token.strip())
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            raise AuthError("Bitte anmelden")
        user: Principal = users.by_session(cookie)
    except AuthError as exc:
        raise HTTPException(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None
    sent = request.headers.get(CSRF_HEADER, "")
    if request.method not in _SAFE_METHODS and not secrets.compare_digest(sent, user.csrf_token or ""):
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
