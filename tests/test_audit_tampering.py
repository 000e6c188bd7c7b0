"""Database tampering behind the ledger's back: the audit names the kind and the first bad seq.

Each case runs on SQLite and on PostgreSQL, editing the tables directly as an insider with
database access would. The history is 22 events (staff + two work orders), signed at 22; the
audit reads in pages of 4 so every walk crosses page boundaries.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest

from ledger.checkpoint import SigningKey
from ledger.ledger import Ledger
from ledger.trail import (
    AuditReport,
    InconsistentCheckpoint,
    SealedLog,
    audit,
    read_checkpoint,
    sign_checkpoint,
)
from tests.clock import Clock
from tests.test_trail import (
    ORIGIN,
    Db,
    forge_leaf,
    open_store,
    rebuild_nodes,
    rewrite_event,
    sealed,
    signing_key,
    write_history,
)

PAGE = 4


class Store:
    """A signed 22-event history and raw access to the database under it."""

    def __init__(self, app: Ledger, db: Db, key: SigningKey) -> None:
        self.app, self.db, self.key = app, db, key
        self.log: SealedLog = sealed(app)
        write_history(app, Clock(), tasks=2)
        self.size = read_checkpoint(sign_checkpoint(self.log, key, ORIGIN), key).size

    def audit(self) -> AuditReport:
        return audit(self.log, self.key, page=PAGE)

    def first(self) -> tuple[str, int | None]:
        report = self.audit()
        assert report.first is not None, "the audit missed the tampering"
        return report.first.kind, report.first.seq

    def last_version_seq(self, before: int) -> int:
        """A seq below `before` whose event is the latest of its stream (no later prev_hash)."""
        leaves = self.db.leaves()
        latest = {stream: seq for seq, stream, _, _ in leaves}
        return max(seq for seq in latest.values() if seq < before)


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    schema = request.getfixturevalue("pg_schema") if request.param == "postgres" else None
    app, db = open_store(request.param, tmp_path, schema)
    yield Store(app, db, signing_key())
    app.close()


def test_clean_store_passes(store: Store) -> None:
    report = store.audit()
    assert report.ok
    assert report.size == store.size == 22


def test_one_field_changed_in_valid_json(store: Store) -> None:
    rewrite_event(store.db, 9, {"description": "无漏水 no leak"})
    assert store.first() == ("changed", 9)


def test_bytes_that_are_not_json(store: Store) -> None:
    store.db.set_state(store.db.position_of(7), b"\xff\xfe not json {")
    report = store.audit()
    assert report.first is not None
    assert (report.first.kind, report.first.seq) == ("changed", 7)
    assert "no longer a JSON public record" in report.first.message


def test_float_in_an_event_is_a_finding_not_a_crash(store: Store) -> None:
    position = store.db.position_of(5)
    record = json.loads(store.db.state(position))
    record["data"]["rating"] = 4.5
    store.db.set_state(position, json.dumps(record).encode())
    assert store.first() == ("changed", 5)


def test_deleted_event_row(store: Store) -> None:
    store.db.delete_event(store.db.position_of(6))
    assert store.first() == ("deleted", 6)


def test_deleted_last_event_row(store: Store) -> None:
    store.db.delete_event(store.db.position_of(store.size))
    assert store.first() == ("deleted", store.size)


def test_swapped_states_of_two_rows(store: Store) -> None:
    a, b = store.db.position_of(4), store.db.position_of(10)
    state_a, state_b = store.db.state(a), store.db.state(b)
    store.db.set_state(a, state_b)
    store.db.set_state(b, state_a)
    report = store.audit()
    assert report.first is not None
    assert (report.first.kind, report.first.seq) == ("reordered", 4)
    assert "sealed at seq 10" in report.first.message


def test_swapped_rows_out_of_commit_order(store: Store) -> None:
    store.db.swap_positions(store.db.position_of(11), store.db.position_of(12))
    assert store.first() == ("reordered", 11)


def test_inserted_event_row(store: Store) -> None:
    state = store.db.state(store.db.position_of(3))
    store.db.insert_event(UUID(int=42), 1, "StaffOnboarded", state)
    assert store.first() == ("inserted", store.size + 1)


def test_missing_leaf_is_a_gap(store: Store) -> None:
    store.db.delete_leaf(8)
    assert store.first() == ("gap", 8)


def test_leaf_rewritten_with_its_event_is_caught_by_the_nodes(store: Store) -> None:
    seq = store.last_version_seq(store.size)
    forge_leaf(store.db, seq, rewrite_event(store.db, seq, {"quality": "excellent"}))
    report = store.audit()
    kinds = [f.kind for f in report.findings]
    assert kinds == ["checkpoint", "node"]
    node = report.findings[1]
    assert node.seq is not None
    assert node.seq <= seq < node.seq + 2


def test_leaf_event_and_nodes_rewritten_is_caught_by_the_checkpoint(store: Store) -> None:
    seq = store.last_version_seq(store.size)
    forge_leaf(store.db, seq, rewrite_event(store.db, seq, {"quality": "excellent"}))
    rebuild_nodes(store.db)
    report = store.audit()
    assert report.first is not None
    assert [f.kind for f in report.findings] == ["checkpoint"]
    assert report.first.size == store.size
    with pytest.raises(InconsistentCheckpoint):
        sign_checkpoint(store.log, store.key, ORIGIN)


def test_truncated_log_is_caught_by_the_checkpoint(store: Store) -> None:
    store.db.delete_event(store.db.position_of(store.size))
    store.db.delete_leaf(store.size)
    store.db.delete_nodes_from(store.size - 1)
    assert store.first() == ("checkpoint", store.size)
    with pytest.raises(InconsistentCheckpoint, match="leaves were removed"):
        sign_checkpoint(store.log, store.key, ORIGIN)


def test_rewritten_node_alone(store: Store) -> None:
    store.db.set_node(1, 3, bytes(32))  # leaves 7 and 8
    report = store.audit()
    assert [(f.kind, f.seq) for f in report.findings] == [("node", 7)]


def test_forged_checkpoint_signature(store: Store) -> None:
    note = store.log.all_checkpoints()[0].note
    forged = note.replace(ORIGIN + " ", ORIGIN + " A", 1)
    store.db.set_note(store.size, forged)
    report = store.audit()
    assert report.first is not None
    assert (report.first.kind, report.first.size) == ("checkpoint", store.size)
