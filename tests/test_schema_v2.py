"""Migration 2 (inner nodes move into the leaf rows) keeps every hash of a sealed log.

A log written by today's code is put back into version 1's layout (a `nodes` table, SQLite
leaves with their unique stream index) exactly as version 1 stored it; migrating it forward
must give back the same rows, and the audit, the root and every proof must still hold.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
from psycopg import sql

from ledger.ledger import Ledger
from ledger.merkle import MemoryNodeStore, root_at
from ledger.schema import CURRENT_VERSION, PG_SEAL_V1, SQLITE_SEAL_V1, migrate, schema_state
from ledger.subtree_roots import node_in
from ledger.trail import audit, inclusion_proof_for, sign_checkpoint
from tests.clock import Clock
from tests.conftest import PG_URL, make_ledger
from tests.test_trail import ORIGIN, sealed, signing_key, write_history

T = "stored_events"


def history(app: Ledger) -> tuple[int, bytes, list[list[str]]]:
    """Write 40-odd events (inner nodes up to level 5), sign; the size, root and proofs."""
    log = sealed(app)
    write_history(app, Clock(), tasks=5)
    sign_checkpoint(log, signing_key(), ORIGIN)
    size = log.sealed_size()
    assert size >= 32
    proofs = [inclusion_proof_for(log, seq, size).proof for seq in range(1, size + 1)]
    return size, root_at(size, log.node_reader()), proofs


def assert_unchanged(app: Ledger, before: tuple[int, bytes, list[list[str]]]) -> None:
    size, root, proofs = before
    log = sealed(app)
    assert schema_state(app.recorder).version == CURRENT_VERSION
    assert root_at(size, log.node_reader()) == root
    assert [inclusion_proof_for(log, s, size).proof for s in range(1, size + 1)] == proofs
    report = audit(log, signing_key().verifier_key_text(), page=7)
    assert report.ok, report.findings
    expected = MemoryNodeStore()
    expected.append([row.leaf_hash for row in log.iter_leaves(0, size)])
    keys = [key for key in expected._nodes if key[0] > 0]
    assert log.node_reader().nodes(keys) == {key: expected._nodes[key] for key in keys}


def v1_nodes(rows: list[tuple[int, bytes]]) -> list[tuple[int, int, bytes]]:
    """Version 1's node rows from version 2's (seq, roots)."""
    found = []
    for seq, roots in rows:
        level = 1
        while (value := node_in(roots, level)) is not None:
            found.append((level, (seq >> level) - 1, value))
            level += 1
    return found


def test_sqlite_log_migrates_from_version_1(tmp_path: Path) -> None:
    app = make_ledger("sqlite", tmp_path)
    before = history(app)
    app.close()
    with sqlite3.connect(tmp_path / "lvyue.db", isolation_level=None) as conn:
        conn.execute("BEGIN")
        nodes = v1_nodes(conn.execute(f"SELECT seq, roots FROM {T}_leaves").fetchall())
        conn.execute(f"ALTER TABLE {T}_leaves RENAME TO old_leaves")
        for statement in SQLITE_SEAL_V1[:2]:
            conn.execute(statement.format(t=T))
        conn.execute(
            f"INSERT INTO {T}_leaves SELECT seq, originator_id, originator_version, leaf_hash "
            "FROM old_leaves"
        )
        conn.execute("DROP TABLE old_leaves")
        conn.executemany(f"INSERT INTO {T}_nodes VALUES (?,?,?)", nodes)
        conn.execute("DELETE FROM lvyue_schema_version WHERE version > 1")
        conn.execute("COMMIT")
    assert len(nodes) >= 30
    again = make_ledger("sqlite", tmp_path)  # SQLite migrates when the file is opened
    try:
        assert_unchanged(again, before)
        tables = {
            row[0]
            for row in sqlite3.connect(tmp_path / "lvyue.db").execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
            )
        }
        assert f"{T}_nodes" not in tables
    finally:
        again.close()


def test_postgres_log_migrates_from_version_1(pg_schema: str, tmp_path: Path) -> None:
    app = make_ledger("postgres", tmp_path, pg_schema)
    before = history(app)
    app.close()
    leaves = sql.Identifier(pg_schema, "ledger_events_leaves")
    names = {
        "schema": sql.Identifier(pg_schema),
        "leaves": sql.Identifier("ledger_events_leaves"),
        "nodes": sql.Identifier("ledger_events_nodes"),
    }
    with psycopg.connect(PG_URL) as conn:
        rows = conn.execute(sql.SQL("SELECT seq, roots FROM {}").format(leaves)).fetchall()
        nodes = v1_nodes([(int(seq), bytes(roots)) for seq, roots in rows])
        conn.execute(sql.SQL("ALTER TABLE {} DROP COLUMN roots").format(leaves))
        conn.execute(sql.SQL(PG_SEAL_V1[1]).format(**names))
        with conn.cursor() as cursor:
            cursor.executemany(
                sql.SQL("INSERT INTO {}.{} VALUES (%s, %s, %s)").format(
                    names["schema"], names["nodes"]
                ),
                nodes,
            )
        conn.execute(
            sql.SQL("DELETE FROM {}.lvyue_schema_version WHERE version > 1").format(
                names["schema"]
            )
        )
    assert len(nodes) >= 30
    again = Ledger(PG_URL, env={"POSTGRES_SCHEMA": pg_schema}, schema_check=False)
    try:
        assert schema_state(again.recorder).version == 1
        report = migrate(again.recorder)
        assert [step.version for step in report.applied] == [2]
        assert_unchanged(again, before)
    finally:
        again.close()
