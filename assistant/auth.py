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

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
