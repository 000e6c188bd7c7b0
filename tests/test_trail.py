"""Signed checkpoints, proofs from the node store and the clean audit, on every store.

Also home of the helpers the tampering and export tests share: a small history written through
the task use cases, and direct database access to SQLite and PostgreSQL for tampering.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from psycopg import sql

from ledger.checkpoint import SigningKey
from ledger.ledger import Ledger
from ledger.merkle import MemoryNodeStore, frontier_keys
from ledger.subtree_roots import completing_seq, node_in
from ledger.trail import (
    EmptyLog,
    InconsistentCheckpoint,
    OutOfRange,
    SealedLog,
    audit,
    consistency_between,
    inclusion_proof_for,
    read_checkpoint,
    sign_checkpoint,
)
from lvyue_verify import (
    TreeBuilder,
    VerificationError,
    record_leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from tests.clock import PHOTO, Clock
from tests.conftest import PG_URL, make_ledger

ORIGIN = "lvyue.test/ledger"


def signing_key(seed: int = 7) -> SigningKey:
    """A fixed test key (never the OS random source in tests)."""
    return SigningKey(ORIGIN, Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32))


def sealed(app: Ledger) -> SealedLog:
    log = app.recorder
    assert isinstance(log, SealedLog)
    return log


def onboard(app: Ledger, clock: Clock) -> None:
    """Supervisor S1, technicians S2 and S3, dispatcher D1 (8 events)."""
    for person, family, position, boss in (
        ("S1", "management", "site_supervisor", None),
        ("S2", "engineering", "technician", "S1"),
        ("S3", "engineering", "technician", "S1"),
        ("D1", "customer_service", "dispatcher", "S1"),
    ):
        app.onboard_staff(clock.admin(), person, f"E-{person}", family)
        app.assign_position(clock.admin(), person, position, "P1", boss)


def work_order(app: Ledger, clock: Clock, task_no: str, property_id: str) -> None:
    """One repair from registration to sign-off (7 events)."""
    app.register_task(
        clock.ctx("D1"),
        task_no,
        property_id,
        f"A-{property_id}",
        "repair",
        "repair",
        "normal",
        "app",
        "B1-1203",
        "卫生间漏水 leaking pipe",
        reporter_id="O1",
    )
    app.dispatch_task(clock.ctx("D1"), task_no, "S1", "S2")
    app.accept_task(clock.ctx("S2"), task_no)
    app.arrive_on_site(clock.ctx("S2"), task_no)
    app.start_work(clock.ctx("S2"), task_no)
    app.complete_work(clock.ctx("S2"), task_no, "换了阀门 replaced the valve", (PHOTO,))
    app.sign_off_completion(clock.ctx("S1"), task_no, "good")


def write_history(app: Ledger, clock: Clock, tasks: int = 2, first: int = 1) -> None:
    """Staff (first call only) and `tasks` work orders alternating between P1 and P2."""
    if first == 1:
        onboard(app, clock)
    for n in range(first, first + tasks):
        work_order(app, clock, f"T{n}", "P1" if n % 2 else "P2")


# --------------------------------------------------------------------------------------------
# Direct database access, for tampering
# --------------------------------------------------------------------------------------------


class Db(Protocol):
    """What the tamper tests do to a store behind the ledger's back."""

    def position_of(self, seq: int) -> int: ...
    def state(self, position: int) -> bytes: ...
    def set_state(self, position: int, state: bytes) -> None: ...
    def delete_event(self, position: int) -> None: ...
    def insert_event(self, originator_id: UUID, version: int, topic: str, state: bytes) -> None: ...
    def swap_positions(self, a: int, b: int) -> None: ...
    def leaves(self) -> list[tuple[int, str, int, bytes]]: ...
    def set_leaf(self, seq: int, leaf_hash: bytes) -> None: ...
    def delete_leaf(self, seq: int) -> None: ...
    def set_node(self, level: int, idx: int, value: bytes) -> None: ...
    def node(self, level: int, idx: int) -> bytes: ...
    def delete_nodes_from(self, size: int) -> None: ...
    def set_note(self, size: int, note: str) -> None: ...


