"""The in-memory store for fast unit tests: the library's POPO recorder, sealed like the others."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.popo import POPOApplicationRecorder, POPOFactory

from ledger.merkle import NodeKey, NodeReader, NodeRow, frontier_keys, frontier_rows
from ledger.personal import KeySlot, VaultEntry, VaultWrites, guard_keys
from ledger.seal import AppendState, Leaf, Receipt, receipts_of, seal
from ledger.trail import EventRow, LeafRow, StoredCheckpoint, stream_key


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

    def append_state(self, previous: Sequence[tuple[str, int]]) -> AppendState:
        size = self.tree_size()
        frontier = frontier_rows(size, self.nodes(frontier_keys(size)))
        return AppendState(size, self.leaf_hashes_of(previous), frontier)

    def insert_seal(self, leaves: Sequence[Leaf], nodes: Sequence[NodeRow]) -> None:
        for leaf in leaves:
            self.leaves.append(leaf)
            self.by_stream[(str(leaf.originator_id), leaf.originator_version)] = leaf.leaf_hash
        self.upper.update({(level, idx): h for level, idx, h in nodes})

    def insert_receipt(self, receipt: Receipt) -> None:
        self.receipts[receipt.command_id] = receipt


class MemoryVault:
    """Subject keys (None once erased) and ciphertexts, guarded by the recorder's lock."""

    def __init__(self) -> None:
        self.keys: dict[str, bytes | None] = {}
        self.values: dict[tuple[str, str], bytes] = {}
        self._checked: tuple[VaultWrites, dict[str, bytes | None]] | None = None

    def check(self, writes: VaultWrites) -> None:
        """Refuse what the SQL stores' constraints refuse, before anything is changed."""
        for subject in writes.new_keys:
            if subject in self.keys:
                raise IntegrityError(f"{subject} already has a key slot")
        for value in writes.values:
            live = value.subject in writes.new_keys or self.keys.get(value.subject) is not None
            if not live:
                raise IntegrityError(f"{value.subject} has no live key (erased meanwhile?)")
            if (value.subject, value.digest) in self.values:
                raise IntegrityError(f"{value.subject} {value.digest} already stored")
        keys = {**self.keys, **writes.new_keys}
        guard_keys(DictKeyRows(keys), writes)  # a rotation re-wraps in this copy
        self._checked = (writes, keys)

    def apply(self, writes: VaultWrites) -> None:
        """Apply what `check` passed (the recorder runs both under its lock): its key table,
        already guarded and rotated, replaces ours."""
        checked, self._checked = self._checked, None
        if checked is None or checked[0] is not writes:
            raise RuntimeError("vault writes applied without their check")
        self.keys = checked[1]
        self.values.update({(v.subject, v.digest): v.ciphertext for v in writes.values})
        if writes.erase is not None:
            for pair in [pair for pair in self.values if pair[0] == writes.erase]:
                del self.values[pair]
            self.keys[writes.erase] = None


class DictKeyRows:
    """Subject keys in a dict (ledger.personal.KeyRows, for guard_keys)."""

    def __init__(self, keys: dict[str, bytes | None]) -> None:
        self.keys = keys

    def key_of(self, subject: str) -> bytes | None:
        return self.keys.get(subject)

    def live_keys(self) -> list[tuple[str, bytes]]:
        return sorted((s, k) for s, k in self.keys.items() if k is not None)

    def replace_keys(self, rows: Sequence[tuple[str, bytes]]) -> None:
        self.keys.update(rows)


