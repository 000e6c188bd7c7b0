"""The ledger's own tables, created and migrated explicitly (`lvyue db init` / `lvyue db migrate`).

On PostgreSQL the library never touches DDL (`CREATE_TABLE=n`, ledger/config.py): the tables
are this module's, versioned in `lvyue_schema_version`, and every process checks the version
when it opens the store, so a missing or older schema is a named error at start, not a
"relation does not exist" at the first write. A migration runs in ONE transaction under an
advisory lock (PostgreSQL DDL is transactional), so two `db migrate` runs never interleave and
a crash leaves the previous version intact.

SQLite stays zero-configuration: the embedded store creates its tables on first use and this
module brings them to the current version when the file is opened (same statements, the write
lock taken up front with BEGIN IMMEDIATE). The in-memory store has no schema.

`MIGRATIONS` is append-only: a released step is never edited; a change is a new step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import Connection
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composable, Identifier

from ledger.store import postgres as pg_store
from ledger.store import sqlite as sqlite_store
from ledger.store.postgres import SealingPostgresRecorder
from ledger.store.sqlite import SealingSQLiteRecorder

VERSION_TABLE = "lvyue_schema_version"
MIGRATION_LOCK = 0x6C76_6462  # "lvdb": with hashtext(schema.table), serialises migrations


@dataclass(frozen=True)
class Migration:
    """One schema step: statement templates for each dialect.

    SQLite templates name the events table `{t}`; PostgreSQL templates use identifiers
    `{schema}`, `{events}`, `{event_type}`, `{events_index}` and the seal tables' names
    (`{leaves}`, `{nodes}`, `{commands}`, `{checkpoints}`, `{subject_keys}`, `{personal}`).
    """

    version: int
    description: str
    sqlite: tuple[str, ...]
    postgres: tuple[str, ...]


# The library's (9.5.6) event table, owned here so an upgrade cannot change it silently.
# The stored-event composite type is what its insert statement unnests; the insert *function*
# is deliberately absent (POSTGRES_ENABLE_DB_FUNCTIONS reorders events, reference §2.9).
PG_EVENTS = (
    "DO $$ BEGIN CREATE TYPE {schema}.{event_type} AS (originator_id uuid, "
    "originator_version bigint, topic text, state bytea); "
    "EXCEPTION WHEN duplicate_object THEN NULL; END $$",
    "CREATE TABLE IF NOT EXISTS {schema}.{events} ("
    "originator_id uuid NOT NULL, originator_version bigint NOT NULL, topic text, state bytea, "
    "notification_id bigserial, PRIMARY KEY (originator_id, originator_version)) "
    "WITH (autovacuum_enabled = true, autovacuum_vacuum_threshold = 100000000, "
    "autovacuum_vacuum_scale_factor = 0.5, autovacuum_analyze_threshold = 1000, "
    "autovacuum_analyze_scale_factor = 0.01)",
    "CREATE UNIQUE INDEX IF NOT EXISTS {events_index} ON {schema}.{events} (notification_id ASC)",
)
SQLITE_EVENTS = (
    "CREATE TABLE IF NOT EXISTS {t} (originator_id TEXT, originator_version INTEGER, "
    "topic TEXT, state BLOB, PRIMARY KEY (originator_id, originator_version))",
)

# Version 1's seal tables, as released (the stores' SEAL_TABLES now create version 2's).
SQLITE_SEAL_V1 = (
    "CREATE TABLE IF NOT EXISTS {t}_leaves ("
    "seq INTEGER PRIMARY KEY, originator_id TEXT NOT NULL, "
    "originator_version INTEGER NOT NULL, leaf_hash BLOB NOT NULL, "
    "UNIQUE (originator_id, originator_version))",
    "CREATE TABLE IF NOT EXISTS {t}_nodes ("
    "level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL, "
    "PRIMARY KEY (level, idx)) WITHOUT ROWID",
    *sqlite_store.SEAL_TABLES[1:],  # commands, checkpoints, vault: unchanged since
)
PG_SEAL_V1 = (
    "CREATE TABLE IF NOT EXISTS {schema}.{leaves} ("
    "seq bigint PRIMARY KEY, originator_id uuid NOT NULL, "
    "originator_version bigint NOT NULL, leaf_hash bytea NOT NULL, "
    "UNIQUE (originator_id, originator_version))",
    "CREATE TABLE IF NOT EXISTS {schema}.{nodes} ("
    "level int NOT NULL, idx bigint NOT NULL, hash bytea NOT NULL, PRIMARY KEY (level, idx))",
    *pg_store.SEAL_TABLES[1:],
)

# Version 2: inner nodes move into the row of the leaf that completed them
# (ledger/subtree_roots.py); on SQLite the leaves also lose their (stream, version) index,
# which the events table's own key replaces. Works from version 1's tables and from tables
# the library created from the current SEAL_TABLES (SQLite creates them before migrating).
SQLITE_ROOTS_V2 = (
    "CREATE TABLE {t}_leaves_v2 ("
    "seq INTEGER PRIMARY KEY, originator_id TEXT NOT NULL, "
    "originator_version INTEGER NOT NULL, leaf_hash BLOB NOT NULL, "
    "roots BLOB NOT NULL DEFAULT x'')",
    "INSERT INTO {t}_leaves_v2 (seq, originator_id, originator_version, leaf_hash) "
    "SELECT seq, originator_id, originator_version, leaf_hash FROM {t}_leaves",
    # Level by level, lowest first, so each leaf's roots grow in level order.
    *(
        f"UPDATE {{t}}_leaves_v2 SET roots = CAST(roots || n.hash AS BLOB) FROM {{t}}_nodes AS n "
        f"WHERE n.level = {level} AND {{t}}_leaves_v2.seq = (n.idx + 1) << {level}"
        for level in range(1, 63)
    ),
    "DROP TABLE {t}_leaves",
    "DROP TABLE {t}_nodes",
    "ALTER TABLE {t}_leaves_v2 RENAME TO {t}_leaves",
)
PG_ROOTS_V2 = (
    "ALTER TABLE {schema}.{leaves} ADD COLUMN IF NOT EXISTS roots bytea NOT NULL DEFAULT ''::bytea",
    "UPDATE {schema}.{leaves} AS l SET roots = r.roots FROM ("
    "SELECT (idx + 1) << level AS seq, string_agg(hash, ''::bytea ORDER BY level) AS roots "
    "FROM {schema}.{nodes} GROUP BY 1) AS r WHERE l.seq = r.seq",
    "DROP TABLE {schema}.{nodes}",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "event store: events, leaves, nodes, command receipts, checkpoints, personal-data vault",
        sqlite=(*SQLITE_EVENTS, *SQLITE_SEAL_V1),
        postgres=(*PG_EVENTS, *PG_SEAL_V1),
    ),
    Migration(
        2,
        "inner Merkle nodes kept with the leaf that completed them; SQLite leaves unindexed "
        "by stream",
        sqlite=SQLITE_ROOTS_V2,
        postgres=PG_ROOTS_V2,
    ),
)
CURRENT_VERSION = MIGRATIONS[-1].version

PG_VERSION_TABLE = (
    "CREATE TABLE IF NOT EXISTS {schema}.{version_table} (store text NOT NULL, "
    "version integer NOT NULL, description text NOT NULL, "
    "applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (store, version))"
)
SQLITE_VERSION_TABLE = (
    f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (store TEXT NOT NULL, "
    "version INTEGER NOT NULL, description TEXT NOT NULL, "
    "applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP, PRIMARY KEY (store, version))"
)


class SchemaError(Exception):
    """The database's lvyue schema does not match this code; the message says what to run."""


