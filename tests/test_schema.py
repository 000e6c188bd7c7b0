"""The explicit schema: `lvyue db init | migrate | status`, versions, and the start-up check."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

import ledger.schema as schema_module
from ledger.ledger import Ledger
from ledger.schema import (
    CURRENT_VERSION,
    MIGRATIONS,
    Migration,
    SchemaMissing,
    SchemaOutdated,
    SchemaTooNew,
    migrate,
    schema_state,
)
from lvyue import db_commands
from lvyue.cli import app as cli
from tests.clock import Clock
from tests.conftest import PG_URL, make_ledger, require_postgres


def pg_ledger(schema: str, *, checked: bool = True) -> Ledger:
    return Ledger(PG_URL, env={"POSTGRES_SCHEMA": schema}, schema_check=checked)


def tables(schema: str) -> set[str]:
    with psycopg.connect(PG_URL) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,)
        ).fetchall()
    return {row[0] for row in rows}


def catalogue(schema: str) -> list[tuple[str, ...]]:
    """Columns, indexes and composite types of a schema, with the schema name taken out."""
    with psycopg.connect(PG_URL) as conn:
        columns = conn.execute(
            "SELECT table_name, column_name, data_type, is_nullable, "
            "COALESCE(column_default, '') FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name LIKE 'ledger_events%%'",
            (schema,),
        ).fetchall()
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes "
            "WHERE schemaname = %s AND tablename LIKE 'ledger_events%%'",
            (schema,),
        ).fetchall()
        types = conn.execute(
            "SELECT t.typname, a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_type t "
            "JOIN pg_namespace n ON n.oid = t.typnamespace JOIN pg_class c ON c.oid = t.typrelid "
            "JOIN pg_attribute a ON a.attrelid = c.oid WHERE n.nspname = %s AND c.relkind = 'c'",
            (schema,),
        ).fetchall()
    rows = [tuple(str(v).replace(schema, "S") for v in row) for row in [*columns, *indexes, *types]]
    return sorted(rows)


@pytest.fixture
def second_schema() -> Iterator[str]:
    require_postgres()
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
    yield name
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {name} CASCADE")


def test_postgres_refuses_a_missing_schema_and_creates_nothing(pg_schema: str) -> None:
    with pytest.raises(SchemaMissing, match="lvyue db init"):
        pg_ledger(pg_schema)
    assert tables(pg_schema) == set()


def test_owned_ddl_equals_what_the_library_would_create(
    pg_schema: str, second_schema: str
) -> None:
    """db init's tables are the library's (9.5.6), minus its unsafe insert function."""
    make_ledger("postgres", Path(), pg_schema).close()
    library = Ledger(PG_URL, env={"POSTGRES_SCHEMA": second_schema, "CREATE_TABLE": "y"},
                     schema_check=False)
    library.close()
    assert catalogue(pg_schema) == catalogue(second_schema)
    with psycopg.connect(PG_URL) as conn:
        functions = conn.execute(
            "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = %s",
            (pg_schema,),
        ).fetchall()
    assert functions == []


def test_migrate_is_idempotent_and_versioned(pg_schema: str) -> None:
    app = pg_ledger(pg_schema, checked=False)
    first = migrate(app.recorder, create=True)
    again = migrate(app.recorder)
    assert [m.version for m in first.applied] == [m.version for m in MIGRATIONS]
    assert (again.before, again.after, again.applied) == (CURRENT_VERSION, CURRENT_VERSION, ())
    app.close()
    checked = pg_ledger(pg_schema)  # now starts
    checked.onboard_staff(Clock().admin(), "S1", "E1", "engineering")
    checked.close()


def test_migrate_refuses_an_empty_database(pg_schema: str) -> None:
    app = pg_ledger(pg_schema, checked=False)
    with pytest.raises(SchemaMissing, match="db init"):
        migrate(app.recorder)
    app.close()
    assert tables(pg_schema) == set()


def test_an_older_schema_is_named_and_migrated_step_by_step(
    pg_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_ledger("postgres", Path(), pg_schema).close()
    step = Migration(
        CURRENT_VERSION + 1,
        "test: an index on checkpoints",
        sqlite=("CREATE INDEX IF NOT EXISTS {t}_test_idx ON {t}_checkpoints (note)",),
        postgres=(
            "CREATE INDEX IF NOT EXISTS test_idx ON {schema}.{checkpoints} (note)",
        ),
    )
    monkeypatch.setattr(schema_module, "MIGRATIONS", (*MIGRATIONS, step))
    monkeypatch.setattr(schema_module, "CURRENT_VERSION", step.version)
    with pytest.raises(SchemaOutdated, match="lvyue db migrate"):
        pg_ledger(pg_schema)
    app = pg_ledger(pg_schema, checked=False)
    report = migrate(app.recorder)
    assert (report.before, report.after) == (step.version - 1, step.version)
    assert report.applied == (step,)
    app.close()
    pg_ledger(pg_schema).close()


def test_a_newer_schema_is_refused(pg_schema: str) -> None:
    make_ledger("postgres", Path(), pg_schema).close()
    with psycopg.connect(PG_URL) as conn:
        conn.execute(
            f"INSERT INTO {pg_schema}.lvyue_schema_version (store, version, description) "
            "VALUES ('ledger_events', %s, 'from the future')",
            (CURRENT_VERSION + 5,),
        )
    with pytest.raises(SchemaTooNew, match="upgrade lvyue"):
        pg_ledger(pg_schema)
    app = pg_ledger(pg_schema, checked=False)
    with pytest.raises(SchemaTooNew):
        migrate(app.recorder)
    app.close()


def test_sqlite_stays_zero_configuration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The embedded store creates and stamps its tables on first use, and upgrades on open."""
    url = f"sqlite:///{tmp_path / 'lvyue.db'}"
    app = Ledger(url)
    app.onboard_staff(Clock().admin(), "S1", "E1", "engineering")
    assert schema_state(app.recorder).version == CURRENT_VERSION
    app.close()
    step = Migration(CURRENT_VERSION + 1, "test", sqlite=(
        "CREATE INDEX IF NOT EXISTS {t}_test_idx ON {t}_checkpoints (note)",), postgres=())
    monkeypatch.setattr(schema_module, "MIGRATIONS", (*MIGRATIONS, step))
    monkeypatch.setattr(schema_module, "CURRENT_VERSION", step.version)
    again = Ledger(url)
    assert schema_state(again.recorder).version == step.version
    assert again.recorder.max_notification_id() == 1
    again.close()


