"""The raw-driver loops every figure is measured against: stdlib sqlite3, psycopg, json, hashlib.

Each baseline writes or reads the same table (created by the eventsourcing library's own plain
recorder, so the DDL is identical) and the same stored bytes our code path produced, with the
same durability: SQLite in WAL mode with synchronous=FULL (the library's settings), PostgreSQL
with the server's durable commit and the library's lock protocol where the issue says so.
Nothing here imports lvyue code.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from uuid import UUID

import psycopg
from psycopg import sql

Row = tuple[UUID, int, str, bytes]
"""One stored event: originator id, version, topic (the event type), state (the record bytes)."""

INSERT_SQLITE = (
    "INSERT INTO stored_events (originator_id, originator_version, topic, state) "
    "VALUES (?, ?, ?, ?)"
)


def sqlite_connect(path: Path) -> sqlite3.Connection:
    """Autocommit connection with the library's journal and durability settings."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    return conn


def _sqlite_row(row: Row) -> tuple[str, int, str, bytes]:
    return (row[0].hex, row[1], row[2], row[3])


def sqlite_one_row_commits(path: Path, rows: Sequence[Row]) -> float:
    """Seconds for BEGIN; INSERT one row; COMMIT — per row."""
    conn = sqlite_connect(path)
    params = [_sqlite_row(r) for r in rows]
    try:
        start = time.perf_counter()
        for p in params:
            conn.execute("BEGIN")
            conn.execute(INSERT_SQLITE, p)
            conn.execute("COMMIT")
        return time.perf_counter() - start
    finally:
        conn.close()


def sqlite_batch_commits(path: Path, batches: Sequence[Sequence[Row]]) -> float:
    """Seconds for BEGIN; executemany(batch); COMMIT — per batch."""
    conn = sqlite_connect(path)
    params = [[_sqlite_row(r) for r in batch] for batch in batches]
    try:
        start = time.perf_counter()
        for batch in params:
            conn.execute("BEGIN")
            conn.executemany(INSERT_SQLITE, batch)
            conn.execute("COMMIT")
        return time.perf_counter() - start
    finally:
        conn.close()


def sqlite_keyset_scan(path: Path, page: int = 1000) -> tuple[int, float]:
    """(events, seconds) to read the whole events table by rowid pages and json.loads each."""
    conn = sqlite_connect(path)
    try:
        start = time.perf_counter()
        after, total = 0, 0
        while True:
            rows = conn.execute(
                "SELECT rowid, originator_id, originator_version, topic, state "
                "FROM stored_events WHERE rowid > ? ORDER BY rowid LIMIT ?",
                (after, page),
            ).fetchall()
            if not rows:
                return total, time.perf_counter() - start
            for row in rows:
                json.loads(row[4])
            total += len(rows)
            after = rows[-1][0]
    finally:
        conn.close()


TableCopy = tuple[str, str, list[str], list[tuple[object, ...]]]
"""One table to write: name, CREATE TABLE without constraints, CREATE INDEX statements, rows."""


def sqlite_table_copies(path: Path, tables: Sequence[str]) -> list[TableCopy]:
    """The rows, columns and indexes of `tables` in the SQLite file at `path`, for
    `sqlite_write_floor`. Primary keys and unique constraints become indexes built after the
    load (except an INTEGER PRIMARY KEY, which is the rowid itself), so the load appends."""
    conn = sqlite3.connect(path)
    try:
        return [_table_copy(conn, table) for table in tables]
    finally:
        conn.close()


def _table_copy(conn: sqlite3.Connection, table: str) -> TableCopy:
    columns = conn.execute(f'PRAGMA table_info("{table}")').fetchall()
    rowid = [c[1] for c in columns if c[5] == 1 and c[2].upper() == "INTEGER"]
    keys = sum(1 for c in columns if c[5] > 0)
    declared = [
        f'"{c[1]}" {c[2]}' + (" PRIMARY KEY" if keys == 1 and [c[1]] == rowid else "")
        for c in columns
    ]
    create = f'CREATE TABLE "{table}" ({", ".join(declared)})'
    indexes = []
    for _, name, unique, origin, _ in conn.execute(f'PRAGMA index_list("{table}")').fetchall():
        cols = [r[2] for r in conn.execute(f'PRAGMA index_info("{name}")').fetchall()]
        if origin == "pk" and cols == rowid:
            continue
        kind = "UNIQUE INDEX" if unique else "INDEX"
        quoted = ", ".join(f'"{c}"' for c in cols)
        indexes.append(f'CREATE {kind} "floor_{name}" ON "{table}" ({quoted})')
    rows = conn.execute(f'SELECT * FROM "{table}"').fetchall()
    return table, create, indexes, rows