class SchemaMissing(SchemaError):
    """No lvyue schema in this database (or schema): `lvyue db init`."""


class SchemaOutdated(SchemaError):
    """The schema is older than this code: `lvyue db migrate`."""


class SchemaTooNew(SchemaError):
    """The schema was migrated by a newer lvyue; this (older) code must not write to it."""


@dataclass(frozen=True)
class MigrationReport:
    """Where the schema stood before and after, and which steps ran now."""

    before: int
    after: int
    applied: tuple[Migration, ...]


@dataclass(frozen=True)
class SchemaState:
    """The stored version (0: none) and whether the event table exists at all."""

    version: int
    has_events: bool


# --------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------


def prepare(recorder: object) -> None:
    """At start: PostgreSQL must be current; SQLite is brought up to date; memory has no schema."""
    if isinstance(recorder, SealingPostgresRecorder):
        require_current(recorder)
    elif (
        isinstance(recorder, SealingSQLiteRecorder)
        and schema_state(recorder).version != CURRENT_VERSION
    ):
        migrate(recorder, create=True)


def require_current(recorder: object) -> None:
    """Raise the named SchemaError unless the stored version is this code's."""
    state = schema_state(recorder)
    check_version(state)


def check_version(state: SchemaState) -> None:
    """The SchemaError for a state that is not current (see the classes for the remedy)."""
    if state.version == CURRENT_VERSION:
        return
    if state.version == 0 and not state.has_events:
        raise SchemaMissing(
            "the database has no lvyue tables: run `lvyue db init` first "
            "(on PostgreSQL the schema is created explicitly, never on first write)"
        )
    if state.version < CURRENT_VERSION:
        raise SchemaOutdated(
            f"the database schema is at version {state.version} but this lvyue needs "
            f"{CURRENT_VERSION}: run `lvyue db migrate`"
        )
    raise SchemaTooNew(
        f"the database schema is at version {state.version}, newer than this lvyue "
        f"({CURRENT_VERSION}): upgrade lvyue before running it against this database"
    )


