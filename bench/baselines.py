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