def cli_env(schema: str, tmp_path: Path) -> dict[str, str]:
    return {
        "LVYUE_DATABASE_URL": PG_URL,
        "POSTGRES_SCHEMA": schema,
        "LVYUE_SIGNING_KEY": str(tmp_path / "signing.key"),
    }


def test_db_commands(pg_schema: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The API keeps its accounts outside POSTGRES_SCHEMA (api/app.py): not in the shared test db.
    monkeypatch.setattr(db_commands, "API_TABLES", ())
    monkeypatch.delenv("LVYUE_VAULT_KEY")  # the default: beside the signing key
    runner, env = CliRunner(), cli_env(pg_schema, tmp_path)
    status = runner.invoke(cli, ["db", "status"], env=env)
    assert status.exit_code == 1
    assert "lvyue db init" in status.output
    refused = runner.invoke(cli, ["db", "migrate"], env=env)
    assert refused.exit_code == 1
    assert "db init" in refused.output
    for _ in range(2):  # init is idempotent
        init = runner.invoke(cli, ["db", "init"], env=env)
        assert init.exit_code == 0, init.output
    vault_key = tmp_path / "lvyue-vault.key"
    assert str(vault_key) in init.output
    assert stat.S_IMODE(vault_key.stat().st_mode) == 0o600
    assert {"ledger_events", "lvyue_schema_version", "projection_positions", "sla_due"} <= tables(
        pg_schema
    )
    assert runner.invoke(cli, ["db", "status"], env=env).exit_code == 0
    migrated = runner.invoke(cli, ["db", "migrate"], env=env)
    assert migrated.exit_code == 0
    assert "already at version" in migrated.output


def test_any_command_on_a_missing_schema_exits_1_with_the_remedy(
    pg_schema: str, tmp_path: Path
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "lvyue", "audit"],
        env={**os.environ, **cli_env(pg_schema, tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "lvyue db init" in result.stderr
    assert "Traceback" not in result.stderr