def schema_state(recorder: object) -> SchemaState:
    """The stored schema version of a sealing recorder's tables."""
    if isinstance(recorder, SealingPostgresRecorder):
        with recorder.datastore.get_connection() as conn:
            return _pg_state(conn, recorder)
    if isinstance(recorder, SealingSQLiteRecorder):
        with recorder.datastore.get_connection(commit=False) as conn:
            return _sqlite_state(conn.cursor(), recorder.events_table_name)
    return SchemaState(CURRENT_VERSION, has_events=True)  # the memory store: nothing to migrate


def migrate(recorder: object, *, create: bool = False) -> MigrationReport:
    """Apply every pending step in one transaction; `create` allows starting from nothing."""
    if isinstance(recorder, SealingPostgresRecorder):
        report = _pg_migrate(recorder, create)
        recorder.datastore.register_type_adapters()  # the event type may be new
        return report
    if isinstance(recorder, SealingSQLiteRecorder):
        return _sqlite_migrate(recorder)
    return MigrationReport(CURRENT_VERSION, CURRENT_VERSION, ())


def pending(version: int) -> tuple[Migration, ...]:
    """The steps after `version`, in order."""
    return tuple(m for m in MIGRATIONS if m.version > version)


# --------------------------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------------------------


def _pg_names(recorder: SealingPostgresRecorder) -> dict[str, Composable]:
    table = recorder.events_table_name
    id_type = recorder.datastore.originator_id_type
    if id_type != "uuid":
        raise SchemaError(f"the ledger's schema needs ORIGINATOR_ID_TYPE=uuid, not {id_type!r}")
    names: dict[str, Composable] = {
        "schema": Identifier(recorder.datastore.schema),
        "events": Identifier(table),
        "event_type": Identifier(f"stored_event_{id_type}"),
        "events_index": Identifier(f"{table}_notification_id_idx"),
        "version_table": Identifier(VERSION_TABLE),
    }
    for suffix in ("leaves", "nodes", "commands", "checkpoints", "subject_keys", "personal"):
        names[suffix] = Identifier(f"{table}_{suffix}")
    return names


