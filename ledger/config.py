"""From `LVYUE_DATABASE_URL` to the eventsourcing library's environment.

`sqlite:///path` (the embedded default), `postgresql://user@host:port/db`, or `memory://`
(tests). Every store runs the same application code; only the recorder differs.
"""

from __future__ import annotations

from urllib.parse import unquote, urlparse

DEFAULT_DATABASE_URL = "sqlite:///lvyue.db"


class ConfigError(ValueError):
    """The database URL cannot be used."""


def store_env(database_url: str) -> dict[str, str]:
    """The library environment for a database URL."""
    url = urlparse(database_url)
    common = {"ORIGINATOR_ID_TYPE": "uuid"}
    if url.scheme == "memory":
        return {**common, "PERSISTENCE_MODULE": "ledger.store.memory:MemoryFactory"}
    if url.scheme == "sqlite":
        path = unquote(url.path[1:] if url.path.startswith("/") else url.path)
        if url.netloc:
            raise ConfigError("use sqlite:///relative.db or sqlite:////absolute/path.db")
        if not path:
            raise ConfigError("the sqlite URL names no file")
        return {
            **common,
            "PERSISTENCE_MODULE": "ledger.store.sqlite:SQLiteFactory",
            "SQLITE_DBNAME": path,
            "SQLITE_LOCK_TIMEOUT": "10",
            "APPLICATION_RECORDER_TOPIC": "ledger.store.sqlite:SealingSQLiteRecorder",
        }
    if url.scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        if not url.path.strip("/"):
            raise ConfigError("the postgresql URL names no database")
        return {
            **common,
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": url.path.strip("/"),
            "POSTGRES_HOST": url.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(url.port or 5432),
            "POSTGRES_USER": unquote(url.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(url.password or ""),
            "POSTGRES_LOCK_TIMEOUT": "10",
            "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "10",
            "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
            "CREATE_TABLE": "n",  # the schema is created by `lvyue db init` (ledger/schema.py)
            "APPLICATION_RECORDER_TOPIC": "ledger.store.postgres:SealingPostgresRecorder",
        }
    raise ConfigError(
        f"unsupported database URL scheme {url.scheme!r} (sqlite, postgresql, memory)"
    )
