"""The routes' dependencies, declared once: the services, who is calling in which role, the app's background work.

Who is calling: ``principal`` finds the user from a personal API token (``Authorization: Bearer``) or the browser
session cookie, with the CSRF and origin checks for a change by cookie (``assistant.web.security``). Deny by
default; the role check is a type in the route's signature, per face:

- the JSON API: ``AgentUser``, ``ExpertUser``, ``AdminUser`` – 401 without a login, 403 without the role;
- the pages (the session cookie only): ``AgentPage``, ``ExpertPage``, ``AdminPage`` – the login page without a
  login, a German 403 page without the role (``LoginRequired``, ``PageForbidden``; handled in ``routes/pages``).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi import Path as FastApiPath
from pydantic import BeforeValidator

from assistant.auth import AuthError, Principal, Role
from assistant.models import ModelError
from assistant.progress import BackgroundWork
from assistant.services import Services
from assistant.web.security import check_csrf, cookie_name

MAX_ID = 2**31 - 1  # larger ids would overflow the database's integer (the review got 500s for ids ≥ 2^63)


def _written_as(form: str, what: str) -> BeforeValidator:
    """A query value accepted only as the spec writes it: pydantic's lax mode would take "1.2e-38" as a day (a Unix
    time) or "0" as false, values the OpenAPI document calls invalid (the fuzzer found the day, by chance)."""
    pattern = re.compile(form)

    def check(value: object) -> object:
        if isinstance(value, str) and not pattern.fullmatch(value):
            raise ValueError(f"erwartet: {what}")
        return value

    return BeforeValidator(check)


ISO_DAY = _written_as(r"\d{4}-\d{2}-\d{2}", "ein Tag als JJJJ-MM-TT")
TRUE_OR_FALSE = _written_as(r"true|false", "true oder false")
Id = Annotated[int, FastApiPath(ge=1, le=MAX_ID)]


# --- what create_app puts on app.state ------------------------------------------------------------------------

def _services(request: Request) -> Services:
    return request.app.state.services


def _background(request: Request) -> BackgroundWork:
    return request.app.state.background


def _prompt_writes(request: Request) -> threading.Lock:
    return request.app.state.prompt_writes


Svc = Annotated[Services, Depends(_services)]
Bg = Annotated[BackgroundWork, Depends(_background)]  # progress of re-indexing and evaluations; the index lock
PromptWrites = Annotated[threading.Lock, Depends(_prompt_writes)]  # numbering a version and writing labels


def _client_address(request: Request) -> str:
    return request.client.host if request.client else ""


ClientAddress = Annotated[str, Depends(_client_address)]  # for login throttling


# --- who is calling ---------------------------------------------------------------------------------------------

def principal(request: Request, services: Services, tokens: bool = True) -> Principal:
    """The user of this request: by API token (when ``tokens``) or by session cookie; AuthError when neither
    names an active user. A change by cookie must come from our own pages (HTTPException 403 otherwise)."""
    header = request.headers.get("Authorization", "") if tokens else ""
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("Authorization: Bearer <token> erwartet")
        return services.users.by_token(token.strip())
    cookie = request.cookies.get(cookie_name(services.settings))
    if not cookie:
        raise AuthError("Bitte anmelden")
    user: Principal = services.users.by_session(cookie)
    check_csrf(request, user)
    return user


def _api_user(role: Role) -> Callable[[Request, Services], Principal]:
    def check(request: Request, services: Svc) -> Principal:
        try:
            user = principal(request, services)
        except AuthError as exc:
            raise HTTPException(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None
        if not user.has_role(role):
            raise HTTPException(403, f"Dafür braucht es die Rolle '{role}'")
        return user

    return check


class LoginRequired(Exception):
    """A page without a login: answered with the login page, which leads back to ``next_url``."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


class PageForbidden(Exception):
    """A page without the role: answered with a German 403 page."""

    def __init__(self, role: str) -> None:
        self.role = role


def _page_user(role: Role) -> Callable[[Request, Services], Principal]:
    def check(request: Request, services: Svc) -> Principal:
        try:
            user = principal(request, services, tokens=False)  # pages are for browsers: the session cookie only
        except AuthError:
            raise LoginRequired(str(request.url.path)) from None
        if not user.has_role(role):
            raise PageForbidden(role)
        return user

    return check


AgentUser = Annotated[Principal, Depends(_api_user("agent"))]
ExpertUser = Annotated[Principal, Depends(_api_user("expert"))]
AdminUser = Annotated[Principal, Depends(_api_user("admin"))]
AgentPage = Annotated[Principal, Depends(_page_user("agent"))]
ExpertPage = Annotated[Principal, Depends(_page_user("expert"))]
AdminPage = Annotated[Principal, Depends(_page_user("admin"))]


# --- preconditions ------------------------------------------------------------------------------------------------

def _model_ready(services: Svc) -> None:
    """Drafting needs the registered model file: a missing or changed one is a 503 with the reason, up front."""
    if problem := services.model_problem():
        raise ModelError(f"Entwürfe sind zurzeit nicht möglich: {problem}. Bitte die Administration informieren.")


ModelReady = Annotated[None, Depends(_model_ready)]
