"""Store fixtures: the same behaviour suite runs on memory, SQLite and PostgreSQL.

PostgreSQL tests use `LVYUE_TEST_POSTGRES` (default: the local test database) and a fresh schema
each. Without a server they skip with the reason — except when `LVYUE_REQUIRE_POSTGRES=1`
(set by .ci/run), where a missing server is a failure, never a skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from ledger.ledger import Ledger
from ledger.schema import migrate

PG_URL = os.environ.get("LVYUE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE_PG = os.environ.get("LVYUE_REQUIRE_POSTGRES") == "1"


@pytest.fixture(autouse=True)
def private_vault_key(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CLI run inside a test never creates its vault key in the working directory."""
    if "LVYUE_VAULT_KEY" not in os.environ:
        key = tmp_path_factory.mktemp("vault") / "lvyue-vault.key"
        monkeypatch.setenv("LVYUE_VAULT_KEY", str(key))


def _pg_reason() -> str | None:
    try:
        with psycopg.connect(PG_URL.replace("postgresql+psycopg", "postgresql"), connect_timeout=3):
            return None
    except psycopg.Error as error:
        return f"PostgreSQL not reachable at {PG_URL}: {error}".strip()


_PG_PROBLEM = _pg_reason()


def require_postgres() -> None:
    """Skip (or, in CI, fail) when no PostgreSQL server is reachable."""
    if _PG_PROBLEM is None:
        return
    if REQUIRE_PG:
        pytest.fail(f"LVYUE_REQUIRE_POSTGRES=1 but {_PG_PROBLEM}")
    pytest.skip(_PG_PROBLEM)


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A fresh schema in the test database, dropped afterwards."""
    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    yield schema
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


def make_ledger(store: str, tmp_path: Path, schema: str | None = None) -> Ledger:
    """A Ledger on the named store kind."""
    if store == "memory":
        return Ledger("memory://")
    if store == "sqlite":
        return Ledger(f"sqlite:///{tmp_path / 'lvyue.db'}")
    assert schema is not None
    app = Ledger(PG_URL, env={"POSTGRES_SCHEMA": schema}, schema_check=False)
    migrate(app.recorder, create=True)  # `lvyue db init`: PostgreSQL tables are never implicit
    return app


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def any_ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    """The behaviour suite's store: each test runs once per store kind."""
    schema = request.getfixturevalue("pg_schema") if request.param == "postgres" else None
    app = make_ledger(request.param, tmp_path, schema)
    yield app
    app.close()


@pytest.fixture
def ledger() -> Iterator[Ledger]:
    """The fast in-memory store for unit tests."""
    app = Ledger("memory://")
    yield app
    app.close()
