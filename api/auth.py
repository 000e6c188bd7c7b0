"""Users with Argon2 password hashes, API tokens for systems, and login sessions.

Secrets are never stored: API tokens and session tokens are random, shown once, and kept only
as their SHA-256; passwords only as Argon2 hashes. There is no default user or password: the
first administrator is created with `lvyue user add`.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import (
    Column,
    Engine,
    MetaData,
    RowMapping,
    String,
    Table,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from starlette.responses import Response

from api.policy import ALL_PROPERTIES, ROLES_BY_KIND, Principal

SESSION_TTL = timedelta(hours=12)
PRINCIPAL_CACHE_SECONDS = 5.0
"""How long a process may keep answering from its token → principal cache: the bound on how
late a change made by ANOTHER process (a revoked token, a changed role) takes effect here.
Changes made through this process's `Accounts` take effect at once."""
PRINCIPAL_CACHE_SIZE = 10_000
SESSION_COOKIE = "lvyue_session"
TOKEN_PREFIX, SESSION_PREFIX = "lvy_", "lvs_"
MIN_PASSWORD, MAX_PASSWORD = 12, 1024
USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,63}")
PRINCIPAL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,99}")
PROPERTY_ID = re.compile(r"\*|[A-Za-z0-9][A-Za-z0-9._-]{0,99}")

metadata = MetaData()

