"""Where the SQL stores keep inner Merkle nodes: in the row of the leaf that completed them.

The level-k node at index j (k >= 1) covers leaves ``[j * 2**k, (j + 1) * 2**k)``; appending
leaf ``seq = (j + 1) * 2**k`` completes it, together with the nodes of every level below k
that the same leaf completes. So the leaf row of ``seq`` carries, in a `roots` column, the
hashes of levels 1, 2, ... k it completed, 32 bytes each (k = the trailing zero bits of
``seq``, one node per leaf on average). An append then writes one row per event instead of a
leaf row plus node rows in a separate table: one table and its pages less per commit, and
every hash of the tree is found by ``seq``, the leaf table's primary key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from ledger.merkle import NodeKey, NodeRow
from lvyue_verify import HASH_SIZE


def completing_seq(level: int, idx: int) -> int:
    """The seq of the leaf whose row holds node (level, idx): (idx + 1) * 2**level."""
    return (idx + 1) << level


def roots_of(nodes: Iterable[NodeRow]) -> dict[int, bytes]:
    """The `roots` value of each leaf that completed some of `nodes` (level > 0 only)."""
    by_seq: dict[int, list[tuple[int, bytes]]] = {}
    for level, idx, value in nodes:
        if level > 0:
            by_seq.setdefault(completing_seq(level, idx), []).append((level, value))
    return {seq: _joined(seq, parts) for seq, parts in by_seq.items()}


def _joined(seq: int, parts: list[tuple[int, bytes]]) -> bytes:
    parts.sort()
    if [level for level, _ in parts] != list(range(1, len(parts) + 1)):
        raise ValueError(f"the nodes completed by leaf {seq} do not run from level 1 up")
    return b"".join(value for _, value in parts)


def node_in(roots: bytes, level: int) -> bytes | None:
    """Node `level` (>= 1) of a leaf's `roots`, or None where the row holds no such node."""
    end = level * HASH_SIZE
    return roots[end - HASH_SIZE : end] if len(roots) >= end else None


def nodes_from_rows(
    keys: Sequence[NodeKey], rows: Mapping[int, tuple[bytes, bytes]]
) -> dict[NodeKey, bytes]:
    """The stored hashes of `keys`, given the (leaf_hash, roots) of each completing seq."""
    found: dict[NodeKey, bytes] = {}
    for level, idx in keys:
        row = rows.get(completing_seq(level, idx))
        if row is None:
            continue
        value = row[0] if level == 0 else node_in(row[1], level)
        if value is not None:
            found[(level, idx)] = value
    return found
