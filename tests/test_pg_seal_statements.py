"""PostgreSQL sealing statements are prepared server-side and sent behind the events' insert
in one pipeline: a failed insert skips them, and the connection must stay usable after it
(psycopg must not believe a statement prepared whose PREPARE the server skipped)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID, uuid5

import pytest
from eventsourcing.persistence import IntegrityError, InternalError, StoredEvent

from ledger.ledger import Ledger
from ledger.seal import Receipt
from ledger.store.postgres import PostgresSealCursor, SealingPostgresRecorder
from ledger.trail import SealedLog, audit
from tests.conftest import PG_URL, make_ledger
from tests.test_trail import signing_key

ONE_CONNECTION = {"POSTGRES_POOL_SIZE": "1", "POSTGRES_MAX_OVERFLOW": "0"}


def event(name: str, version: int = 1) -> StoredEvent:
    state = f'{{"type":"Noted","name":"{name}","v":{version}}}'.encode()
    return StoredEvent(uuid5(UUID(int=0), name), version, "topic", state)


@pytest.fixture
def pair(pg_schema: str, tmp_path: object) -> Iterator[tuple[Ledger, Ledger]]:
    """Two ledgers on one schema, each with a single pooled connection."""
    first = make_ledger("postgres", tmp_path, pg_schema)  # type: ignore[arg-type]
    second = Ledger(PG_URL, env={"POSTGRES_SCHEMA": pg_schema, **ONE_CONNECTION})
    yield first, second
    second.close()
    first.close()


def test_a_failed_insert_leaves_the_connection_usable(pair: tuple[Ledger, Ledger]) -> None:
    first, second = pair
    first.recorder.insert_events([event("taken")])
    for i in range(8):  # fresh connection first, then past psycopg's prepare threshold
        with pytest.raises(IntegrityError):
            second.recorder.insert_events([event("taken")], receipt=Receipt(f"c{i}", "f", "r"))
        second.recorder.insert_events([event(f"ok-{i}")], receipt=Receipt(f"c{i}", "f", "r"))
        second.recorder.insert_events([event(f"ok-{i}", 2)])
    log = second.recorder
    assert isinstance(log, SealedLog)
    assert log.sealed_size() == 17
    assert audit(log, signing_key()).ok


def test_a_repeated_receipt_leaves_the_connection_usable(pair: tuple[Ledger, Ledger]) -> None:
    _, second = pair
    for i in range(8):
        second.recorder.insert_events([event(f"a-{i}")], receipt=Receipt(f"r{i}", "f", "r"))
        with pytest.raises(IntegrityError):
            second.recorder.insert_events([event(f"b-{i}")], receipt=Receipt(f"r{i}", "f", "r"))
    log = second.recorder
    assert isinstance(log, SealedLog)
    assert log.sealed_size() == 8
    assert audit(log, signing_key()).ok


def test_two_writers_interleaved_keep_one_whole_tree(pair: tuple[Ledger, Ledger]) -> None:
    """Each recorder remembers the tree it last committed; the other's appends change the
    size under it, so it reads the frontier again instead of building on a stale one."""
    first, second = pair
    n = 0
    for i in range(40):
        writer = first if i % 3 else second
        batch = [event(f"w-{i}-{j}") for j in range(1 + i % 4)]
        writer.recorder.insert_events(batch)
        n += len(batch)
    log = first.recorder
    assert isinstance(log, SealedLog)
    assert log.sealed_size() == n
    assert audit(log, signing_key()).ok


def test_a_rolled_back_seal_does_not_mislead_the_next(
    pair: tuple[Ledger, Ledger], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An append that fails after computing its tree leaves the remembered tree as it was,
    even when another writer then commits a different leaf at the same position."""
    first, second = pair
    first.recorder.insert_events([event("base")])

    def failing(self: SealingPostgresRecorder) -> None:
        raise RuntimeError("after the seal, before the commit")

    monkeypatch.setattr(SealingPostgresRecorder, "before_commit", failing)
    with pytest.raises(InternalError):
        first.recorder.insert_events([event("lost")])
    monkeypatch.undo()
    second.recorder.insert_events([event("other")])  # seq 2, where "lost" would have been
    for i in range(5):
        first.recorder.insert_events([event(f"after-{i}")])
    log = first.recorder
    assert isinstance(log, SealedLog)
    assert log.sealed_size() == 7
    assert audit(log, signing_key()).ok