def _pg_state(conn: Connection[DictRow], recorder: SealingPostgresRecorder) -> SchemaState:
    schema, table = recorder.datastore.schema, recorder.events_table_name
    found = conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = %s AND tablename = ANY(%s)",
        (schema, [VERSION_TABLE, table]),
    ).fetchall()
    tables = {row["tablename"] for row in found}
    version = 0
    if VERSION_TABLE in tables:
        row = conn.execute(
            SQL("SELECT COALESCE(MAX(version), 0) AS v FROM {0}.{1} WHERE store = %s").format(
                Identifier(schema), Identifier(VERSION_TABLE)
            ),
            (table,),
        ).fetchone()
        version = int(row["v"]) if row is not None else 0
    return SchemaState(version, has_events=table in tables)


def _pg_migrate(recorder: SealingPostgresRecorder, create: bool) -> MigrationReport:
    names = _pg_names(recorder)
    schema, table = recorder.datastore.schema, recorder.events_table_name
    timeout = recorder.datastore.lock_timeout or 10
    with recorder.datastore.get_connection() as conn, conn.transaction():
        conn.execute(SQL("SET LOCAL lock_timeout = '{0}s'").format(timeout))
        conn.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (MIGRATION_LOCK, f"{schema}.{table}")
        )
        if create and schema != "public":
            conn.execute(SQL("CREATE SCHEMA IF NOT EXISTS {0}").format(names["schema"]))
        state = _pg_state(conn, recorder)
        _refuse_unless_migratable(state, create)
        conn.execute(SQL(PG_VERSION_TABLE).format(**names))
        steps = pending(state.version)
        for step in steps:
            for statement in step.postgres:
                conn.execute(SQL(statement).format(**names))
            conn.execute(
                SQL("INSERT INTO {0}.{1} (store, version, description) VALUES (%s, %s, %s)")
                .format(names["schema"], names["version_table"]),
                (table, step.version, step.description),
            )
    return MigrationReport(state.version, max(state.version, CURRENT_VERSION), steps)


def _refuse_unless_migratable(state: SchemaState, create: bool) -> None:
    """`migrate` never creates a schema from nothing (a mistyped URL), nor moves backwards."""
    if state.version > CURRENT_VERSION:
        check_version(state)
    if state.version == 0 and not state.has_events and not create:
        raise SchemaMissing(
            "this database has no lvyue tables to migrate: run `lvyue db init` to create them"
        )


# --------------------------------------------------------------------------------------------
# SQLite
# --------------------------------------------------------------------------------------------


def _sqlite_state(cursor: Any, table: str) -> SchemaState:
    cursor.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN (?, ?)",
        (VERSION_TABLE, table),
    )
    tables = {row[0] for row in cursor.fetchall()}
    version = 0
    if VERSION_TABLE in tables:
        cursor.execute(
            f"SELECT COALESCE(MAX(version), 0) FROM {VERSION_TABLE} WHERE store = ?", (table,)
        )
        version = int(cursor.fetchone()[0])
    return SchemaState(version, has_events=table in tables)


def _sqlite_migrate(recorder: SealingSQLiteRecorder) -> MigrationReport:
    """Under SQLite's write lock, taken at BEGIN so concurrent openers queue instead of failing."""
    table = recorder.events_table_name
    with recorder.datastore.get_connection(commit=True) as conn:
        cursor = conn.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        try:
            state = _sqlite_state(cursor, table)
            if state.version > CURRENT_VERSION:
                check_version(state)
            cursor.execute(SQLITE_VERSION_TABLE)
            steps = pending(state.version)
            _sqlite_apply(cursor, table, steps)
        except BaseException:
            conn.rollback()
            raise
        conn.commit()
    return MigrationReport(state.version, max(state.version, CURRENT_VERSION), steps)


def _sqlite_apply(cursor: Any, table: str, steps: Sequence[Migration]) -> None:
    for step in steps:
        for statement in step.sqlite:
            cursor.execute(statement.format(t=table))
        cursor.execute(
            f"INSERT INTO {VERSION_TABLE} (store, version, description) VALUES (?, ?, ?)",
            (table, step.version, step.description),
        )
