"""Merkle proof generation from stored complete-subtree hashes (RFC 9162 section 2.1).

Storage model: every complete subtree is stored once, keyed ``(level, index)``. Level 0 holds
the leaf hashes (index = seq - 1); the level-k node at index j is the hash of leaves
``[j * 2**k, (j + 1) * 2**k)``. Every hash a root or proof needs is either such a node or a
right-edge subtree that is rebuilt from its complete pieces, so each call fetches O(log n)
nodes in a single ``nodes()`` batch. Verification lives in ``lvyue_verify`` (the code a third
party runs); hashing is imported from there so both sides hash identically.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from lvyue_verify import EMPTY_ROOT, HASH_SIZE, node_hash

NodeKey = tuple[int, int]
NodeRow = tuple[int, int, bytes]
Frontier = tuple[NodeRow, ...]
"""The right edge of a tree: the rows of `frontier_keys(size)`, largest subtree first."""
Span = tuple[int, int]


class NodeReader(Protocol):
    """Batch read access to stored complete-subtree hashes."""

    def nodes(self, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        """The stored hashes of ``keys``; absent keys are simply missing from the result."""
        ...


class MissingNodeError(LookupError):
    """The node store lacks a hash the tree of the requested size must have."""


def frontier_keys(size: int) -> list[NodeKey]:
    """Keys of the complete subtrees along the right edge of a tree of ``size`` leaves.

    They are all an append needs (the left siblings of whatever the new leaves complete) and
    all a root needs, largest subtree first.
    """
    _check_size(size)
    return _span_keys(0, size)


def frontier_rows(size: int, nodes: Mapping[NodeKey, bytes]) -> Frontier:
    """The Frontier of a tree of `size` leaves from stored `nodes` (MissingNodeError if one
    is absent)."""
    return tuple((level, idx, _require(nodes, (level, idx))) for level, idx in frontier_keys(size))


def new_nodes_for_append(
    size: int, frontier: Mapping[NodeKey, bytes], leaves: Sequence[bytes]
) -> list[NodeRow]:
    """Every ``(level, index, hash)`` row to store when ``leaves`` follow ``size`` leaves.

    ``frontier`` must hold the nodes of ``frontier_keys(size)``. Level-0 rows are included.
    """
    return append_leaves(size, frontier_rows(size, frontier), leaves)[0]


def append_leaves(
    size: int, frontier: Frontier, leaves: Sequence[bytes]
) -> tuple[list[NodeRow], Frontier]:
    """`new_nodes_for_append`'s rows and the grown tree's Frontier.

    `frontier` must be the Frontier of `size` (from `frontier_rows`, or what the previous
    append returned): an append keeps it for the next one instead of looking keys up again.
    """
    stack = list(frontier)
    rows: list[NodeRow] = []
    for offset, leaf in enumerate(leaves):
        if len(leaf) != HASH_SIZE:
            raise ValueError(f"leaf hash {offset} is not {HASH_SIZE} bytes")
        node: NodeRow = (0, size + offset, leaf)
        rows.append(node)
        stack.append(node)
        while len(stack) > 1 and stack[-1][0] == stack[-2][0]:
            right, left = stack.pop(), stack.pop()
            node = (left[0] + 1, left[1] >> 1, node_hash(left[2], right[2]))
            rows.append(node)
            stack.append(node)
    return rows, tuple(stack)


def root_at(size: int, reader: NodeReader) -> bytes:
    """The RFC 9162 root of the first ``size`` leaves; SHA-256 of nothing for size 0."""
    _check_size(size)
    if size == 0:
        return EMPTY_ROOT
    return _span_hashes([(0, size)], reader)[0]


def inclusion_proof(index: int, size: int, reader: NodeReader) -> list[bytes]:
    """RFC 6962 ``PATH(index, D[size])``: the leaf's sibling first, the root's child last."""
    _check_size(size)
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is not below tree size {size}")
    return _span_hashes(_inclusion_spans(index, size), reader)


def consistency_proof(size1: int, size2: int, reader: NodeReader) -> list[bytes]:
    """RFC 6962 ``PROOF(size1, D[size2])``; empty when the sizes are equal."""
    _check_size(size2)
    if not 0 < size1 <= size2:
        raise ValueError(f"no consistency proof from size {size1} to size {size2}")
    if size1 == size2:
        return []
    return _span_hashes(_consistency_spans(size1, size2), reader)


def _inclusion_spans(index: int, size: int) -> list[Span]:
    """The leaf ranges whose hashes form the audit path, iterating RFC 6962 ``PATH``."""
    spans: list[Span] = []
    lo, hi = 0, size
    while hi - lo > 1:
        mid = lo + _split(hi - lo)
        if index < mid:
            spans.append((mid, hi))
            hi = mid
        else:
            spans.append((lo, mid))
            lo = mid
    spans.reverse()
    return spans


def _consistency_spans(size1: int, size2: int) -> list[Span]:
    """The leaf ranges of RFC 6962 ``SUBPROOF(size1, D[size2], true)``, iterated."""
    spans: list[Span] = []
    lo, hi, whole = 0, size2, True
    while size1 != hi:
        mid = lo + _split(hi - lo)
        if size1 <= mid:
            spans.append((mid, hi))
            hi = mid
        else:
            spans.append((lo, mid))
            lo, whole = mid, False
    if not whole:
        spans.append((lo, hi))
    spans.reverse()
    return spans


def _split(width: int) -> int:
    """The largest power of two strictly below ``width`` (width > 1)."""
    return 1 << ((width - 1).bit_length() - 1)


def _span_keys(lo: int, hi: int) -> list[NodeKey]:
    """The complete subtrees covering ``[lo, hi)``, largest first.

    Valid for every range RFC 9162 hashes: ``lo`` is aligned to the subtree holding the range.
    """
    keys: list[NodeKey] = []
    width, position = hi - lo, lo
    for level in range(width.bit_length() - 1, -1, -1):
        if width >> level & 1:
            if position % (1 << level):
                raise ValueError(f"[{lo}, {hi}) is not a subtree of an RFC 9162 tree")
            keys.append((level, position >> level))
            position += 1 << level
    return keys


def _span_hashes(spans: Sequence[Span], reader: NodeReader) -> list[bytes]:
    """Hash each range from one batched fetch of its complete pieces."""
    keys_per_span = [_span_keys(lo, hi) for lo, hi in spans]
    found = _fetch(reader, (key for keys in keys_per_span for key in keys))
    return [_fold([found[key] for key in keys]) for keys in keys_per_span]


def _fetch(reader: NodeReader, keys: Iterable[NodeKey]) -> dict[NodeKey, bytes]:
    wanted = sorted(set(keys))
    found = reader.nodes(wanted) if wanted else {}
    for key in wanted:
        _require(found, key)
    return found


def _fold(hashes: Sequence[bytes]) -> bytes:
    """Combine right-edge pieces from the right, as the RFC 9162 tree shape dictates."""
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def _require(nodes: Mapping[NodeKey, bytes], key: NodeKey) -> bytes:
    value = nodes.get(key)
    if value is None:
        raise MissingNodeError(f"node store has no hash at level {key[0]}, index {key[1]}")
    return value


def _check_size(size: int) -> None:
    if size < 0:
        raise ValueError(f"tree size {size} is negative")


class MemoryNodeStore:
    """An in-memory node store, for tests and for building small trees."""

    def __init__(self) -> None:
        self._nodes: dict[NodeKey, bytes] = {}
        self._size = 0

    @property
    def size(self) -> int:
        """Number of leaves stored."""
        return self._size

    def nodes(self, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        """The stored hashes among ``keys``."""
        return {key: self._nodes[key] for key in keys if key in self._nodes}

    def append(self, leaves: Sequence[bytes]) -> None:
        """Add leaf hashes and every subtree they complete."""
        frontier = self.nodes(frontier_keys(self._size))
        for level, index, value in new_nodes_for_append(self._size, frontier, leaves):
            self._nodes[(level, index)] = value
        self._size += len(leaves)