def spy_on_locked_seals(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the seals computed under the lock (PostgresSealCursor.insert_seal)."""
    calls: list[int] = []
    original = PostgresSealCursor.insert_seal

    def counted(self: PostgresSealCursor, *args: Any) -> None:
        calls.append(1)
        original(self, *args)

    monkeypatch.setattr(PostgresSealCursor, "insert_seal", counted)
    return calls


def test_a_lone_writer_seals_ahead_inside_its_insert(
    pair: tuple[Ledger, Ledger], monkeypatch: pytest.MonkeyPatch
) -> None:
    """After its first append a writer knows the tree and its streams' last leaves, so its
    seals travel inside the events' INSERT (ledger/seal_ahead.py) and none is computed
    under the lock; new streams, next versions and batches alike."""
    first, _ = pair
    calls = spy_on_locked_seals(monkeypatch)
    first.recorder.insert_events([event("s")])
    assert len(calls) == 1  # nothing remembered yet
    for version in range(2, 6):
        first.recorder.insert_events([event("s", version)])
    first.recorder.insert_events([event("t"), event("t", 2), event("s", 6)])
    first.recorder.insert_events([event("u")], receipt=Receipt("ahead", "f", "r"))
    assert len(calls) == 1
    log = first.recorder
    assert isinstance(log, SealedLog)
    assert log.sealed_size() == 9
    assert audit(log, signing_key()).ok


def test_a_seal_planned_from_a_wrong_leaf_does_not_land(
    pair: tuple[Ledger, Ledger], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The INSERT checks every remembered leaf a plan links to against the stored one; a
    wrong memory (here planted) costs the plan, and the seal is computed from the store."""
    first, second = pair
    first.recorder.insert_events([event("s")])
    recorder = first.recorder
    assert isinstance(recorder, SealingPostgresRecorder)
    key = (str(event("s").originator_id), 1)
    assert recorder._recent.get(key) is not None
    recorder._recent._hashes[key] = bytes(32)
    calls = spy_on_locked_seals(monkeypatch)
    first.recorder.insert_events([event("s", 2)])
    assert len(calls) == 1
    second.recorder.insert_events([event("s", 3)])  # knows no tree yet: seals under the lock
    assert len(calls) == 2
    first.recorder.insert_events([event("s", 4)])  # a stale tip: planned, refused, recomputed
    assert len(calls) == 3
    log = second.recorder
    assert isinstance(log, SealedLog)
    assert log.sealed_size() == 4
    assert audit(log, signing_key()).ok


def test_the_append_is_planned_once_per_connection(pair: tuple[Ledger, Ledger]) -> None:
    """Every execution of the append statement uses the generic plan: no fresh planning in
    the first executions on each pooled connection, and the lock timeout still applies."""
    _, second = pair
    recorder = second.recorder
    assert isinstance(recorder, SealingPostgresRecorder)
    for i in range(8):
        recorder.insert_events([event(f"p-{i}")], receipt=Receipt(f"p{i}", "f", "r"))
        recorder.insert_events([event(f"p-{i}", 2)])
    with recorder.datastore.get_connection() as conn:
        plans = conn.execute(
            "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements "
            "WHERE statement LIKE 'WITH z AS (SELECT pg_notify%'"
        ).fetchall()
        with conn.transaction():
            conn.execute(recorder.lock_table_statements[0])
            timeout = conn.execute("SHOW lock_timeout").fetchone()
    assert plans
    assert sum(row["generic_plans"] for row in plans) == 16
    assert all(row["custom_plans"] == 0 for row in plans)
    assert timeout is not None
    assert timeout["lock_timeout"] == f"{recorder.datastore.lock_timeout}s"