class SQLiteDb:
    """Raw access to the SQLite file (events in `stored_events`, ids as 32 hex digits)."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.t = "stored_events"

    def _one(self, query: str, *params: Any) -> Any:
        row = self.conn.execute(query, params).fetchone()
        assert row is not None, query
        return row[0]

    def position_of(self, seq: int) -> int:
        oid, version = self.conn.execute(
            f"SELECT originator_id, originator_version FROM {self.t}_leaves WHERE seq=?", (seq,)
        ).fetchone()
        return int(
            self._one(
                f"SELECT rowid FROM {self.t} WHERE originator_id=? AND originator_version=?",
                oid,
                version,
            )
        )

    def state(self, position: int) -> bytes:
        return bytes(self._one(f"SELECT state FROM {self.t} WHERE rowid=?", position))

    def set_state(self, position: int, state: bytes) -> None:
        self.conn.execute(f"UPDATE {self.t} SET state=? WHERE rowid=?", (state, position))

    def delete_event(self, position: int) -> None:
        self.conn.execute(f"DELETE FROM {self.t} WHERE rowid=?", (position,))

    def insert_event(self, originator_id: UUID, version: int, topic: str, state: bytes) -> None:
        self.conn.execute(
            f"INSERT INTO {self.t} VALUES (?,?,?,?)", (originator_id.hex, version, topic, state)
        )

    def swap_positions(self, a: int, b: int) -> None:
        self.conn.execute("BEGIN")
        self.conn.execute(f"UPDATE {self.t} SET rowid=-1 WHERE rowid=?", (a,))
        self.conn.execute(f"UPDATE {self.t} SET rowid=? WHERE rowid=?", (a, b))
        self.conn.execute(f"UPDATE {self.t} SET rowid=? WHERE rowid=-1", (b,))
        self.conn.execute("COMMIT")

    def leaves(self) -> list[tuple[int, str, int, bytes]]:
        rows = self.conn.execute(
            f"SELECT seq, originator_id, originator_version, leaf_hash FROM {self.t}_leaves "
            "ORDER BY seq"
        ).fetchall()
        return [(int(s), str(UUID(o)), int(v), bytes(h)) for s, o, v, h in rows]

    def set_leaf(self, seq: int, leaf_hash: bytes) -> None:
        self.conn.execute(f"UPDATE {self.t}_leaves SET leaf_hash=? WHERE seq=?", (leaf_hash, seq))

    def delete_leaf(self, seq: int) -> None:
        self.conn.execute(f"DELETE FROM {self.t}_leaves WHERE seq=?", (seq,))

    def set_node(self, level: int, idx: int, value: bytes) -> None:
        seq = completing_seq(level, idx)
        roots = bytes(self._one(f"SELECT roots FROM {self.t}_leaves WHERE seq=?", seq))
        self.conn.execute(
            f"UPDATE {self.t}_leaves SET roots=? WHERE seq=?",
            (with_node(roots, level, value), seq),
        )

    def node(self, level: int, idx: int) -> bytes:
        seq = completing_seq(level, idx)
        roots = bytes(self._one(f"SELECT roots FROM {self.t}_leaves WHERE seq=?", seq))
        found = node_in(roots, level)
        assert found is not None
        return found

    def delete_nodes_from(self, size: int) -> None:
        """Drop every node that covers a leaf at index >= size (kept by the leaves after it)."""
        self.conn.execute(f"UPDATE {self.t}_leaves SET roots=x'' WHERE seq > ?", (size,))

    def set_note(self, size: int, note: str) -> None:
        self.conn.execute(f"UPDATE {self.t}_checkpoints SET note=? WHERE size=?", (note, size))


class PostgresDb:
    """Raw access to one test schema (events in `ledger_events`, ids as uuid)."""

    def __init__(self, schema: str) -> None:
        self.conn = psycopg.connect(PG_URL, autocommit=True)
        self.schema = schema

    def _t(self, suffix: str = "") -> sql.Composed:
        return sql.SQL("{}.{}").format(
            sql.Identifier(self.schema), sql.Identifier(f"ledger_events{suffix}")
        )

    def _run(self, query: str, *params: Any, suffix: str = "") -> psycopg.Cursor[Any]:
        return self.conn.execute(sql.SQL(query).format(t=self._t(suffix)), params)

    def _one(self, query: str, *params: Any, suffix: str = "") -> Any:
        row = self._run(query, *params, suffix=suffix).fetchone()
        assert row is not None, query
        return row[0]

    def position_of(self, seq: int) -> int:
        oid, version = self._run(
            "SELECT originator_id, originator_version FROM {t} WHERE seq=%s", seq, suffix="_leaves"
        ).fetchone() or (None, None)
        return int(
            self._one(
                "SELECT notification_id FROM {t} WHERE originator_id=%s AND originator_version=%s",
                oid,
                version,
            )
        )

    def state(self, position: int) -> bytes:
        return bytes(self._one("SELECT state FROM {t} WHERE notification_id=%s", position))

    def set_state(self, position: int, state: bytes) -> None:
        self._run("UPDATE {t} SET state=%s WHERE notification_id=%s", state, position)

    def delete_event(self, position: int) -> None:
        self._run("DELETE FROM {t} WHERE notification_id=%s", position)

    def insert_event(self, originator_id: UUID, version: int, topic: str, state: bytes) -> None:
        self._run(
            "INSERT INTO {t} (originator_id, originator_version, topic, state) "
            "VALUES (%s, %s, %s, %s)",
            originator_id,
            version,
            topic,
            state,
        )

    def swap_positions(self, a: int, b: int) -> None:
        with self.conn.transaction():
            self._run("UPDATE {t} SET notification_id=-1 WHERE notification_id=%s", a)
            self._run("UPDATE {t} SET notification_id=%s WHERE notification_id=%s", a, b)
            self._run("UPDATE {t} SET notification_id=%s WHERE notification_id=-1", b)

    def leaves(self) -> list[tuple[int, str, int, bytes]]:
        rows = self._run(
            "SELECT seq, originator_id, originator_version, leaf_hash FROM {t} ORDER BY seq",
            suffix="_leaves",
        ).fetchall()
        return [(int(s), str(o), int(v), bytes(h)) for s, o, v, h in rows]

    def set_leaf(self, seq: int, leaf_hash: bytes) -> None:
        self._run("UPDATE {t} SET leaf_hash=%s WHERE seq=%s", leaf_hash, seq, suffix="_leaves")

    def delete_leaf(self, seq: int) -> None:
        self._run("DELETE FROM {t} WHERE seq=%s", seq, suffix="_leaves")

    def set_node(self, level: int, idx: int, value: bytes) -> None:
        seq = completing_seq(level, idx)
        roots = bytes(self._one("SELECT roots FROM {t} WHERE seq=%s", seq, suffix="_leaves"))
        self._run(
            "UPDATE {t} SET roots=%s WHERE seq=%s",
            with_node(roots, level, value),
            seq,
            suffix="_leaves",
        )

    def node(self, level: int, idx: int) -> bytes:
        seq = completing_seq(level, idx)
        roots = bytes(self._one("SELECT roots FROM {t} WHERE seq=%s", seq, suffix="_leaves"))
        found = node_in(roots, level)
        assert found is not None
        return found

    def delete_nodes_from(self, size: int) -> None:
        self._run("UPDATE {t} SET roots='' WHERE seq > %s", size, suffix="_leaves")

    def set_note(self, size: int, note: str) -> None:
        self._run("UPDATE {t} SET note=%s WHERE size=%s", note, size, suffix="_checkpoints")


def open_store(store: str, tmp_path: Path, schema: str | None) -> tuple[Ledger, Db]:
    """A ledger on SQLite or PostgreSQL and raw access to the same database."""
    app = make_ledger(store, tmp_path, schema)
    if store == "sqlite":
        return app, SQLiteDb(tmp_path / "lvyue.db")
    assert schema is not None
    return app, PostgresDb(schema)


def with_node(roots: bytes, level: int, value: bytes) -> bytes:
    """A leaf's `roots` with node `level` replaced by `value` (what a forger would write)."""
    end = level * len(value)
    assert len(roots) >= end, "that leaf completed no node at this level"
    return roots[: end - len(value)] + value + roots[end:]


