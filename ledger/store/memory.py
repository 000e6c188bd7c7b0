"""The in-memory store for fast unit tests: the library's POPO recorder, sealed like the others."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.popo import POPOApplicationRecorder, POPOFactory

from ledger.seal import Leaf, Receipt, seal


class MemorySealCursor:
    """Sealing state held in dicts; the recorder's lock serialises writers."""

    def __init__(self) -> None:
        self.leaves: list[Leaf] = []
        self.by_stream: dict[tuple[str, int], bytes] = {}
        self.upper: dict[tuple[int, int], bytes] = {}
        self.receipts: dict[str, Receipt] = {}

    def tree_size(self) -> int:
        return len(self.leaves)

    def leaf_hashes_of(self, keys: Sequence[tuple[str, int]]) -> dict[tuple[str, int], bytes]:
        return {k: self.by_stream[k] for k in keys if k in self.by_stream}

    def nodes(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        found: dict[tuple[int, int], bytes] = {}
        for level, idx in keys:
            if level == 0 and idx < len(self.leaves):
                found[(0, idx)] = self.leaves[idx].leaf_hash
            elif (level, idx) in self.upper:
                found[(level, idx)] = self.upper[(level, idx)]
        return found

    def insert_leaves(self, leaves: Sequence[Leaf]) -> None:
        for leaf in leaves:
            self.leaves.append(leaf)
            self.by_stream[(str(leaf.originator_id), leaf.originator_version)] = leaf.leaf_hash

    def insert_nodes(self, rows: Sequence[tuple[int, int, bytes]]) -> None:
        self.upper.update({(level, idx): h for level, idx, h in rows})

    def insert_receipt(self, receipt: Receipt) -> None:
        self.receipts[receipt.command_id] = receipt


class SealingMemoryRecorder(POPOApplicationRecorder):
    """POPO recorder that checks receipts with the events and seals each batch."""

    def __init__(self) -> None:
        super().__init__()
        self.seal_state = MemorySealCursor()

    def _assert_uniqueness(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        super()._assert_uniqueness(stored_events, **kwargs)
        receipt: Receipt | None = kwargs.get("receipt")
        if receipt is not None and receipt.command_id in self.seal_state.receipts:
            raise IntegrityError(f"command {receipt.command_id} already recorded")

    def find_receipt(self, command_id: str) -> Receipt | None:
        with self._database_lock:
            return self.seal_state.receipts.get(command_id)

    def _update_table(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        notification_ids = super()._update_table(stored_events, **kwargs)
        seal(self.seal_state, stored_events, kwargs.get("receipt"))
        return notification_ids


class MemoryFactory(POPOFactory):
    """Selects the sealing recorder (the POPO factory ignores APPLICATION_RECORDER_TOPIC)."""

    def application_recorder(self) -> SealingMemoryRecorder:
        return SealingMemoryRecorder()
