"""`lvyue db init | migrate | status`: the database schema, created and migrated explicitly.

`init` creates everything a deployment needs in an empty database (or PostgreSQL schema): the
ledger's versioned tables (ledger/schema.py), the projector's views and positions, the
watcher's due index and the API's accounts. `migrate` applies the pending ledger steps and
creates any component table a newer lvyue added; it refuses an empty database, so a mistyped
URL is not silently initialised. Both are idempotent and safe to run while other processes
serve: a migration is one transaction under an advisory lock. Exit codes: 0 ok, 1 the schema
is missing, older or newer than this code, 2 configuration error.
"""

from __future__ import annotations

import os

import typer

from api.app import API_TABLES
from ledger.config import ConfigError
from ledger.ledger import Ledger
from ledger.personal import VaultKey
from ledger.schema import (
    CURRENT_VERSION,
    MigrationReport,
    SchemaError,
    check_version,
    migrate,
    schema_state,
)
from lvyue.refusal import USAGE, exit_with
from lvyue.settings import Settings
from lvyue.watch import Watcher
from projections.database import views_engine
from projections.projector import Projector

db_app = typer.Typer(no_args_is_help=True, help="the database schema (数据库结构)")


def _unchecked(settings: Settings) -> Ledger:
    """The ledger without the start-up schema check (which is what these commands fix)."""
    try:
        return Ledger(settings.database_url, schema_check=False)
    except ConfigError as error:
        exit_with(f"配置错误 configuration error: {error}", USAGE)


def _migrate(settings: Settings, *, create: bool) -> MigrationReport:
    ledger = _unchecked(settings)
    try:
        return migrate(ledger.recorder, create=create)
    except SchemaError as error:
        exit_with(f"数据库结构 schema: {error}")
    finally:
        ledger.close()


def create_component_tables(settings: Settings) -> None:
    """The read side's, the watcher's and the API's tables (each owner's idempotent DDL)."""
    ledger = Ledger(settings.database_url)
    views = views_engine(settings.database_url, ledger.env.get("POSTGRES_SCHEMA") or None)
    accounts = views_engine(settings.database_url)  # where `lvyue user add` keeps them
    try:
        Projector(ledger, views)
        Watcher(ledger)
        for tables in API_TABLES:
            tables.create_all(accounts)
    finally:
        views.dispose()
        accounts.dispose()
        ledger.close()


def _print(report: MigrationReport) -> None:
    for step in report.applied:
        typer.echo(f"  applied {step.version}: {step.description}")
    if not report.applied:
        typer.echo(f"  schema already at version {report.after}")


@db_app.command("init")
def init() -> None:
    """Create every table in an empty database; harmless when run again (建库)."""
    settings = Settings.from_env()
    report = _migrate(settings, create=True)
    _print(report)
    create_component_tables(settings)
    VaultKey.load_or_create(settings.vault_key_file, lambda: os.urandom(32))
    typer.echo(f"数据库就绪 database ready: schema version {report.after}")
    typer.echo(
        f"个人信息密钥 vault key {settings.vault_key_file}: copy it to every host, "
        "keep it out of the database's backups"
    )


@db_app.command("migrate")
def migrate_command() -> None:
    """Apply pending schema steps (versioned, one transaction, idempotent) (升级)."""
    settings = Settings.from_env()
    report = _migrate(settings, create=False)
    _print(report)
    create_component_tables(settings)
    typer.echo(f"升级完成 migrated: {report.before} -> {report.after}")


@db_app.command("status")
def status() -> None:
    """Print the stored schema version and whether this lvyue can run on it (exit 1 if not)."""
    settings = Settings.from_env()
    ledger = _unchecked(settings)
    try:
        state = schema_state(ledger.recorder)
    finally:
        ledger.close()
    typer.echo(f"stored schema version {state.version}, this lvyue needs {CURRENT_VERSION}")
    try:
        check_version(state)
    except SchemaError as error:
        exit_with(str(error))
    typer.echo("ok")
