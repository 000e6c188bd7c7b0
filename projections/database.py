"""The views' database: the same database as the events, reached through SQLAlchemy Core.

`sqlite:///x.db` → the same file (WAL, a busy timeout, explicit BEGIN so the projector can take
the write lock up front); `postgresql://…` → psycopg 3 with the ledger's schema on the search
path; `memory://` → one in-memory SQLite database shared by every connection (tests).
Imports only SQLAlchemy and the ledger's URL validation.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.pool import StaticPool

from ledger.config import ConfigError, store_env

IMMEDIATE = "lvyue_immediate"
"""Execution option: on SQLite, open the transaction with BEGIN IMMEDIATE (take the write lock)."""

BUSY_TIMEOUT_MS = 10_000


def views_engine(database_url: str, schema: str | None = None) -> Engine:
    """An engine on the database that holds the events of `database_url`."""
    store_env(database_url)  # the same URL rules (and errors) as the event store
    url = urlparse(database_url)
    if url.scheme == "memory":
        engine = create_engine(
            "sqlite+pysqlite://",
            poolclass=StaticPool,
            connect_args={"check_same_thread": False},
        )
        _explicit_transactions(engine, wal=False)
        return engine
    if url.scheme == "sqlite":
        engine = create_engine("sqlite+pysqlite" + database_url[len("sqlite") :])
        _explicit_transactions(engine, wal=True)
        return engine
    rest = database_url.split("://", 1)[1]
    options: dict[str, Any] = {}
    if schema:
        if not schema.replace("_", "").isalnum():
            raise ConfigError(f"unusable schema name {schema!r}")
        options["options"] = f"-csearch_path={schema}"
    return create_engine(f"postgresql+psycopg://{rest}", connect_args=options)


def immediate(conn: Connection) -> Connection:
    """Mark a connection so its next transaction takes SQLite's write lock at BEGIN."""
    return conn.execution_options(**{IMMEDIATE: True})


def _explicit_transactions(engine: Engine, *, wal: bool) -> None:
    """pysqlite's implicit BEGIN is deferred; we issue BEGIN (IMMEDIATE) ourselves."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if wal:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        take_lock = conn.get_execution_options().get(IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if take_lock else "BEGIN")