users = Table(
    "api_users",
    metadata,
    Column("username", String(64), primary_key=True),
    Column("password_hash", String(200), nullable=False),
    Column("principal_id", String(100), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("roles", String(200), nullable=False),
    Column("properties", String(2000), nullable=False),
    Column("created_at", String(40), nullable=False),
)
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("token_sha256", String(64), nullable=False, unique=True),
    Column("principal_id", String(100), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("roles", String(200), nullable=False),
    Column("properties", String(2000), nullable=False),
    Column("created_at", String(40), nullable=False),
)
sessions = Table(
    "api_sessions",
    metadata,
    Column("token_sha256", String(64), primary_key=True),
    Column("username", String(64), nullable=False, index=True),
    Column("expires_at", String(40), nullable=False),
    Column("created_at", String(40), nullable=False),
)


def set_session_cookie(response: Response, token: str, secure: bool) -> None:
    """The web pages' session cookie, with the same attributes wherever a login sets it:
    HttpOnly, SameSite=Strict, Secure over HTTPS, living as long as the session."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(SESSION_TTL.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=secure,
    )


class AccountError(ValueError):
    """A user or token cannot be created as asked (bad name, role, scope or password)."""


@dataclass(frozen=True)
class Grant:
    """What a user or token may act as: principal id, kind, roles, property scopes."""

    principal_id: str
    kind: str
    roles: frozenset[str]
    properties: frozenset[str]

    @classmethod
    def checked(
        cls, principal_id: str, kind: str, roles: Iterable[str], properties: Iterable[str]
    ) -> Grant:
        """Refuse roles the kind cannot hold, malformed ids, and empty role or scope lists."""
        role_set, scope_set = frozenset(roles), frozenset(properties)
        if kind not in ROLES_BY_KIND:
            raise AccountError(f"kind must be one of {', '.join(ROLES_BY_KIND)}")
        if not PRINCIPAL_ID.fullmatch(principal_id):
            raise AccountError(f"principal id {principal_id!r} is malformed")
        if not role_set:
            raise AccountError("give at least one role")
        wrong = sorted(role_set - ROLES_BY_KIND[kind])
        if wrong:
            raise AccountError(f"a {kind} cannot hold role {', '.join(wrong)}")
        if not scope_set:
            raise AccountError(f"give at least one property (or {ALL_PROPERTIES} for all)")
        bad = sorted(p for p in scope_set if not PROPERTY_ID.fullmatch(p))
        if bad:
            raise AccountError(f"malformed property id {', '.join(bad)}")
        return cls(principal_id, kind, role_set, scope_set)

    def row(self) -> dict[str, str]:
        return {
            "principal_id": self.principal_id,
            "kind": self.kind,
            "roles": ",".join(sorted(self.roles)),
            "properties": ",".join(sorted(self.properties)),
        }


@dataclass(frozen=True)
class Session:
    """A login: the bearer token (shown once) and when it stops working."""

    token: str
    expires_at: datetime
    principal: Principal


def digest(token: str) -> str:
    """How a token is stored and looked up."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class _Cached:
    principal: Principal
    session_expires_at: datetime | None  # sessions still expire on time while cached
    fetched_at: float


class PrincipalCache:
    """Recently authenticated tokens, keyed by their SHA-256 (never the token itself).

    A request otherwise pays a database round trip just to learn who it is. Only successful
    lookups are kept (an unknown token is asked again, so a token created elsewhere works at
    once); entries live `seconds`, and at most `size` are kept (the oldest go first).
    """

    def __init__(
        self,
        seconds: float = PRINCIPAL_CACHE_SECONDS,
        size: int = PRINCIPAL_CACHE_SIZE,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seconds = seconds
        self.size = size
        self.monotonic = monotonic
        self._entries: dict[str, _Cached] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> _Cached | None:
        entry = self._entries.get(key)
        if entry is None or self.monotonic() - entry.fetched_at >= self.seconds:
            return None
        return entry

    def put(self, key: str, principal: Principal, session_expires_at: datetime | None) -> None:
        entry = _Cached(principal, session_expires_at, self.monotonic())
        with self._lock:
            if len(self._entries) >= self.size:
                self._entries.pop(next(iter(self._entries)))
            self._entries[key] = entry

    def forget(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def forget_subject(self, subject: str) -> None:
        """Drop every token of a subject (`token:NAME` or `user:NAME`)."""
        with self._lock:
            for key in [k for k, e in self._entries.items() if e.principal.subject == subject]:
                del self._entries[key]


class Accounts:
    """Users, API tokens and sessions in the API's own tables."""

    def __init__(
        self,
        engine: Engine,
        clock: Callable[[], datetime],
        hasher: PasswordHasher | None = None,
        cache: PrincipalCache | None = None,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.hasher = hasher or PasswordHasher()
        self.cache = cache or PrincipalCache()
        self._dummy_hash = ""

    # -- creation (the command line) ---------------------------------------------------------

    def add_user(self, username: str, password: str, grant: Grant) -> None:
        if not USERNAME.fullmatch(username):
            raise AccountError("username: 2–64 of a-z 0-9 . _ - starting with a letter or digit")
        if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
            raise AccountError(f"the password must have {MIN_PASSWORD}–{MAX_PASSWORD} characters")
        row = {
            "username": username,
            "password_hash": self.hasher.hash(password),
            "created_at": self.clock().isoformat(),
            **grant.row(),
        }
        self._insert(users, row, f"user {username!r} already exists")

    def add_token(self, name: str, grant: Grant) -> str:
        """Create an API token; the returned secret is not stored and cannot be shown again."""
        if not USERNAME.fullmatch(name):
            raise AccountError("token name: 2–64 of a-z 0-9 . _ - starting with a letter or digit")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        row = {
            "name": name,
            "token_sha256": digest(token),
            "created_at": self.clock().isoformat(),
            **grant.row(),
        }
        self._insert(api_tokens, row, f"token {name!r} already exists")
        return token

    def revoke_token(self, name: str) -> bool:
        """Delete an API token; it is refused at once here, and by other processes within
        PRINCIPAL_CACHE_SECONDS. False when there was no such token."""
        with self.engine.begin() as conn:
            gone = conn.execute(delete(api_tokens).where(api_tokens.c.name == name)).rowcount
        self.cache.forget_subject(f"token:{name}")
        return bool(gone)

    def _insert(self, table: Table, row: dict[str, str], taken: str) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(table), row)
        except IntegrityError:
            raise AccountError(taken) from None

    # -- login -------------------------------------------------------------------------------

    def login(self, username: str, password: str) -> Session | None:
        """A new session for the right password; None otherwise (same cost either way)."""
        with self.engine.connect() as conn:
            user = conn.execute(select(users).where(users.c.username == username)).first()
        stored = user.password_hash if user is not None else self._dummy()
        if not self._verify(stored, password) or user is None:
            return None
        if self.hasher.check_needs_rehash(stored):
            self._rehash(username, password)
        now = self.clock()
        token = SESSION_PREFIX + secrets.token_urlsafe(32)
        row = {
            "token_sha256": digest(token),
            "username": username,
            "expires_at": (now + SESSION_TTL).isoformat(),
            "created_at": now.isoformat(),
        }
        with self.engine.begin() as conn:
            conn.execute(insert(sessions), row)
        return Session(token, now + SESSION_TTL, _principal(f"user:{username}", user._mapping))

    def logout(self, token: str) -> None:
        key = digest(token)
        with self.engine.begin() as conn:
            conn.execute(delete(sessions).where(sessions.c.token_sha256 == key))
        self.cache.forget(key)

    def _verify(self, stored: str, password: str) -> bool:
        try:
            return self.hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False

    def _dummy(self) -> str:
        """A hash to verify against for unknown users, so timing does not reveal names."""
        if not self._dummy_hash:
            self._dummy_hash = self.hasher.hash(secrets.token_urlsafe(16))
        return self._dummy_hash

    def _rehash(self, username: str, password: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(users)
                .where(users.c.username == username)
                .values(password_hash=self.hasher.hash(password))
            )

    # -- authentication of a request -------------------------------------------------------

    def principal_for(self, token: str) -> Principal | None:
        """The principal a bearer token (API or session) stands for, or None."""
        if not token.startswith((TOKEN_PREFIX, SESSION_PREFIX)):
            return None
        key = digest(token)
        cached = self.cache.get(key)
        if cached is None:
            found = self._lookup(token, key)
            if found is None:
                return None
            self.cache.put(key, *found)
            principal, expires_at = found
        else:
            principal, expires_at = cached.principal, cached.session_expires_at
        return self._unexpired(key, principal, expires_at)

    def cached_principal(self, token: str) -> Principal | None:
        """`principal_for` from the cache alone, without I/O; None: ask `principal_for`.

        Lets the event loop answer the common case itself instead of handing every request
        to a worker thread for what is a dictionary lookup.
        """
        key = digest(token)
        cached = self.cache.get(key)
        if cached is None:
            return None
        return self._unexpired(key, cached.principal, cached.session_expires_at)

    def _unexpired(
        self, key: str, principal: Principal, expires_at: datetime | None
    ) -> Principal | None:
        if expires_at is not None and expires_at <= self.clock():
            self.cache.forget(key)
            return None
        return principal

    def _lookup(self, token: str, key: str) -> tuple[Principal, datetime | None] | None:
        if token.startswith(TOKEN_PREFIX):
            return self._token_principal(key)
        return self._session_principal(key)

    def _token_principal(self, key: str) -> tuple[Principal, None] | None:
        query = select(api_tokens).where(api_tokens.c.token_sha256 == key)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else (_principal(f"token:{row.name}", row._mapping), None)

    def _session_principal(self, key: str) -> tuple[Principal, datetime] | None:
        query = (
            select(users, sessions.c.expires_at)
            .join(sessions, sessions.c.username == users.c.username)
            .where(sessions.c.token_sha256 == key)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        principal = _principal(f"user:{row.username}", row._mapping)
        return principal, datetime.fromisoformat(row.expires_at)


def _principal(subject: str, fields: RowMapping) -> Principal:
    return Principal(
        subject=subject,
        principal_id=str(fields["principal_id"]),
        kind=str(fields["kind"]),
        roles=frozenset(str(fields["roles"]).split(",")),
        properties=frozenset(str(fields["properties"]).split(",")),
    )