class SealingMemoryRecorder(POPOApplicationRecorder):
    """POPO recorder that checks receipts with the events and seals each batch."""

    def __init__(self) -> None:
        super().__init__()
        self.seal_state = MemorySealCursor()
        self.checkpoints: dict[int, StoredCheckpoint] = {}
        self.vault_state = MemoryVault()

    def _assert_uniqueness(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        super()._assert_uniqueness(stored_events, **kwargs)
        for receipt in receipts_of(kwargs.get("receipt")):
            if receipt.command_id in self.seal_state.receipts:
                raise IntegrityError(f"command {receipt.command_id} already recorded")
        writes: VaultWrites | None = kwargs.get("vault")
        if writes:
            self.vault_state.check(writes)

    def find_receipt(self, command_id: str) -> Receipt | None:
        with self._database_lock:
            return self.seal_state.receipts.get(command_id)

    def find_receipts(self, command_ids: Sequence[str]) -> dict[str, Receipt]:
        with self._database_lock:
            known = self.seal_state.receipts
            return {c: known[c] for c in command_ids if c in known}

    def _update_table(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        notification_ids = super()._update_table(stored_events, **kwargs)
        seal(self.seal_state, stored_events, kwargs.get("receipt"))
        writes: VaultWrites | None = kwargs.get("vault")
        if writes:
            self.vault_state.apply(writes)
        return notification_ids

    # -- the personal-data vault (ledger.personal.Vault) ----------------------------------

    def read_vault(self, subject: str, digest: str | None) -> VaultEntry:
        """A subject's key slot and one ciphertext, under the lock."""
        with self._database_lock:
            keys = self.vault_state.keys
            slot = KeySlot(keys.get(subject), erased=subject in keys and keys[subject] is None)
            ciphertext = None if digest is None else self.vault_state.values.get((subject, digest))
        return VaultEntry(slot, ciphertext)

    def personal_count(self, subject: str) -> int:
        """How many personal values the vault holds for a subject."""
        with self._database_lock:
            return sum(1 for pair in self.vault_state.values if pair[0] == subject)


    def compact_vault(self) -> bool:
        """Nothing to compact: erased values are gone from the dicts."""
        return True

    # -- the read side of the log (ledger.trail.SealedLog) --------------------------------

    def sealed_size(self) -> int:
        """The number of sealed leaves."""
        with self._database_lock:
            return self.seal_state.tree_size()

    def node_reader(self) -> NodeReader:
        """Stored hashes, read under the recorder's lock."""
        return _MemoryNodeReader(self)

    def iter_events(self, after_position: int, limit: int) -> list[EventRow]:
        """A page of events after list position ``after_position`` (1-based)."""
        with self._database_lock:
            page = self._stored_events[after_position : after_position + limit]
            return [
                EventRow(
                    after_position + i + 1,
                    stream_key(s.originator_id),
                    s.originator_version,
                    s.topic,
                    s.state,
                )
                for i, s in enumerate(page)
            ]

    def select_states(self, after: int, limit: int) -> list[tuple[int, bytes]]:
        """(position, state) of a page of events after list position ``after`` (1-based)."""
        with self._database_lock:
            page = self._stored_events[after : after + limit]
            return [(after + i + 1, s.state) for i, s in enumerate(page)]

    def iter_leaves(self, after_seq: int, limit: int) -> list[LeafRow]:
        """A page of leaves after ``after_seq``."""
        with self._database_lock:
            page = self.seal_state.leaves[after_seq : after_seq + limit]
            return [_leaf_row(leaf) for leaf in page]

    def event_exists(self, originator_id: str, originator_version: int) -> bool:
        """Whether this stream version was stored."""
        with self._database_lock:
            return originator_version in self._stored_events_index.get(originator_id, {})

    def leaf_of(self, originator_id: str, originator_version: int) -> LeafRow | None:
        """The leaf sealing this stream version."""
        with self._database_lock:
            for leaf in self.seal_state.leaves:
                if (stream_key(leaf.originator_id), leaf.originator_version) == (
                    originator_id,
                    originator_version,
                ):
                    return _leaf_row(leaf)
        return None

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        """The largest signed checkpoint."""
        with self._database_lock:
            return self.checkpoints[max(self.checkpoints)] if self.checkpoints else None

    def all_checkpoints(self) -> list[StoredCheckpoint]:
        """Every signed checkpoint, smallest first."""
        with self._database_lock:
            return [self.checkpoints[size] for size in sorted(self.checkpoints)]

    def record_checkpoint(self, size: int, root: bytes, note: str) -> StoredCheckpoint:
        """Keep the first checkpoint recorded for each size."""
        with self._database_lock:
            return self.checkpoints.setdefault(size, StoredCheckpoint(size, root, note))


def _leaf_row(leaf: Leaf) -> LeafRow:
    return LeafRow(
        leaf.seq, stream_key(leaf.originator_id), leaf.originator_version, leaf.leaf_hash
    )


class _MemoryNodeReader:
    """A NodeReader over the in-memory seal state."""

    def __init__(self, recorder: SealingMemoryRecorder) -> None:
        self.recorder = recorder

    def nodes(self, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        with self.recorder._database_lock:
            return self.recorder.seal_state.nodes(keys)


class MemoryFactory(POPOFactory):
    """Selects the sealing recorder (the POPO factory ignores APPLICATION_RECORDER_TOPIC)."""

    def application_recorder(self) -> SealingMemoryRecorder:
        return SealingMemoryRecorder()