def sqlite_write_floor(path: Path, copies: Sequence[TableCopy]) -> tuple[int, float]:
    """(rows, seconds) to write `copies` into a fresh SQLite file at `path` the cheapest way
    the stdlib driver allows: WAL with synchronous=NORMAL (a projector's setting), one
    transaction, executemany of ready tuples into bare tables, every index built after."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        start = time.perf_counter()
        conn.execute("BEGIN")
        for table, create, _, rows in copies:
            conn.execute(create)
            if rows:
                marks = ", ".join("?" * len(rows[0]))
                conn.executemany(f'INSERT INTO "{table}" VALUES ({marks})', rows)
        for _, _, indexes, _ in copies:
            for statement in indexes:
                conn.execute(statement)
        conn.execute("COMMIT")
        return sum(len(c[3]) for c in copies), time.perf_counter() - start
    finally:
        conn.close()


def sqlite_fetch_decode(path: Path, originator_id: UUID, upto: int, repeat: int) -> float:
    """Median seconds to fetch versions 1..upto of one stream and json.loads each."""
    conn = sqlite_connect(path)
    try:
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            rows = conn.execute(
                "SELECT originator_version, topic, state FROM stored_events "
                "WHERE originator_id = ? AND originator_version <= ? ORDER BY originator_version",
                (originator_id.hex, upto),
            ).fetchall()
            decoded = [json.loads(r[2]) for r in rows]
            times.append(time.perf_counter() - start)
            if len(decoded) != upto:
                raise RuntimeError(f"expected {upto} events, read {len(decoded)}")
        return sorted(times)[len(times) // 2]
    finally:
        conn.close()


# -- PostgreSQL ------------------------------------------------------------------------------


def _table(schema: str, table: str) -> sql.Composed:
    return sql.SQL("{0}.{1}").format(sql.Identifier(schema), sql.Identifier(table))


def pg_lock_insert_commits(url: str, schema: str, table: str, rows: Sequence[Row]) -> float:
    """Seconds for the library's protocol per row, pipelined as the library does it:
    BEGIN; SET LOCAL lock_timeout; LOCK TABLE … IN EXCLUSIVE MODE; NOTIFY; INSERT … RETURNING
    notification_id; COMMIT."""
    name = _table(schema, table)
    statements = (
        sql.SQL("SET LOCAL lock_timeout = '10s'"),
        sql.SQL("LOCK TABLE {0} IN EXCLUSIVE MODE").format(name),
        sql.SQL("NOTIFY {0}").format(sql.Identifier(table)),
    )
    insert = sql.SQL(
        "INSERT INTO {0} (originator_id, originator_version, topic, state) "
        "VALUES (%s, %s, %s, %s) RETURNING notification_id"
    ).format(name)
    with psycopg.connect(url) as conn:
        start = time.perf_counter()
        for row in rows:
            with conn.pipeline() as pipeline, conn.transaction(), conn.cursor() as curs:
                for statement in statements:
                    curs.execute(statement, prepare=True)
                curs.execute(insert, row, prepare=True)
                pipeline.sync()
                curs.fetchone()
        return time.perf_counter() - start


def pg_copy_commits(url: str, schema: str, table: str, batches: Sequence[Sequence[Row]]) -> float:
    """Seconds for BEGIN; COPY batch FROM STDIN; COMMIT — per batch."""
    copy = sql.SQL("COPY {0} (originator_id, originator_version, topic, state) FROM STDIN").format(
        _table(schema, table)
    )
    with psycopg.connect(url) as conn:
        start = time.perf_counter()
        for batch in batches:
            with conn.transaction(), conn.cursor() as curs, curs.copy(copy) as writer:
                for row in batch:
                    writer.write_row(row)
        return time.perf_counter() - start


def pg_keyset_scan(url: str, schema: str, table: str, page: int = 1000) -> tuple[int, float]:
    """(events, seconds) to read the whole events table by notification_id pages + json.loads."""
    query = sql.SQL(
        "SELECT notification_id, originator_id, originator_version, topic, state FROM {0} "
        "WHERE notification_id > %s ORDER BY notification_id LIMIT %s"
    ).format(_table(schema, table))
    with psycopg.connect(url) as conn:
        start = time.perf_counter()
        after, total = 0, 0
        while True:
            rows = conn.execute(query, (after, page), prepare=True).fetchall()
            if not rows:
                return total, time.perf_counter() - start
            for row in rows:
                json.loads(row[4])
            total += len(rows)
            after = rows[-1][0]


# -- files -------------------------------------------------------------------------------------


def jsonl_parse_hash(path: Path) -> tuple[int, float]:
    """(lines, seconds) to read each line, json.loads it and SHA-256 it."""
    start = time.perf_counter()
    lines = 0
    with path.open("rb") as handle:
        for line in handle:
            json.loads(line)
            hashlib.sha256(line).digest()
            lines += 1
    return lines, time.perf_counter() - start
