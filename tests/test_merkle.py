"""Merkle proofs: published RFC 6962 vectors, a naive reference, and generated tampering."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from functools import partial

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.merkle import (
    MemoryNodeStore,
    MissingNodeError,
    consistency_proof,
    frontier_keys,
    inclusion_proof,
    new_nodes_for_append,
    root_at,
)
from lvyue_verify import (
    TreeBuilder,
    VerificationError,
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
)

RFC_INPUTS = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657"]
RFC_INPUTS.append("606162636465666768696a6b6c6d6e6f")
RFC_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
RFC_LEAVES = [leaf_hash(bytes.fromhex(data)) for data in RFC_INPUTS]


def rfc_store() -> MemoryNodeStore:
    store = MemoryNodeStore()
    store.append(RFC_LEAVES[:3])
    store.append(RFC_LEAVES[3:])
    return store


def prefixes(proof: list[bytes]) -> list[str]:
    return [item.hex()[:8] for item in proof]


# --- naive reference: the RFC 6962 definitions, transcribed recursively -----------------


def split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaves: list[bytes]) -> bytes:
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = split(len(leaves))
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def path(m: int, leaves: list[bytes]) -> list[bytes]:
    if len(leaves) == 1:
        return []
    k = split(len(leaves))
    if m < k:
        return [*path(m, leaves[:k]), mth(leaves[k:])]
    return [*path(m - k, leaves[k:]), mth(leaves[:k])]


def subproof(m: int, leaves: list[bytes], whole: bool) -> list[bytes]:
    if m == len(leaves):
        return [] if whole else [mth(leaves)]
    k = split(len(leaves))
    if m <= k:
        return [*subproof(m, leaves[:k], whole), mth(leaves[k:])]
    return [*subproof(m - k, leaves[k:], False), mth(leaves[:k])]


# --- published vectors ------------------------------------------------------------------


def test_hasher_vectors() -> None:
    """The transparency-dev hasher vectors."""
    assert leaf_hash(b"L123456").hex().startswith("395aa064aa4c29f7")
    assert node_hash(b"N123", b"N456").hex().startswith("aa217fe888e47007")


def test_roots_for_sizes_0_to_8() -> None:
    """Stored nodes and the streaming builder both give the published roots."""
    store = rfc_store()
    builder = TreeBuilder()
    for n, expected in enumerate(RFC_ROOTS):
        assert root_at(n, store).hex() == expected
        assert builder.root().hex() == expected
        if n < len(RFC_LEAVES):
            builder.append(RFC_LEAVES[n])


def test_published_inclusion_proofs() -> None:
    """Leaf 0 and leaf 5 of 8 (plus two more from the reference table)."""
    store = rfc_store()
    assert prefixes(inclusion_proof(0, 8, store)) == ["96a296d2", "5f083f0a", "6b47aaf2"]
    assert prefixes(inclusion_proof(5, 8, store)) == ["bc1a0643", "ca854ea1", "d37ee418"]
    assert prefixes(inclusion_proof(2, 3, store)) == ["fac54203"]
    assert prefixes(inclusion_proof(1, 5, store)) == ["6e340b9c", "5f083f0a", "bc1a0643"]


def test_published_consistency_proofs() -> None:
    """6 -> 8 and 2 -> 5 (plus 1 -> 8 and 6 -> 7)."""
    store = rfc_store()
    assert prefixes(consistency_proof(6, 8, store)) == ["0ebc5d34", "ca854ea1", "d37ee418"]
    assert prefixes(consistency_proof(2, 5, store)) == ["5f083f0a", "bc1a0643"]
    assert prefixes(consistency_proof(1, 8, store)) == ["96a296d2", "5f083f0a", "6b47aaf2"]
    assert prefixes(consistency_proof(6, 7, store)) == ["0ebc5d34", "b08693ec", "d37ee418"]


def test_proofs_equal_reference_for_small_trees() -> None:
    """Every proof for every size up to 33 equals the recursive RFC 6962 definition."""
    leaves = [leaf_hash(i.to_bytes(2, "big")) for i in range(33)]
    store = MemoryNodeStore()
    store.append(leaves)
    for n in range(1, 34):
        assert root_at(n, store) == mth(leaves[:n])
        for m in range(n):
            assert inclusion_proof(m, n, store) == path(m, leaves[:n])
        for m in range(1, n + 1):
            assert consistency_proof(m, n, store) == subproof(m, leaves[:n], True)


# --- storage helpers --------------------------------------------------------------------


def test_append_rows_cover_every_complete_subtree() -> None:
    """Appending in any split stores exactly the complete subtrees, level 0 included."""
    rows = new_nodes_for_append(0, {}, RFC_LEAVES[:5])
    keys = {(level, index) for level, index, _ in rows}
    assert keys == {(0, 0), (0, 1), (0, 2), (0, 3), (0, 4), (1, 0), (1, 1), (2, 0)}
    frontier = {(level, index): value for level, index, value in rows}
    assert frontier_keys(5) == [(2, 0), (0, 4)]
    more = new_nodes_for_append(5, frontier, RFC_LEAVES[5:])
    assert {(level, index) for level, index, _ in more} == {
        (0, 5),
        (0, 6),
        (0, 7),
        (1, 2),
        (1, 3),
        (2, 1),
        (3, 0),
    }


def test_missing_node_is_reported() -> None:
    """A store that lost a node fails loudly instead of hashing garbage."""
    with pytest.raises(MissingNodeError):
        new_nodes_for_append(3, {}, RFC_LEAVES[3:4])
    with pytest.raises(MissingNodeError):
        root_at(9, rfc_store())


class CountingStore(MemoryNodeStore):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[int] = []

    def nodes(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        self.calls.append(len(keys))
        return super().nodes(keys)


def test_proofs_fetch_logarithmically_many_nodes_in_one_batch() -> None:
    """One nodes() call per proof, with O(log n) keys."""
    store = CountingStore()
    store.append([leaf_hash(i.to_bytes(4, "big")) for i in range(1000)])
    store.calls.clear()
    inclusion_proof(617, 999, store)
    consistency_proof(333, 999, store)
    root_at(999, store)
    assert len(store.calls) == 3
    assert max(store.calls) <= 2 * 10


def test_invalid_generation_arguments() -> None:
    store = rfc_store()
    for call in (
        lambda: inclusion_proof(8, 8, store),
        lambda: inclusion_proof(-1, 8, store),
        lambda: consistency_proof(0, 8, store),
        lambda: consistency_proof(5, 4, store),
        lambda: root_at(-1, store),
    ):
        with pytest.raises(ValueError, match=r"size|index"):
            call()


# --- generated properties and tampering -------------------------------------------------


def flip(value: bytes, bit: int) -> bytes:
    data = bytearray(value)
    data[(bit // 8) % len(data)] ^= 1 << (bit % 8)
    return bytes(data)


def rejected(check: Callable[[], None]) -> bool:
    try:
        check()
    except VerificationError:
        return True
    return False


def inclusion_mutants(
    leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes
) -> list[tuple[str, Callable[[], None]]]:
    """The upstream probe families, as (name, verification call) pairs that must fail."""
    cases: list[tuple[str, Callable[[], None]]] = []
    for i, item in enumerate(proof):
        bad = [*proof[:i], flip(item, 37 * i + 5), *proof[i + 1 :]]
        cases.append((f"bit flip {i}", partial(verify_inclusion, leaf, index, size, bad, root)))
    variants = {
        "wrong leaf": (flip(leaf, 3), index, size, proof, root),
        "index +1": (leaf, index + 1, size, proof, root),
        "index -1": (leaf, index - 1, size, proof, root),
        "size *2": (leaf, index, size * 2, proof, root),
        "size /2": (leaf, index, size // 2, proof, root),
        "extra element": (leaf, index, size, [*proof, leaf], root),
        "leading element": (leaf, index, size, [leaf, *proof], root),
        "wrong root": (leaf, index, size, proof, flip(root, 1)),
        "short leaf": (leaf[:31], index, size, proof, root),
    }
    if proof:
        variants["removed element"] = (leaf, index, size, proof[:-1], root)
    for name, args in variants.items():
        cases.append((name, partial(verify_inclusion, *args)))
    return cases


def consistency_mutants(
    size1: int, size2: int, proof: list[bytes], root1: bytes, root2: bytes
) -> list[tuple[str, Callable[[], None]]]:
    cases: list[tuple[str, Callable[[], None]]] = []
    for i, item in enumerate(proof):
        bad = [*proof[:i], flip(item, 29 * i + 2), *proof[i + 1 :]]
        cases.append(
            (f"bit flip {i}", partial(verify_consistency, size1, size2, bad, root1, root2))
        )
    variants = {
        "swapped roots": (size1, size2, proof, root2, root1),
        "size 0": (0, size2, proof, root1, root2),
        "size1 > size2": (size2 + 1, size2, proof, root1, root2),
        "extra element": (size1, size2, [*proof, root1], root1, root2),
        "leading element": (size1, size2, [root1, *proof], root1, root2),
        "wrong first root": (size1, size2, proof, flip(root1, 9), root2),
        "wrong second root": (size1, size2, proof, root1, flip(root2, 9)),
        "size2 *2": (size1, size2 * 2, proof, root1, root2),
    }
    if proof:
        variants["removed element"] = (size1, size2, proof[:-1], root1, root2)
    for name, args in variants.items():
        cases.append((name, partial(verify_consistency, *args)))
    return cases


@settings(max_examples=100, deadline=None)
@given(
    size=st.integers(min_value=1, max_value=200),
    salt=st.binary(min_size=1, max_size=8),
    data=st.data(),
)
def test_generated_proofs_verify_and_tampering_fails(
    size: int, salt: bytes, data: st.DataObject
) -> None:
    """Every proof of a random tree verifies; every generated mutation of some of them fails."""
    leaves = [leaf_hash(salt + i.to_bytes(2, "big")) for i in range(size)]
    store = MemoryNodeStore()
    store.append(leaves)
    builder = TreeBuilder()
    for leaf in leaves:
        builder.append(leaf)
    root = root_at(size, store)
    assert root == builder.root()
    for index in range(size):
        verify_inclusion(leaves[index], index, size, inclusion_proof(index, size, store), root)
    for size1 in range(1, size + 1):
        verify_consistency(
            size1, size, consistency_proof(size1, size, store), root_at(size1, store), root
        )

    index = data.draw(st.integers(min_value=0, max_value=size - 1), label="index")
    proof = inclusion_proof(index, size, store)
    for name, call in inclusion_mutants(leaves[index], index, size, proof, root):
        assert rejected(call), name

    size1 = data.draw(st.integers(min_value=1, max_value=size), label="size1")
    proof = consistency_proof(size1, size, store)
    root1 = root_at(size1, store)
    for name, call in consistency_mutants(size1, size, proof, root1, root):
        if size1 == size and name == "swapped roots":
            continue
        assert rejected(call), name


def test_equal_sizes_need_empty_proof_and_equal_roots() -> None:
    store = rfc_store()
    root = root_at(5, store)
    verify_consistency(5, 5, [], root, root)
    assert rejected(lambda: verify_consistency(5, 5, [root], root, root))
    assert rejected(lambda: verify_consistency(5, 5, [], root, root_at(4, store)))


def test_empty_proof_for_growing_tree_is_rejected() -> None:
    store = rfc_store()
    assert rejected(lambda: verify_consistency(4, 8, [], root_at(4, store), root_at(8, store)))
