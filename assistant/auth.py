"""Users, roles, passwords, API tokens and browser sessions. One role check for every way in.

Passwords are hashed with argon2 (argon2-cffi); API tokens and session cookies are random secrets of which
only the SHA-256 is stored, so a copy of the database does not let anyone log in.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select

from assistant.store.db import Database
from assistant.store.tables import ApiToken, BrowserSession, User

Role = Literal["agent", "expert", "admin"]
ROLES: tuple[Role, ...] = ("agent", "expert", "admin")  # each includes the rights of the ones before it
SESSION_HOURS = 12
_HASHER = PasswordHasher()
_DUMMY_HASH = _HASHER.hash("kontor-no-such-user")  # unknown names cost as much time as known ones


class AuthError(ValueError):
    """Unknown user, wrong password, bad token: deliberately one message for all."""


@dataclass(frozen=True)
class Principal:
    id: int
    name: str
    role: Role
    csrf_token: str | None = None  # set when authenticated by browser session

    def has_role(self, required: Role) -> bool:
        return ROLES.index(self.role) >= ROLES.index(required)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class Users:
    def __init__(self, database: Database, min_password_chars: int = 10) -> None:
        self.database = database
        self.min_password_chars = min_password_chars
        self._throttle = LoginThrottle()

    def add(self, name: str, role: str, password: str) -> Principal:
        name = name.strip()
        if not name or len(name) > 100 or any(c.isspace() for c in name):
            raise ValueError("Benutzername: 1–100 Zeichen ohne Leerzeichen")
        if role not in ROLES:
            raise ValueError(f"Unbekannte Rolle '{role}'. Erlaubt: {', '.join(ROLES)}")
        if len(password) < self.min_password_chars:
            raise ValueError(f"Das Passwort braucht mindestens {self.min_password_chars} Zeichen")
        with self.database.session() as session:
            if session.scalar(select(User).where(User.name == name)) is not None:
                raise ValueError(f"Benutzer '{name}' gibt es schon")
            user = User(name=name, role=role, password_hash=_HASHER.hash(password), active=True)
            session.add(user)
            session.flush()
            return Principal(user.id, user.name, role)

    def get(self, name: str) -> Principal | None:
        with self.database.session() as session:
            user = session.scalar(select(User).where(User.name == name, User.active.is_(True)))
            return Principal(user.id, user.name, user.role) if user else None  # type: ignore[arg-type]

    def authenticate(self, name: str, password: str) -> Principal:
        self._throttle.attempt(name)  # counted before checking, so parallel guesses are counted too
        with self.database.session() as session:
            user = session.scalar(select(User).where(User.name == name, User.active.is_(True)))
            try:
                _HASHER.verify(user.password_hash if user else _DUMMY_HASH, password)
                if user is None:
                    raise VerificationError
            except (VerificationError, InvalidHashError):
                raise AuthError("Benutzername oder Passwort falsch") from None
            self._throttle.succeeded(name)
            return Principal(user.id, user.name, user.role)  # type: ignore[arg-type]

    def create_token(self, name: str, label: str = "cli") -> str:
        """A new personal API token; shown once, stored as its hash."""
        token = "kt_" + secrets.token_urlsafe(32)
        with self.database.session() as session:
            user = session.scalar(select(User).where(User.name == name, User.active.is_(True)))
            if user is None:
                raise ValueError(f"Benutzer '{name}' gibt es nicht")
            session.add(ApiToken(user_id=user.id, name=label, token_hash=_digest(token)))
        return token

    def by_token(self, token: str) -> Principal:
        with self.database.session() as session:
            row = session.execute(
                select(User).join(ApiToken, ApiToken.user_id == User.id).where(
                    ApiToken.token_hash == _digest(token), ApiToken.revoked_at.is_(None), User.active.is_(True)
                )
            ).scalar_one_or_none()
        if row is None:
            raise AuthError("Token ungültig")
        return Principal(row.id, row.name, row.role)  # type: ignore[arg-type]

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
        return Principal(user.id, user.name, user.role, browser.csrf_token)  # type: ignore[arg-type]

    def end_session(self, secret: str) -> None:
        with self.database.session() as session:
            browser = session.scalar(select(BrowserSession).where(BrowserSession.token_hash == _digest(secret)))
            if browser is not None:
                session.delete(browser)


class LoginThrottle:
    """At most 5 failed logins per name in 5 minutes (in memory: a restart forgives)."""

    def __init__(self, limit: int = 5, window_s: float = 300.0) -> None:
        self.limit, self.window_s = limit, window_s
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def attempt(self, name: str) -> None:
        """Count one login attempt; refuse when too many failed recently. Success clears the count."""
        with self._lock:
            recent = [t for t in self._failures.get(name, []) if time.monotonic() - t < self.window_s]
            if len(recent) >= self.limit:
                self._failures[name] = recent
                raise ThrottledError("Zu viele Fehlversuche – bitte in einigen Minuten erneut versuchen")
            self._failures[name] = [*recent, time.monotonic()]

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._failures.pop(name, None)


class ThrottledError(AuthError):
    pass