def rebuild_nodes(db: Db) -> None:
    """What a thorough forger does after rewriting leaves: recompute every stored node."""
    tree = MemoryNodeStore()
    tree.append([leaf for _, _, _, leaf in db.leaves()])
    for (level, idx), value in tree._nodes.items():
        if level > 0:
            db.set_node(level, idx, value)


def rewrite_event(db: Db, seq: int, change: dict[str, Any]) -> bytes:
    """Change data fields of the event at `seq`; returns the new state bytes."""
    position = db.position_of(seq)
    record = json.loads(db.state(position))
    record["data"].update(change)
    state = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    db.set_state(position, state)
    return state


def forge_leaf(db: Db, seq: int, state: bytes) -> None:
    """Recompute leaf `seq` from `state` exactly as the seal would and store it."""
    leaves = db.leaves()
    _, stream, version, _ = leaves[seq - 1]
    prev = next((h for _, s, v, h in leaves if s == stream and v == version - 1), None)
    record = json.loads(state)
    record["seq"] = seq
    record["prev_hash"] = prev.hex() if prev is not None else None
    db.set_leaf(seq, record_leaf_hash(record))


# --------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------


def test_checkpoints_are_persisted_signed_and_consistent_on_every_store(
    any_ledger: Ledger,
) -> None:
    key, clock, log = signing_key(), Clock(), sealed(any_ledger)
    write_history(any_ledger, clock, tasks=1)
    first = sign_checkpoint(log, key, ORIGIN)
    body = read_checkpoint(first, key)
    assert (body.origin, body.size) == (ORIGIN, log.sealed_size())
    assert sign_checkpoint(log, key, ORIGIN) == first  # same size: the same note, nothing new
    write_history(any_ledger, clock, tasks=1, first=2)
    second = read_checkpoint(sign_checkpoint(log, key, ORIGIN), key)
    assert second.size == log.sealed_size() > body.size
    stored = log.all_checkpoints()
    assert [c.size for c in stored] == [body.size, second.size]
    assert stored[0].note == first
    assert log.latest_checkpoint() == stored[-1]
    proof = consistency_between(log, body.size, second.size)
    verify_consistency(
        body.size, second.size, [bytes.fromhex(h) for h in proof.proof], body.root, second.root
    )
    report = audit(log, key)
    assert report.ok
    assert report.checkpoints == 2
    assert report.root == second.root


