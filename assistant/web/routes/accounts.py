"""The session (log in and out by browser) and accounts: everyone sees themselves, changes their own password and
ends their other sessions; admins list, add and disable or enable users, change their role and team, set
passwords, and create and revoke tokens. The rules and the audit entries live in ``assistant.auth.Users``; these
routes only map requests onto it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response

from assistant.auth import TokenInfo, UserInfo
from assistant.web.deps import MAX_ID, AdminUser, AgentUser, ClientAddress, Svc
from assistant.web.errors import AUTHENTICATED, errors
from assistant.web.schemas import (
    Ended,
    Login,
    Me,
    NewToken,
    OwnPasswordIn,
    PasswordIn,
    RoleIn,
    Session,
    TeamIn,
    Teams,
    TokenIn,
    UserIn,
)
from assistant.web.security import cookie_name, same_origin

router = APIRouter(prefix="/api", responses=AUTHENTICATED)
UserId = Annotated[int, Path(ge=1, le=MAX_ID)]
TokenId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.post("/session", tags=["session"], responses=errors(429),
             dependencies=[Depends(same_origin)])  # no logging in from other sites
def login(body: Login, response: Response, services: Svc, address: ClientAddress) -> Session:
    user = services.users.authenticate(body.name, body.password, address)
    secret, csrf = services.users.start_session(user)
    # Strict: no other site's link or form carries it; Secure (and the __Host- name) over HTTPS
    response.set_cookie(cookie_name(services.settings), secret, httponly=True, samesite="strict", path="/",
                        secure=services.settings.web.secure_cookies, max_age=12 * 3600)
    return Session(name=user.name, role=user.role, csrf_token=csrf)


@router.delete("/session", tags=["session"], status_code=204)
def logout(request: Request, response: Response, services: Svc, user: AgentUser) -> None:
    name = cookie_name(services.settings)
    if cookie := request.cookies.get(name):
        services.users.end_session(cookie)
    response.delete_cookie(name, path="/", secure=services.settings.web.secure_cookies, httponly=True,
                           samesite="strict")


@router.get("/me", tags=["session"])
def me(user: AgentUser) -> Me:
    return Me(name=user.name, role=user.role)


@router.put("/me/password", status_code=204, tags=["accounts"],
            responses=errors((422, "current password wrong, or the new one too short"), 429))
def change_own_password(body: OwnPasswordIn, user: AgentUser, services: Svc, address: ClientAddress) -> None:
    """Ends every other session and revokes the user's tokens; this session stays."""
    services.users.change_own_password(user, body.current, body.new, address)


@router.delete("/me/sessions", tags=["accounts"])
def end_other_sessions(user: AgentUser, services: Svc) -> Ended:
    return Ended(ended=services.users.end_other_sessions(user))


@router.get("/users", tags=["accounts"])
def users(user: AdminUser, services: Svc) -> list[UserInfo]:
    return services.users.users()


@router.post("/users", status_code=201, tags=["accounts"],
             responses=errors((409, "the name is taken"), (422, "name, role, team or password invalid")))
def add_user(body: UserIn, user: AdminUser, services: Svc) -> UserInfo:
    added = services.users.add(body.name, body.role, body.password, team=body.team,
                               teams=services.routing.teams(), actor=user)
    return services.users.user(added.id)


@router.put("/users/{user_id}/role", tags=["accounts"],
            responses=errors(404, (409, "one's own role, or the last active admin's")))
def set_role(user_id: UserId, body: RoleIn, user: AdminUser, services: Svc) -> UserInfo:
    """Takes effect with the user's next request (sessions and tokens stay)."""
    services.users.set_role(user_id, body.role, actor=user)
    return services.users.user(user_id)


@router.put("/users/{user_id}/team", tags=["accounts"], responses=errors(404, (422, "no such team")))
def set_team(user_id: UserId, body: TeamIn, user: AdminUser, services: Svc) -> UserInfo:
    services.users.set_team(user_id, body.team, teams=services.routing.teams(), actor=user)
    return services.users.user(user_id)


@router.get("/teams", tags=["accounts"])
def teams(user: AgentUser, services: Svc) -> Teams:
    return Teams(teams=services.routing.teams())


@router.post("/users/{user_id}/disable", status_code=204, tags=["accounts"],
             responses=errors(404, (409, "oneself, or the last active admin")))
def disable(user_id: UserId, user: AdminUser, services: Svc) -> None:
    """Ends all the user's sessions and revokes all their tokens."""
    services.users.set_active(user_id, False, actor=user)


@router.post("/users/{user_id}/enable", status_code=204, tags=["accounts"], responses=errors(404))
def enable(user_id: UserId, user: AdminUser, services: Svc) -> None:
    services.users.set_active(user_id, True, actor=user)


@router.put("/users/{user_id}/password", status_code=204, tags=["accounts"],
            responses=errors(404, (422, "password too short")))
def set_password(user_id: UserId, body: PasswordIn, user: AdminUser, services: Svc) -> None:
    """Ends all the user's sessions and revokes their tokens (the admin's own current session stays)."""
    services.users.set_password(user_id, body.password, actor=user)


@router.get("/tokens", tags=["accounts"])
def tokens(user: AdminUser, services: Svc) -> list[TokenInfo]:
    return services.users.tokens()


@router.post("/users/{user_id}/tokens", status_code=201, tags=["accounts"],
             responses=errors(404, (409, "the user is disabled"), (422, "label or days invalid")))
def create_token(user_id: UserId, body: TokenIn, user: AdminUser, services: Svc) -> NewToken:
    """A personal API token for the user; the token is in this answer only (stored as its hash)."""
    token, info = services.users.issue_token(user_id, body.label, body.days, actor=user)
    return NewToken(token=token, info=info)


@router.post("/tokens/{token_id}/revoke", tags=["accounts"], responses=errors(404))
def revoke(token_id: TokenId, user: AdminUser, services: Svc) -> TokenInfo:
    return services.users.revoke_token(token_id, actor=user)
