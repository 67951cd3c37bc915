"""Accounts over the JSON API: everyone changes their own password and ends their other sessions; admins list
users and tokens, disable and enable users, set passwords and revoke tokens. The rules and the audit entries
live in ``assistant.auth.Users``; these routes only map requests onto it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field

from assistant.auth import TokenInfo, UserInfo
from assistant.web.api import MAX_ID, Admin, Agent, Svc, client_address
from assistant.web.errors import AUTHENTICATED, errors

router = APIRouter(prefix="/api", tags=["accounts"], responses=AUTHENTICATED)
UserId = Annotated[int, Path(ge=1, le=MAX_ID)]
TokenId = Annotated[int, Path(ge=1, le=MAX_ID)]


class PasswordIn(BaseModel):
    password: str = Field(min_length=1, max_length=1000)


class OwnPasswordIn(BaseModel):
    current: str = Field(min_length=1, max_length=1000)
    new: str = Field(min_length=1, max_length=1000)


class Ended(BaseModel):
    ended: int


@router.put("/me/password", status_code=204,
            responses=errors((422, "current password wrong, or the new one too short"), 429))
def change_own_password(body: OwnPasswordIn, request: Request, user: Agent, services: Svc) -> None:
    """Ends every other session and revokes the user's tokens; this session stays."""
    services.users.change_own_password(user, body.current, body.new, client_address(request))


@router.delete("/me/sessions")
def end_other_sessions(user: Agent, services: Svc) -> Ended:
    return Ended(ended=services.users.end_other_sessions(user))


@router.get("/users")
def users(user: Admin, services: Svc) -> list[UserInfo]:
    return services.users.users()


@router.post("/users/{user_id}/disable", status_code=204, responses=errors(404, (409, "oneself")))
def disable(user_id: UserId, user: Admin, services: Svc) -> None:
    """Ends all the user's sessions and revokes all their tokens."""
    services.users.set_active(user_id, False, actor=user)


@router.post("/users/{user_id}/enable", status_code=204, responses=errors(404))
def enable(user_id: UserId, user: Admin, services: Svc) -> None:
    services.users.set_active(user_id, True, actor=user)


@router.put("/users/{user_id}/password", status_code=204, responses=errors(404, (422, "password too short")))
def set_password(user_id: UserId, body: PasswordIn, user: Admin, services: Svc) -> None:
    """Ends all the user's sessions and revokes their tokens (the admin's own current session stays)."""
    services.users.set_password(user_id, body.password, actor=user)


@router.get("/tokens")
def tokens(user: Admin, services: Svc) -> list[TokenInfo]:
    return services.users.tokens()


@router.post("/tokens/{token_id}/revoke", responses=errors(404))
def revoke(token_id: TokenId, user: Admin, services: Svc) -> TokenInfo:
    return services.users.revoke_token(token_id, actor=user)
