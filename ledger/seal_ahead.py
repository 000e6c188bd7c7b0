"""Sealing planned before the write lock, from what this process committed last.

On PostgreSQL every statement of an append costs a client round of the pipeline, and the seal
needs the tree as the lock leaves it: its size, last leaf and frontier, and the leaf each
event links to (`prev_hash`). Usually this process wrote all of that itself a moment ago: the
recorder remembers the tree (TreeTip) and the latest leaf of the streams it appended to
(RecentLeaves). From those the seal is planned before the INSERT and sent inside it, guarded:
it lands only if, under the lock, the log still ends with the tip's leaf and every remembered
leaf it linked to is the stored one. Otherwise nothing of it lands and the store seals as
before, from what it read. A plan is an optimisation, never a source of truth.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eventsourcing.persistence import StoredEvent

from ledger.seal import AppendState, Leaf, SealPlan, StreamKey, TreeTip, plan_seal, previous_keys

RECENT_LIMIT = 4096
"""Streams whose latest leaf is remembered; past it the memory starts afresh."""


class RecentLeaves:
    """The latest committed leaf hash of the streams this process appended to lately.

    Plain dict operations only, so threads sharing a recorder need no lock: a lost or stale
    entry costs one plan, never a wrong seal (the guard compares it with the stored leaf).
    """

    def __init__(self, limit: int = RECENT_LIMIT) -> None:
        self.limit = limit
        self._hashes: dict[StreamKey, bytes] = {}

    def get(self, key: StreamKey) -> bytes | None:
        return self._hashes.get(key)

    def remember(self, leaves: Sequence[Leaf]) -> None:
        """After a COMMIT: each stream's newest leaf replaces the one before it."""
        if len(self._hashes) + len(leaves) > self.limit:
            self._hashes.clear()
        for leaf in leaves:
            stream = str(leaf.originator_id)
            self._hashes.pop((stream, leaf.originator_version - 1), None)
            self._hashes[(stream, leaf.originator_version)] = leaf.leaf_hash


@dataclass(frozen=True)
class AheadPlan:
    """A seal planned from `tip`, valid only if the log still ends there and the stored
    leaves of `previous` are these."""

    tip: TreeTip
    previous: dict[StreamKey, bytes]
    plan: SealPlan


def plan_ahead(
    tip: TreeTip, recent: RecentLeaves, stored_events: Sequence[StoredEvent]
) -> AheadPlan | None:
    """The batch's seal if the tip is known and every leaf it links to is remembered."""
    if tip.size < 0 or not stored_events:
        return None
    previous: dict[StreamKey, bytes] = {}
    for key in previous_keys(stored_events):
        found = recent.get(key)
        if found is None:
            return None
        previous[key] = found
    try:
        plan = plan_seal(AppendState(tip.size, previous, tip.frontier), stored_events)
    except ValueError:  # a record the reference refuses: the locked path raises it
        return None
    return AheadPlan(tip, previous, plan)
