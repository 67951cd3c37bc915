"""Users, roles, passwords, API tokens and browser sessions. One role check for every way in.

Passwords are hashed with argon2 (argon2-cffi); API tokens and session cookies are random secrets of which
only the SHA-256 is stored, so a copy of the database does not let anyone log in.

Tokens expire (``token_days``; rows from before expiry existed count from their creation). Disabling a user or
setting a password ends all of that user's browser sessions and revokes all their tokens, so a stolen session or
token dies with the change; users who change their own password keep only the session they do it in. Every
such change is audit-logged by name and id, never with a password or token.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from assistant import audit
from assistant.errors import ConflictError, InputError, KontorError, NotFoundError
from assistant.store.db import Database
from assistant.store.tables import ApiToken, BrowserSession, User

Role = Literal["agent", "expert", "admin"]
ROLES: tuple[Role, ...] = ("agent", "expert", "admin")  # each includes the rights of the ones before it
SESSION_HOURS = 12
TOKEN_DAYS = 90
_HASHER = PasswordHasher()
_DUMMY_HASH = _HASHER.hash("kontor-no-such-user")  # unknown names cost as much time as known ones


class AuthError(KontorError, ValueError):
    """Unknown user, wrong password, bad token: deliberately one message for all."""

    status = 401


@dataclass(frozen=True)
class Principal:
    id: int
    name: str
    role: Role
    csrf_token: str | None = None  # set when authenticated by browser session
    session_id: int | None = None  # that session: kept when users change their own password

    def has_role(self, required: Role) -> bool:
        """Whether this user has the rights of ``required``. A role the database holds but Kontor does not know
        (renamed, edited by hand) has none: refused (403), not a crash (500)."""
        if self.role not in ROLES:
            return False
        return ROLES.index(self.role) >= ROLES.index(required)


class UserInfo(BaseModel):
    """A user as the admin page, `kontor users list` and ``GET /api/users`` show it (no password hash)."""

    id: int
    name: str
    role: str
    team: str | None  # a routing team of the category list (the inbox's "Mein Team")
    active: bool
    created_at: datetime
    sessions: int  # browser sessions that have not expired


class TokenInfo(BaseModel):
    """An API token as listed: never the token itself, nor its hash."""

    id: int
    name: str
    user: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    status: Literal["valid", "expired", "revoked"]


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _actor(actor: Principal | None) -> str:
    return actor.name if actor else "cli"  # the command line has the database itself, no login


class Users:
    def __init__(self, database: Database, min_password_chars: int = 10, token_days: int = TOKEN_DAYS) -> None:
        self.database = database
        self.min_password_chars = min_password_chars
        self.token_days = token_days
        self._throttle = LoginThrottle()

    def _check_password(self, password: str) -> None:
        if len(password) < self.min_password_chars:
            raise InputError(f"Das Passwort braucht mindestens {self.min_password_chars} Zeichen")

    def add(self, name: str, role: str, password: str, team: str | None = None, teams: Sequence[str] | None = None,
            actor: Principal | None = None) -> Principal:
        """``team``: one of the category list's routing teams; checked against ``teams`` when given (else the
        caller checks it)."""
        name = name.strip()
        if not name or len(name) > 100 or any(c.isspace() for c in name):
            raise InputError("Benutzername: 1–100 Zeichen ohne Leerzeichen")
        _check_role(role)
        team = _check_team(team, teams)
        self._check_password(password)
        with self.database.session() as session:
            if session.scalar(select(User).where(User.name == name)) is not None:
                raise ConflictError(f"Benutzer '{name}' gibt es schon")
            user = User(name=name, role=role, team=team, password_hash=_HASHER.hash(password), active=True)
            session.add(user)
            session.flush()
            audit.record(session, _actor(actor), "user_added", user=user.name, user_id=user.id, role=role,
                         team=team)
            return Principal(user.id, user.name, role)  # type: ignore[arg-type]

    def set_role(self, ref: int | str, role: str, actor: Principal | None = None) -> None:
        """A new role. Nobody changes their own role (an admin cannot lock themselves out), and the last active
        admin stays an admin."""
        _check_role(role)
        with self.database.session() as session:
            user = _find(session, ref)
            if actor is not None and actor.id == user.id:
                raise ConflictError("Sie können Ihre eigene Rolle nicht ändern")
            if user.role == role:
                return
            if role != "admin":
                _keep_an_admin(session, user)
            before, user.role = user.role, role
            audit.record(session, _actor(actor), "role_changed", user=user.name, user_id=user.id, before=before,
                         after=role)

    def set_team(self, ref: int | str, team: str | None, teams: Sequence[str] | None = None,
                 actor: Principal | None = None) -> None:
        """A routing team (the inbox's "Mein Team"), or none; checked against ``teams`` when given."""
        team = _check_team(team, teams)
        with self.database.session() as session:
            user = _find(session, ref)
            if user.team == team:
                return
            before, user.team = user.team, team
            audit.record(session, _actor(actor), "team_changed", user=user.name, user_id=user.id, before=before,
                         after=team)

    def user(self, ref: int | str) -> UserInfo:
        """One user as listed."""
        with self.database.session() as session:
            user_id = _find(session, ref).id
        return self.users(user_id)[0]

    def get(self, name: str) -> Principal | None:
        with self.database.session() as session:
            user = session.scalar(select(User).where(User.name == name, User.active.is_(True)))
            return Principal(user.id, user.name, user.role) if user else None  # type: ignore[arg-type]

    def authenticate(self, name: str, password: str, address: str = "") -> Principal:
        """``address``: the client's; failures are counted per (name, address) and per address, so a stranger
        guessing at "admin" from elsewhere never locks the real admin out."""
        self._throttle.attempt(name, address)  # counted before checking, so parallel guesses are counted too
        with self.database.session() as session:
            user = session.scalar(select(User).where(User.name == name, User.active.is_(True)))
            try:
                _HASHER.verify(user.password_hash if user else _DUMMY_HASH, password)
                if user is None:
                    raise VerificationError
            except (VerificationError, InvalidHashError):
                raise AuthError("Benutzername oder Passwort falsch") from None
            self._throttle.succeeded(name, address)
            return Principal(user.id, user.name, user.role)  # type: ignore[arg-type]

    def create_token(self, name: str, label: str = "cli", days: int | None = None,
                     actor: Principal | None = None) -> str:
        """A new personal API token, valid ``days`` (default ``token_days``); shown once, stored as its hash."""
        return self.issue_token(name, label, days, actor)[0]

    def issue_token(self, ref: int | str, label: str = "cli", days: int | None = None,
                    actor: Principal | None = None) -> tuple[str, TokenInfo]:
        """``create_token`` for a user by id (web) or name (command line): the token and how it is listed."""
        label, days = label.strip(), days or self.token_days
        if not label or len(label) > 100:
            raise InputError("Bezeichnung des Tokens: 1–100 Zeichen")
        if not 1 <= days <= 3650:
            raise InputError("Gültigkeit eines Tokens: 1 bis 3650 Tage")
        token = "kt_" + secrets.token_urlsafe(32)
        with self.database.session() as session:
            user = _find(session, ref)
            if not user.active:
                raise ConflictError(f"Benutzer '{user.name}' ist deaktiviert")
            expires = datetime.now(UTC) + timedelta(days=days)
            row = ApiToken(user_id=user.id, name=label, token_hash=_digest(token), expires_at=expires)
            session.add(row)
            session.flush()
            audit.record(session, _actor(actor), "token_created", token_id=row.id, user=user.name, label=label,
                         expires_at=expires.isoformat())
            return token, self._token_info(row, user.name)

    def by_token(self, token: str) -> Principal:
        with self.database.session() as session:
            found = session.execute(
                select(User, ApiToken).join(ApiToken, ApiToken.user_id == User.id).where(
                    ApiToken.token_hash == _digest(token))
            ).one_or_none()
        if found is None or found[1].revoked_at is not None or not found[0].active:
            raise AuthError("Token ungültig")
        user, row = found
        if self._expiry(row) <= datetime.now(UTC):
            raise AuthError("Token abgelaufen – bitte ein neues erzeugen (kontor tokens create)")
        return Principal(user.id, user.name, user.role)  # type: ignore[arg-type]

    def _expiry(self, token: ApiToken) -> datetime:
        """Rows from before tokens expired (no ``expires_at``) live ``token_days`` from their creation."""
        return token.expires_at or token.created_at + timedelta(days=self.token_days)

    def tokens(self) -> list[TokenInfo]:
        with self.database.session() as session:
            rows = session.execute(select(ApiToken, User.name).join(User, User.id == ApiToken.user_id)
                                   .order_by(ApiToken.id)).all()
        return [self._token_info(token, user) for token, user in rows]

    def _token_info(self, token: ApiToken, user: str) -> TokenInfo:
        expires = self._expiry(token)
        status = "revoked" if token.revoked_at else "expired" if expires <= datetime.now(UTC) else "valid"
        return TokenInfo(id=token.id, name=token.name, user=user, created_at=token.created_at, expires_at=expires,
                         revoked_at=token.revoked_at, status=status)

    def revoke_token(self, token_id: int, actor: Principal | None = None) -> TokenInfo:
        """Revoke one token at once (revoking it again changes nothing)."""
        with self.database.session() as session:
            token = session.get(ApiToken, token_id)
            if token is None:
                raise NotFoundError(f"Token {token_id} gibt es nicht")
            user = session.get(User, token.user_id)
            assert user is not None
            if token.revoked_at is None:
                token.revoked_at = datetime.now(UTC)
                audit.record(session, _actor(actor), "token_revoked", token_id=token.id, user=user.name,
                             label=token.name)
            return self._token_info(token, user.name)

    # --- users: list, disable, enable, password ---------------------------------------------------------------

    def users(self, user_id: int | None = None) -> list[UserInfo]:
        """All users as listed (by name), or the one with ``user_id``."""
        now = datetime.now(UTC)
        live = (select(func.count(BrowserSession.id)).where(BrowserSession.user_id == User.id,
                                                           BrowserSession.expires_at > now).scalar_subquery())
        query = select(User, live).order_by(User.name)
        with self.database.session() as session:
            rows = session.execute(query if user_id is None else query.where(User.id == user_id)).all()
        return [UserInfo(id=u.id, name=u.name, role=u.role, team=u.team, active=u.active, created_at=u.created_at,
                         sessions=n) for u, n in rows]

    def set_active(self, ref: int | str, active: bool, actor: Principal | None = None) -> None:
        """Enable or disable a user; disabling ends every session and revokes every token of that user."""
        with self.database.session() as session:
            user = _find(session, ref)
            if not active and actor is not None and actor.id == user.id:
                raise ConflictError("Sie können sich nicht selbst deaktivieren")
            if user.active == active:
                return
            if not active:
                _keep_an_admin(session, user)
            user.active = active
            ended = _end_access(session, user.id) if not active else {}
            audit.record(session, _actor(actor), "user_enabled" if active else "user_disabled", user=user.name,
                         user_id=user.id, **ended)

    def set_password(self, ref: int | str, password: str, actor: Principal | None = None) -> None:
        """A new password. Every session and token of the user ends, except the session users change their
        own password in."""
        self._check_password(password)
        with self.database.session() as session:
            user = _find(session, ref)
            user.password_hash = _HASHER.hash(password)
            keep = actor.session_id if actor is not None and actor.id == user.id else None
            ended = _end_access(session, user.id, keep_session=keep)
            audit.record(session, _actor(actor), "password_changed", user=user.name, user_id=user.id, **ended)

    def change_own_password(self, user: Principal, current: str, new: str, address: str = "") -> None:
        """Only with the current password (throttled like a login): a session left open is not enough."""
        try:
            self.authenticate(user.name, current, address)
        except ThrottledError:
            raise
        except AuthError:
            raise InputError("Das bisherige Passwort stimmt nicht") from None
        self.set_password(user.id, new, actor=user)

    def end_other_sessions(self, user: Principal) -> int:
        """Every browser session of this user except the current one ("Alle anderen Sitzungen beenden")."""
        with self.database.session() as session:
            query = delete(BrowserSession).where(BrowserSession.user_id == user.id)
            if user.session_id is not None:
                query = query.where(BrowserSession.id != user.session_id)
            ended = int(session.execute(query).rowcount or 0)  # type: ignore[attr-defined]
            audit.record(session, user.name, "sessions_ended", user=user.name, user_id=user.id, sessions=ended)
        return ended

    def start_session(self, user: Principal) -> tuple[str, str]:
        """(cookie secret, CSRF token) for a browser login."""
        secret, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        expires = datetime.now(UTC) + timedelta(hours=SESSION_HOURS)
        with self.database.session() as session:
            session.execute(delete(BrowserSession).where(BrowserSession.expires_at < datetime.now(UTC)))
            session.add(
                BrowserSession(token_hash=_digest(secret), csrf_token=csrf, user_id=user.id, expires_at=expires)
            )
        return secret, csrf

    def by_session(self, secret: str) -> Principal:
        with self.database.session() as session:
            found = session.execute(
                select(User, BrowserSession).join(BrowserSession, BrowserSession.user_id == User.id).where(
                    BrowserSession.token_hash == _digest(secret), User.active.is_(True)
                )
            ).one_or_none()
        if found is None or found[1].expires_at < datetime.now(UTC):
            raise AuthError("Sitzung abgelaufen – bitte neu anmelden")
        user, browser = found
        return Principal(user.id, user.name, user.role, browser.csrf_token, browser.id)  # type: ignore[arg-type]

    def end_session(self, secret: str) -> None:
        with self.database.session() as session:
            browser = session.scalar(select(BrowserSession).where(BrowserSession.token_hash == _digest(secret)))
            if browser is not None:
                session.delete(browser)


def _find(session: Session, ref: int | str) -> User:
    """A user by id (web) or name (command line), active or not."""
    user = session.get(User, ref) if isinstance(ref, int) else session.scalar(select(User).where(User.name == ref))
    if user is None:
        raise NotFoundError(f"Benutzer '{ref}' gibt es nicht")
    return user


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise InputError(f"Unbekannte Rolle '{role}'. Erlaubt: {', '.join(ROLES)}")


def _check_team(team: str | None, teams: Sequence[str] | None) -> str | None:
    """The team, stripped (None for none); one of ``teams`` when they are given."""
    team = (team or "").strip() or None
    if team is not None and teams is not None and team not in teams:
        raise InputError(f"Das Team '{team}' gibt es nicht. Teams: {', '.join(teams)}")
    return team


def _keep_an_admin(session: Session, user: User) -> None:
    """Refuse to take the admin role from the last active admin (by a new role or by disabling)."""
    if user.role != "admin" or not user.active:
        return
    others = session.scalar(select(func.count(User.id)).where(User.role == "admin", User.active.is_(True),
                                                             User.id != user.id))
    if not others:
        raise ConflictError(f"'{user.name}' ist die letzte aktive Administration – "
                            "bitte zuerst einen anderen Benutzer zur Administration machen")


def _end_access(session: Session, user_id: int, keep_session: int | None = None) -> dict[str, Any]:
    """End the user's browser sessions (but ``keep_session``) and revoke their tokens, in the caller's
    transaction."""
    sessions = delete(BrowserSession).where(BrowserSession.user_id == user_id)
    if keep_session is not None:
        sessions = sessions.where(BrowserSession.id != keep_session)
    ended = session.execute(sessions).rowcount or 0  # type: ignore[attr-defined]
    revoked = session.execute(update(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
                              .values(revoked_at=datetime.now(UTC))).rowcount or 0  # type: ignore[attr-defined]
    return {"sessions_ended": int(ended), "tokens_revoked": int(revoked)}


class LoginThrottle:
    """Failed logins in a sliding window (in memory: a restart forgives): at most ``per_name`` per name from one
    address, and ``per_address`` per address over all names (password spraying)."""

    def __init__(self, per_name: int = 5, per_address: int = 20, window_s: float = 300.0) -> None:
        self.limits = {"name": per_name, "address": per_address}
        self.window_s = window_s
        self._failures: dict[tuple[str, ...], list[float]] = {}
        self._lock = threading.Lock()

    def attempt(self, name: str, address: str = "") -> None:
        """Count one login attempt; refuse (with the seconds to wait) when too many failed recently."""
        keys = {("name", name, address): self.limits["name"], ("address", address): self.limits["address"]}
        now = time.monotonic()
        with self._lock:
            for key, limit in keys.items():
                recent = [t for t in self._failures.get(key, []) if now - t < self.window_s]
                self._failures[key] = recent
                if len(recent) >= limit:
                    wait = int(self.window_s - (now - recent[0])) + 1
                    raise ThrottledError("Zu viele Fehlversuche – bitte in einigen Minuten erneut versuchen", wait)
            for key in keys:
                self._failures[key].append(now)

    def succeeded(self, name: str, address: str = "") -> None:
        """The right password clears this name's count from this address (the attempt is not a failure)."""
        with self._lock:
            self._failures.pop(("name", name, address), None)
            failures = self._failures.get(("address", address))
            if failures:
                failures.pop()


class ThrottledError(AuthError):
    """Too many failed logins: answered 429 with ``Retry-After``."""

    status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}