def test_nothing_to_sign_in_an_empty_log() -> None:
    app = Ledger("memory://")
    with pytest.raises(EmptyLog):
        sign_checkpoint(sealed(app), signing_key(), ORIGIN)


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_never_signs_a_checkpoint_inconsistent_with_the_last(
    store: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    schema = request.getfixturevalue("pg_schema") if store == "postgres" else None
    app, db = open_store(store, tmp_path, schema)
    key, clock, log = signing_key(), Clock(), sealed(app)
    write_history(app, clock, tasks=1)
    size = read_checkpoint(sign_checkpoint(log, key, ORIGIN), key).size  # 15 leaves
    level, idx = frontier_keys(size)[0]  # the largest subtree the signed root rests on
    original = db.node(level, idx)
    db.set_node(level, idx, bytes(32))
    with pytest.raises(InconsistentCheckpoint, match="no longer reproduce"):
        sign_checkpoint(log, key, ORIGIN)  # same size: refused, not returned
    db.set_node(level, idx, original)  # (sealing on a rewritten node would poison new nodes)
    write_history(app, clock, tasks=1, first=2)
    db.set_node(level, idx, bytes(32))
    with pytest.raises(InconsistentCheckpoint):
        sign_checkpoint(log, key, ORIGIN)
    assert [c.size for c in log.all_checkpoints()] == [size]
    db.set_node(level, idx, original)
    assert read_checkpoint(sign_checkpoint(log, key, ORIGIN), key).size == log.sealed_size()
    app.close()


def test_refuses_to_sign_with_another_key() -> None:
    app = Ledger("memory://")
    write_history(app, Clock(), tasks=1)
    sign_checkpoint(sealed(app), signing_key(1), ORIGIN)
    with pytest.raises(InconsistentCheckpoint, match="does not verify"):
        sign_checkpoint(sealed(app), signing_key(2), ORIGIN)


def test_every_inclusion_and_consistency_proof_verifies(any_ledger: Ledger) -> None:
    log = sealed(any_ledger)
    write_history(any_ledger, Clock(), tasks=1)
    n = log.sealed_size()
    leaves = [row.leaf_hash for row in log.iter_leaves(0, n)]
    roots, tree = [], TreeBuilder()
    for leaf in leaves:
        tree.append(leaf)
        roots.append(tree.root())
    for size in range(1, n + 1):
        for seq in range(1, size + 1):
            proof = inclusion_proof_for(log, seq, size)
            assert bytes.fromhex(proof.root_hash) == roots[size - 1]
            path = [bytes.fromhex(h) for h in proof.proof]
            verify_inclusion(leaves[seq - 1], seq - 1, size, path, roots[size - 1])
        for size1 in range(1, size + 1):
            cons = consistency_between(log, size1, size)
            path = [bytes.fromhex(h) for h in cons.proof]
            verify_consistency(size1, size, path, roots[size1 - 1], roots[size - 1])
    proof = inclusion_proof_for(log, 3)  # default: the whole log
    assert proof.size == n
    tampered = [bytes.fromhex(h) for h in proof.proof]
    tampered[0] = bytes([tampered[0][0] ^ 1]) + tampered[0][1:]
    with pytest.raises(VerificationError):
        verify_inclusion(leaves[2], 2, n, tampered, roots[-1])


def test_proofs_outside_the_log_are_refused() -> None:
    app = Ledger("memory://")
    log = sealed(app)
    write_history(app, Clock(), tasks=1)
    n = log.sealed_size()
    for seq, size in ((0, n), (n + 1, None), (2, n + 1), (3, 2)):
        with pytest.raises(OutOfRange):
            inclusion_proof_for(log, seq, size)
    for size1, size2 in ((0, n), (3, 2), (1, n + 1)):
        with pytest.raises(OutOfRange):
            consistency_between(log, size1, size2)


def test_audit_passes_on_a_clean_store(any_ledger: Ledger) -> None:
    key, clock, log = signing_key(), Clock(), sealed(any_ledger)
    write_history(any_ledger, clock, tasks=2)
    sign_checkpoint(log, key, ORIGIN)
    write_history(any_ledger, clock, tasks=1, first=3)
    report = audit(log, key.verifier_key_text(), page=4)  # small pages cross page boundaries
    assert report.ok, report.findings
    assert report.size == report.events_checked == log.sealed_size()
    assert report.checkpoints == 1
    tree = TreeBuilder()
    for row in log.iter_leaves(0, 10_000):
        tree.append(row.leaf_hash)
    assert report.root == tree.root()
