"""SQLite sealing remembers the tree it last committed (ledger.seal.TreeTip) and skips the
frontier reads while the file still ends with that tree; two processes (here: two
recorders on one file) and rolled-back appends must never make it build on a stale one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid5

import pytest
from eventsourcing.persistence import StoredEvent

from ledger.ledger import Ledger
from ledger.store import sqlite as sqlite_store
from ledger.store.sqlite import SealingSQLiteRecorder, SQLiteSealCursor
from ledger.trail import SealedLog, audit
from tests.test_trail import signing_key


def event(name: str, version: int = 1) -> StoredEvent:
    state = f'{{"type":"Noted","name":"{name}","v":{version}}}'.encode()
    return StoredEvent(uuid5(UUID(int=0), name), version, "topic", state)


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[Ledger, Ledger]]:
    first = Ledger(f"sqlite:///{tmp_path / 'lvyue.db'}")
    second = Ledger(f"sqlite:///{tmp_path / 'lvyue.db'}")
    yield first, second
    second.close()
    first.close()


def sealed(app: Ledger) -> SealedLog:
    log = app.recorder
    assert isinstance(log, SealedLog)
    return log


def test_two_writers_interleaved_keep_one_whole_tree(pair: tuple[Ledger, Ledger]) -> None:
    first, second = pair
    n = 0
    for i in range(40):
        batch = [event(f"w-{i}-{j}") for j in range(1 + i % 4)]
        (first if i % 3 else second).recorder.insert_events(batch)
        n += len(batch)
    assert sealed(first).sealed_size() == n
    assert audit(sealed(first), signing_key()).ok


def test_the_frontier_is_read_only_when_the_tree_moved(
    pair: tuple[Ledger, Ledger], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = pair
    reads: list[int] = []
    original = SQLiteSealCursor.nodes

    def counting(self: SQLiteSealCursor, keys: Any) -> Any:
        reads.append(1)
        return original(self, keys)

    monkeypatch.setattr(SQLiteSealCursor, "nodes", counting)
    for i in range(10):
        first.recorder.insert_events([event(f"a-{i}")])
    assert len(reads) == 1  # the first append knew no tree yet
    second.recorder.insert_events([event("b")])
    first.recorder.insert_events([event("c")])
    assert len(reads) == 3  # second's first append, then first's after second moved it
    assert audit(sealed(first), signing_key()).ok


def test_a_rolled_back_append_leaves_the_remembered_tree(
    pair: tuple[Ledger, Ledger], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even when another writer then commits a different leaf where the failed one was."""
    first, second = pair
    first.recorder.insert_events([event("base")])
    original = SealingSQLiteRecorder._insert_events

    def failing(self: SealingSQLiteRecorder, *args: Any, **kwargs: Any) -> Any:
        original(self, *args, **kwargs)
        raise RuntimeError("after the seal, before the commit")

    monkeypatch.setattr(SealingSQLiteRecorder, "_insert_events", failing)
    with pytest.raises(RuntimeError):
        first.recorder.insert_events([event("lost")])
    monkeypatch.setattr(SealingSQLiteRecorder, "_insert_events", original)
    second.recorder.insert_events([event("other")])
    for i in range(5):
        first.recorder.insert_events([event(f"after-{i}")])
    assert sealed(first).sealed_size() == 7
    assert audit(sealed(first), signing_key()).ok


def test_appends_never_scan_the_leaves(
    pair: tuple[Ledger, Ledger], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A healthy file finds every previous leaf through the events table's key: versions in
    the same batch are linked from the batch, earlier ones by rowid, and a version with no
    event row links nothing; the full scan (LEAF_SCAN) is for tampered files only."""
    first, _ = pair
    monkeypatch.setattr(sqlite_store, "LEAF_SCAN", "SELECT no_such_function()")
    first.recorder.insert_events([event("s", v) for v in range(1, 40)])
    first.recorder.insert_events([event("s", v) for v in range(40, 80)] + [event("t")])
    first.recorder.insert_events([event("s", 80)])
    first.recorder.insert_events([event("gap", 5)])  # versions 1-4 never existed
    assert sealed(first).sealed_size() == 82
    assert audit(sealed(first), signing_key()).ok
