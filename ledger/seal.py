"""Sealing: every committed event becomes leaf `seq` of one RFC 9162 Merkle tree.

Runs inside the event-store write transaction, after the library has inserted the events and
while its write lock (SQLite's single writer, PostgreSQL's table lock) is held, so leaves are
numbered in commit order with no gaps and no event is ever visible unsealed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from ledger.leaf_hash import event_canonical
from ledger.merkle import Frontier, NodeRow, append_leaves
from lvyue_verify import canonical_json, leaf_hash


@dataclass(frozen=True)
class Receipt:
    """An idempotency receipt written in the same transaction as the command's events."""

    command_id: str
    fingerprint: str
    result: str


class Leaf(NamedTuple):
    """One sealed event as stored in `ledger_leaves` (a tuple: made once per event, under
    the write lock, where a frozen dataclass's construction cost shows)."""

    seq: int
    originator_id: UUID | str
    originator_version: int
    leaf_hash: bytes


StreamKey = tuple[str, int]


@dataclass(frozen=True)
class AppendState:
    """What an append reads first: the tree size, the previous leaves and the frontier."""

    size: int
    previous: dict[StreamKey, bytes]
    frontier: Frontier


@dataclass(frozen=True)
class TreeTip:
    """The tree as this process last committed it: size, last leaf hash and frontier.

    An append under the write lock reads only the size and the last leaf; when both match,
    the frontier is this one and the store skips reading it. Only set after a COMMIT
    succeeded, so a rolled-back append never leaves its tree behind; another writer changes
    the size (or, after a restore, the last leaf), which makes the append read it.
    """

    size: int
    last: bytes | None
    frontier: Frontier


NO_TIP = TreeTip(-1, None, ())


class SealCursor(Protocol):
    """The few statements sealing needs, in each database's dialect."""

    def append_state(self, previous: Sequence[StreamKey]) -> AppendState:
        """The tree size, the leaf hashes of `previous` and the nodes of frontier_keys(size),
        read together (one statement on the SQL stores)."""
        ...

    def insert_seal(self, leaves: Sequence[Leaf], nodes: Sequence[NodeRow]) -> None:
        """Store the batch's leaves and its new inner nodes (level > 0)."""
        ...

    def insert_receipt(self, receipt: Receipt) -> None: ...


def public_record_of(stored: StoredEvent) -> dict[str, Any]:
    """The stored state as a public record; foreign payloads get an opaque record.

    Our mapper always writes a JSON object. Anything else (the library's own recorder test
    cases write raw bytes) is still sealed, by digest, so no row escapes the tree.
    """
    try:
        record = json.loads(stored.state)
    except (ValueError, UnicodeDecodeError):
        record = None
    if isinstance(record, dict) and "type" in record:
        return record
    return {
        "stream_id": _key(stored.originator_id),
        "stream_version": stored.originator_version,
        "type": stored.topic,
        "state_sha256": hashlib.sha256(stored.state).hexdigest(),
    }


def sealed_leaf_hash(stored: StoredEvent, seq: int, prev_hash: str | None) -> bytes:
    """The leaf hash of the public record with its `seq` and `prev_hash`."""
    return leaf_hash(sealed_record(stored, seq, prev_hash)[1])


def sealed_record(
    stored: StoredEvent, seq: int, prev_hash: str | None
) -> tuple[dict[str, Any], bytes]:
    """The public record with its `seq` and `prev_hash`, and its RFC 8785 bytes (what the
    leaf hashes): the fast path for our mapper's records (ledger/leaf_hash.py), the
    reference canonicaliser for the rest, which also raises every refusal (ValueError)."""
    fast = event_canonical(stored.state, seq, prev_hash)
    if fast is not None:
        return fast
    record = public_record_of(stored)
    record["seq"] = seq
    record["prev_hash"] = prev_hash
    return record, canonical_json(record)


def _key(originator_id: UUID | str) -> str:
    return str(originator_id)


def receipts_of(receipt: Receipt | Sequence[Receipt] | None) -> tuple[Receipt, ...]:
    """One command's receipt, or a batch's receipts (ledger/bulk.py): all travel with the events."""
    if receipt is None:
        return ()
    if isinstance(receipt, Receipt):
        return (receipt,)
    return tuple(receipt)


def previous_keys(stored_events: Sequence[StoredEvent]) -> list[StreamKey]:
    """The stream versions before the batch whose leaves its leaves link to (`prev_hash`);
    a version the batch itself holds is linked from the batch, so the store is not asked."""
    keys = [(_key(s.originator_id), s.originator_version) for s in stored_events]
    in_batch = set(keys)
    return [(k, v - 1) for k, v in keys if v > 1 and (k, v - 1) not in in_batch]


@dataclass(frozen=True)
class SealPlan:
    """One batch's seal, computed: its leaves, the inner nodes they complete, the tree after."""

    leaves: list[Leaf]
    nodes: list[NodeRow]
    after: TreeTip | None


def plan_seal(state: AppendState, stored_events: Sequence[StoredEvent]) -> SealPlan:
    """Number, link and hash the leaves of a batch that follows the tree `state` describes.

    `state.previous` must hold the leaf of every `previous_keys` entry that exists (a
    missing one links as the stream's first). Pure: a store may plan before it knows the
    tree for certain, if it checks `state` under the lock before the leaves land.
    """
    size, known = state.size, dict(state.previous)
    leaves: list[Leaf] = []
    for seq, stored in enumerate(stored_events, size + 1):
        stream, version = _key(stored.originator_id), stored.originator_version
        prev = known.get((stream, version - 1)) if version > 1 else None
        leaf_hash = sealed_leaf_hash(stored, seq, prev.hex() if prev is not None else None)
        known[(stream, version)] = leaf_hash
        leaves.append(Leaf(seq, stored.originator_id, version, leaf_hash))
    rows, frontier = append_leaves(size, state.frontier, [leaf.leaf_hash for leaf in leaves])
    after = TreeTip(size + len(leaves), leaves[-1].leaf_hash, frontier) if leaves else None
    return SealPlan(leaves, [row for row in rows if row[0] > 0], after)


def seal(
    cursor: SealCursor,
    stored_events: Sequence[StoredEvent],
    receipt: Receipt | Sequence[Receipt] | None,
) -> SealPlan:
    """Number, link, hash and store the leaves of one committed batch; the plan it stored
    (`after`: the tree once they commit, which a store that remembers its tip keeps)."""
    for each in receipts_of(receipt):
        cursor.insert_receipt(each)
    plan = plan_seal(cursor.append_state(previous_keys(stored_events)), stored_events)
    cursor.insert_seal(plan.leaves, plan.nodes)
    return plan
