"""Offline verifier for lvyue audit bundles (format ``lvyue-audit-bundle/1``).

One self-contained module a third party can vendor and read: it needs only the standard
library and ``cryptography`` (for Ed25519). It implements

- RFC 8785 (JCS) canonical JSON for the subset the ledger writes (no floats);
- the RFC 9162 section 2.1 Merkle tree hash, inclusion and consistency proof checks;
- C2SP signed notes and ``tlog-checkpoint`` bodies;
- the bundle checks of AUDIT-BUNDLE.md, in the order that page gives.

Usage: ``python lvyue_verify.py BUNDLE_DIR [--checkpoint FILE] [--key VERIFIER_KEY]``.
Exit status 0 = verified, 1 = a check failed, 2 = usage error.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import hmac
import json
import re
import sys
from collections.abc import Container, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO, Final, NoReturn

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MAX_SAFE_INTEGER",
    "BundleError",
    "BundleSummary",
    "Checkpoint",
    "TreeBuilder",
    "VerificationError",
    "VerifierKey",
    "canonical_json",
    "canonicalize_text",
    "ed25519_key_id",
    "format_checkpoint",
    "is_valid_key_name",
    "leaf_hash",
    "main",
    "node_hash",
    "parse_checkpoint",
    "parse_verifier_key",
    "record_leaf_hash",
    "verify_bundle",
    "verify_consistency",
    "verify_inclusion",
    "verify_note",
]

BUNDLE_FORMAT: Final = "lvyue-audit-bundle/1"
MANIFEST: Final = "manifest.json"
CHECKPOINT: Final = "checkpoint"
EVENTS: Final = "events.jsonl"
CONSISTENCY: Final = "consistency.json"
EARLIER: Final = "earlier checkpoint"

HASH_SIZE: Final = 32
MAX_SAFE_INTEGER: Final = 2**53 - 1
MAX_TREE_SIZE: Final = 2**63 - 1
MAX_DEPTH: Final = 200
MAX_LINE_BYTES: Final = 16 * 1024 * 1024
MAX_SMALL_FILE_BYTES: Final = 16 * 1024 * 1024
MAX_NOTE_BYTES: Final = 64 * 1024
MAX_SIGNATURES: Final = 100
ED25519_TYPE: Final = b"\x01"
EMPTY_ROOT: Final = hashlib.sha256(b"").digest()


class VerificationError(ValueError):
    """A proof, signature, note or bundle failed a check; the message names the check."""


class BundleError(VerificationError):
    """The first failed check of a bundle, with the file (and event ``seq``) it concerns."""

    def __init__(self, file: str, seq: int | None, message: str) -> None:
        super().__init__(message)
        self.file = file
        self.seq = seq
        self.message = message

    def location(self) -> str:
        """``file`` or ``file, seq n``: where a reader should look."""
        return self.file if self.seq is None else f"{self.file}, seq {self.seq}"


# --------------------------------------------------------------------------------------------
# RFC 8785 canonical JSON
# --------------------------------------------------------------------------------------------


def canonical_json(obj: object) -> bytes:
    """RFC 8785 bytes of ``obj``: the exact bytes every leaf hash is computed over.

    Accepts dicts (str keys), lists/tuples, str, int with |n| <= 2**53-1, bool and None;
    anything else (floats above all: decimals and money are strings) raises ValueError.
    """
    has_astral_key = _check_json(obj, 0)
    return _encode(obj, has_astral_key)


def _check_json(obj: object, depth: int) -> bool:
    """Validate the JSON subset; True when some object key lies outside the BMP."""
    if depth > MAX_DEPTH:
        raise ValueError(f"JSON nested deeper than {MAX_DEPTH} levels")
    if obj is None or isinstance(obj, bool | str):
        return False
    if isinstance(obj, int):
        _check_int(obj)
        return False
    if isinstance(obj, dict):
        return _check_object(obj, depth)
    if isinstance(obj, list | tuple):
        astral = False
        for item in obj:
            astral |= _check_json(item, depth + 1)
        return astral
    if isinstance(obj, float):
        raise ValueError(f"float {obj!r} is not allowed: write decimals as strings")
    raise ValueError(f"{type(obj).__name__} is not a JSON value")


def _check_object(obj: dict[Any, Any], depth: int) -> bool:
    astral = False
    for key, value in obj.items():
        if not isinstance(key, str):
            raise ValueError(f"object key {key!r} is not a string")
        astral |= not key.isascii() and max(key) > "\uffff"
        astral |= _check_json(value, depth + 1)
    return astral


def _check_int(value: int) -> None:
    if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        raise ValueError(f"integer {value} is outside +-(2**53-1), not exact in JSON")


def _encode(obj: object, has_astral_key: bool) -> bytes:
    """Serialize already-validated JSON.

    With only BMP keys, code-point order equals UTF-16 order, so ``sort_keys`` is JCS order.
    """
    try:
        if not has_astral_key:
            return _ENCODER.encode(obj).encode()
        parts: list[str] = []
        _write_jcs(obj, parts)
        return "".join(parts).encode()
    except UnicodeEncodeError as exc:
        raise ValueError("string holds a lone surrogate; JSON text must be valid Unicode") from exc


_ENCODER: Final = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":")
)


def _write_jcs(obj: object, out: list[str]) -> None:
    """The general JCS writer: object keys sorted by UTF-16 code units."""
    if isinstance(obj, dict):
        out.append("{")
        for i, key in enumerate(sorted(obj, key=_utf16_units)):
            out.append("," if i else "")
            out.append(json.dumps(key, ensure_ascii=False))
            out.append(":")
            _write_jcs(obj[key], out)
        out.append("}")
    elif isinstance(obj, list | tuple):
        out.append("[")
        for i, item in enumerate(obj):
            out.append("," if i else "")
            _write_jcs(item, out)
        out.append("]")
    else:
        out.append(json.dumps(obj, ensure_ascii=False))


def _utf16_units(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")


def _reject_float(text: str) -> NoReturn:
    raise ValueError(f"number {text[:40]} is not an integer")


def _reject_constant(text: str) -> NoReturn:
    raise ValueError(f"{text} is not valid JSON")


def _parse_int(text: str) -> int:
    """Bounded before conversion so a 10 MB digit string costs nothing."""
    if len(text) <= 15:  # |n| < 10**15 < 2**53: the common case, no further check
        return int(text)
    if len(text) > 17:
        raise ValueError(f"integer {text[:40]} is outside +-(2**53-1)")
    value = int(text)
    _check_int(value)
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Duplicate keys are ambiguous (parsers disagree on which wins), so they are refused."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        keys = [key for key, _ in pairs]
        duplicate = next(key for key in keys if keys.count(key) > 1)
        raise ValueError(f"duplicate object key {duplicate!r}")
    return obj


_DECODER: Final = json.JSONDecoder(
    object_pairs_hook=_unique_keys,
    parse_float=_reject_float,
    parse_int=_parse_int,
    parse_constant=_reject_constant,
)
# A non-BMP character can only come from a 4-byte UTF-8 sequence or a surrogate escape.
_SURROGATE_ESCAPE: Final = re.compile(r"\\u[dD][89abAB]")


def canonicalize_text(raw: bytes) -> bytes:
    """Parse UTF-8 JSON text strictly (no floats, no duplicate keys) and return its JCS bytes."""
    text = raw.decode("utf-8")
    return _encode(_DECODER.decode(text), _may_hold_astral(text))


def _loads(raw: bytes) -> tuple[Any, str]:
    """Strictly parse UTF-8 JSON; the text is returned for :func:`_may_hold_astral`."""
    text = raw.decode("utf-8")
    return _DECODER.decode(text), text


def _may_hold_astral(text: str) -> bool:
    """Whether the parsed value may hold a non-BMP character (a key needing the UTF-16 sort).

    Such a character is written either literally (then UTF-16 needs a surrogate pair, more
    than two bytes per character) or as a surrogate escape.
    """
    if "\\" in text and _SURROGATE_ESCAPE.search(text):
        return True
    return not text.isascii() and len(text.encode("utf-16-le")) != 2 * len(text)


# --------------------------------------------------------------------------------------------
# RFC 9162 Merkle tree
# --------------------------------------------------------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data): the prefix keeps a leaf from passing as an inner node."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def record_leaf_hash(record: dict[str, Any]) -> bytes:
    """The leaf hash of one public record: SHA-256(0x00 || JCS(record))."""
    return leaf_hash(canonical_json(record))


class TreeBuilder:
    """Streaming RFC 9162 tree hash; keeps one hash per set bit of the size (O(log n))."""

    __slots__ = ("_size", "_stack")

    def __init__(self) -> None:
        self._size = 0
        self._stack: list[bytes] = []

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    def append(self, leaf: bytes) -> None:
        """Add the next leaf hash, merging every subtree that becomes complete."""
        if len(leaf) != HASH_SIZE:
            raise ValueError("leaf hash must be 32 bytes")
        stack = self._stack
        stack.append(leaf)
        n = self._size
        while n & 1:
            right = stack.pop()
            stack[-1] = node_hash(stack[-1], right)
            n >>= 1
        self._size += 1

    def root(self) -> bytes:
        """MTH of the leaves so far; the empty tree hashes to SHA-256 of nothing."""
        if not self._stack:
            return EMPTY_ROOT
        result = self._stack[-1]
        for left in reversed(self._stack[:-1]):
            result = node_hash(left, result)
        return result


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """RFC 9162 section 2.1.3.2, with the length and range checks the RFC leaves implicit."""
    _check_hash(leaf_hash, "leaf hash")
    _check_hash(root, "root hash")
    _check_proof(proof)
    _check_size(size, "tree size")
    _check_size(index, "leaf index")
    if index >= size:
        raise VerificationError(f"leaf index {index} is not below tree size {size}")
    inner, border = _decompose(index, size)
    if len(proof) != inner + border:
        raise VerificationError(
            f"inclusion proof has {len(proof)} hashes; index {index} in size {size} "
            f"needs {inner + border}"
        )
    if not hmac.compare_digest(_inclusion_root(leaf_hash, index, size, proof), root):
        raise VerificationError("inclusion proof does not lead to the expected root")


def _inclusion_root(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    fn, sn, result = index, size - 1, leaf
    for sibling in proof:
        if sn == 0:
            raise VerificationError("inclusion proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            result = node_hash(sibling, result)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            result = node_hash(result, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError("inclusion proof is shorter than the path to the root")
    return result


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """RFC 9162 section 2.1.4.2: the tree of ``size2`` extends the tree of ``size1``."""
    _check_hash(root1, "first root hash")
    _check_hash(root2, "second root hash")
    _check_proof(proof)
    _check_size(size1, "first tree size")
    _check_size(size2, "second tree size")
    if size1 == 0:
        raise VerificationError("no consistency proof from tree size 0")
    if size1 > size2:
        raise VerificationError(f"first tree size {size1} exceeds second tree size {size2}")
    if size1 == size2:
        _check_same_tree(proof, root1, root2)
        return
    expected = _consistency_length(size1, size2)
    if len(proof) != expected:
        raise VerificationError(
            f"consistency proof has {len(proof)} hashes; {size1} -> {size2} needs {expected}"
        )
    first, second = _consistency_roots(size1, size2, proof, root1)
    if not hmac.compare_digest(first, root1):
        raise VerificationError(f"consistency proof does not rebuild the root of size {size1}")
    if not hmac.compare_digest(second, root2):
        raise VerificationError(f"consistency proof does not rebuild the root of size {size2}")


def _check_same_tree(proof: Sequence[bytes], root1: bytes, root2: bytes) -> None:
    if proof:
        raise VerificationError("consistency proof between equal sizes must be empty")
    if not hmac.compare_digest(root1, root2):
        raise VerificationError("two different roots for the same tree size")


def _consistency_length(size1: int, size2: int) -> int:
    shift = (size1 & -size1).bit_length() - 1
    inner, border = _decompose(size1 - 1, size2)
    start = 0 if size1 == 1 << shift else 1
    return start + inner - shift + border


def _consistency_roots(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes
) -> tuple[bytes, bytes]:
    path = [root1, *proof] if size1 & (size1 - 1) == 0 else list(proof)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    first = second = path[0]
    for item in path[1:]:
        if sn == 0:
            raise VerificationError("consistency proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            first = node_hash(item, first)
            second = node_hash(item, second)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            second = node_hash(second, item)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError("consistency proof is shorter than the path to the root")
    return first, second


def _decompose(index: int, size: int) -> tuple[int, int]:
    """Split an inclusion path into inner (below the fork) and border (right-edge) parts."""
    inner = (index ^ (size - 1)).bit_length()
    border = bin(index >> inner).count("1")
    return inner, border


def _check_hash(value: object, what: str) -> None:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise VerificationError(f"{what} must be {HASH_SIZE} bytes")


def _check_proof(proof: Sequence[bytes]) -> None:
    for position, item in enumerate(proof):
        _check_hash(item, f"proof hash {position}")


def _check_size(value: object, what: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise VerificationError(f"{what} must be a non-negative integer")
    if value > MAX_TREE_SIZE:
        raise VerificationError(f"{what} {value} exceeds 2**63-1")


# --------------------------------------------------------------------------------------------
# C2SP signed notes and checkpoints
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifierKey:
    """An Ed25519 note verifier key: ``<name>+<hex key id>+<base64(0x01 || public key)>``."""

    name: str
    key_id: bytes
    public_key: bytes

    def text(self) -> str:
        """The key in its published text form."""
        encoded = base64.b64encode(ED25519_TYPE + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    def verifies(self, message: bytes, signature: bytes) -> bool:
        """True when ``signature`` is this key's Ed25519 signature of ``message``."""
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True


@dataclass(frozen=True)
class Checkpoint:
    """A ``tlog-checkpoint`` body: the log's origin, tree size and root hash."""

    origin: str
    size: int
    root: bytes


def is_valid_key_name(name: str) -> bool:
    """C2SP: key names are non-empty, with no Unicode space and no ``+``."""
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


def ed25519_key_id(name: str, public_key: bytes) -> bytes:
    """Key id = SHA-256(name || 0x0A || 0x01 || public key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n" + ED25519_TYPE + public_key).digest()[:4]


def parse_verifier_key(text: str) -> VerifierKey:
    """Parse and self-check a verifier key; the embedded key id must match the key."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3:
        raise VerificationError("verifier key must be <name>+<key id>+<base64 key>")
    name, id_hex, encoded = parts
    if not is_valid_key_name(name):
        raise VerificationError(f"invalid key name {name!r}")
    if not re.fullmatch(r"[0-9a-fA-F]{8}", id_hex):
        raise VerificationError("verifier key id must be 8 hex digits")
    raw = _b64decode(encoded, "verifier key")
    if len(raw) != 33 or raw[:1] != ED25519_TYPE:
        raise VerificationError("verifier key is not an Ed25519 (type 0x01) key")
    key = VerifierKey(name, bytes.fromhex(id_hex), raw[1:])
    if ed25519_key_id(name, key.public_key) != key.key_id:
        raise VerificationError("verifier key id does not match its name and public key")
    return key


def _b64decode(text: str, what: str) -> bytes:
    """Standard padded base64, canonical only: one value, one spelling."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise VerificationError(f"{what} is not valid base64") from exc
    if base64.b64encode(raw).decode() != text:
        raise VerificationError(f"{what} is not canonical base64")
    return raw


_CONTROL: Final = re.compile(r"[\x00-\x09\x0b-\x1f]")


def verify_note(note_text: str, key: VerifierKey) -> str:
    """Check a C2SP signed note against ``key`` and return its text (final newline included)."""
    if _CONTROL.search(note_text):
        raise VerificationError("note contains a control character other than newline")
    if not _is_unicode(note_text):
        raise VerificationError("note is not valid Unicode text")
    split = note_text.rfind("\n\n")
    if split < 0:
        raise VerificationError("note has no blank line before its signatures")
    text, signatures = note_text[: split + 1], note_text[split + 2 :]
    if not signatures.endswith("\n"):
        raise VerificationError("note has no signature lines or does not end with a newline")
    lines = signatures[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise VerificationError(f"note has more than {MAX_SIGNATURES} signatures")
    message = text.encode()
    verified = False
    for line in lines:
        verified |= _check_signature_line(line, key, message)
    if not verified:
        raise VerificationError(f"note carries no signature by {key.name}+{key.key_id.hex()}")
    return text


def _is_unicode(text: str) -> bool:
    """False for strings holding lone surrogates, which have no UTF-8 form."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _check_signature_line(line: str, key: VerifierKey, message: bytes) -> bool:
    """True if the line is a good signature by ``key``; False if by another key."""
    match = re.fullmatch(r"\u2014 (\S+) (\S+)", line)
    if match is None or not is_valid_key_name(match[1]):
        raise VerificationError(f"malformed signature line {line[:80]!r}")
    raw = _b64decode(match[2], "signature")
    if len(raw) < 5:
        raise VerificationError("signature is shorter than a key id")
    if match[1] != key.name or raw[:4] != key.key_id:
        return False
    if not key.verifies(message, raw[4:]):
        raise VerificationError(f"signature by {key.name} does not verify")
    return True


_DECIMAL: Final = re.compile(r"0|[1-9][0-9]{0,18}")


def parse_checkpoint(body: str) -> Checkpoint:
    """Parse exactly ``origin\\nsize\\nbase64(root)\\n``; extension lines are refused."""
    if not body.endswith("\n"):
        raise VerificationError("checkpoint body must end with a newline")
    lines = body[:-1].split("\n")
    if len(lines) != 3:
        raise VerificationError(f"checkpoint body has {len(lines)} lines, expected 3")
    origin, size_text, root_text = lines
    if not origin:
        raise VerificationError("checkpoint origin is empty")
    if not _DECIMAL.fullmatch(size_text) or int(size_text) > MAX_TREE_SIZE:
        raise VerificationError(f"checkpoint tree size {size_text[:40]!r} is not a decimal")
    root = _b64decode(root_text, "checkpoint root hash")
    if len(root) != HASH_SIZE:
        raise VerificationError("checkpoint root hash is not 32 bytes")
    return Checkpoint(origin, int(size_text), root)


def format_checkpoint(origin: str, size: int, root: bytes) -> str:
    """The checkpoint body as signed; the inverse of :func:`parse_checkpoint`."""
    body = f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"
    if parse_checkpoint(body) != Checkpoint(origin, size, root) or _CONTROL.search(body):
        raise ValueError("origin, size or root cannot be written as a checkpoint")
    return body


# --------------------------------------------------------------------------------------------
# The audit bundle
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Anchor:
    """A LedgerAnchored record of the bundle: an outside platform was given the root of the
    first `tree_size` events. The verifier proves that root is this bundle's prefix; that the
    platform really holds it is for the reader to check with the platform (its reference and
    the receipt's SHA-256 are here)."""

    seq: int
    tree_size: int
    root_hash: bytes
    platform: str
    anchored_at: str
    receipt_ref: str
    receipt_sha256: str


@dataclass(frozen=True)
class BundleSummary:
    """What a verified bundle proves, for the report line."""

    origin: str
    tree_size: int
    root_hash: bytes
    full_records: int
    redacted_records: int
    verifier_key: str
    consistent_from: int | None
    anchors: tuple[Anchor, ...] = ()


@dataclass(frozen=True)
class _Manifest:
    origin: str
    tree_size: int
    root_hash: bytes
    verifier_key: str
    files: dict[str, str]


def verify_bundle(
    bundle_dir: Path,
    earlier_checkpoint_text: str | None = None,
    *,
    trusted_key: str | None = None,
) -> BundleSummary:
    """Run every check of AUDIT-BUNDLE.md in order; raise BundleError at the first failure.

    ``trusted_key`` pins the verifier key (the key the operator published); without it the
    manifest's own key is used and only the bundle's internal consistency is proven.
    """
    bundle_dir = Path(bundle_dir)
    manifest = _read_manifest(bundle_dir)
    _check_files(bundle_dir, manifest.files)
    key = _manifest_key(manifest, trusted_key)
    signed = _read_signed_checkpoint(bundle_dir / CHECKPOINT, key)
    _check_agreement(manifest, signed)
    scan = _EventScan(signed.size)
    scan.run(bundle_dir / EVENTS)
    scan.check_root(signed.root)
    scan.check_links(bundle_dir / EVENTS)
    old = _check_consistency_file(bundle_dir, manifest.files, key, signed)
    if earlier_checkpoint_text is not None:
        _check_earlier(earlier_checkpoint_text, key, signed, old)
    scan.check_anchors()
    return BundleSummary(
        origin=signed.origin,
        tree_size=signed.size,
        root_hash=signed.root,
        full_records=scan.full,
        redacted_records=scan.redacted,
        verifier_key=key.text(),
        consistent_from=None if old is None else old.size,
        anchors=tuple(scan.anchors),
    )


def _read_json_file(path: Path, label: str) -> dict[str, Any]:
    """A small JSON object file, parsed strictly; every failure is a BundleError."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_SMALL_FILE_BYTES + 1)
    except OSError as exc:
        raise BundleError(label, None, f"cannot read: {exc.strerror or exc}") from exc
    if len(raw) > MAX_SMALL_FILE_BYTES:
        raise BundleError(label, None, "file is too large")
    try:
        value, _ = _loads(raw)
    except (ValueError, RecursionError) as exc:
        raise BundleError(label, None, f"not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise BundleError(label, None, "must hold a JSON object")
    return value


def _read_manifest(bundle_dir: Path) -> _Manifest:
    doc = _read_json_file(bundle_dir / MANIFEST, MANIFEST)
    if doc.get("format") != BUNDLE_FORMAT:
        raise BundleError(MANIFEST, None, f"format is not {BUNDLE_FORMAT!r}")
    origin = _field(doc, "origin", str, MANIFEST)
    tree_size = _field(doc, "tree_size", int, MANIFEST)
    if tree_size < 0:
        raise BundleError(MANIFEST, None, "tree_size is negative")
    root_hash = _hex_hash(_field(doc, "root_hash", str, MANIFEST), "root_hash", MANIFEST, None)
    verifier_key = _field(doc, "verifier_key", str, MANIFEST)
    _field(doc, "scope", dict, MANIFEST)
    files = _field(doc, "files", dict, MANIFEST)
    return _Manifest(origin, tree_size, root_hash, verifier_key, _check_file_list(files))


def _field(
    doc: dict[str, Any], name: str, kind: type[Any], label: str, seq: int | None = None
) -> Any:
    """``doc[name]``, which must exist and be of ``kind`` (bool never counts as int)."""
    if name not in doc:
        raise BundleError(label, seq, f"missing field {name!r}")
    value = doc[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise BundleError(label, seq, f"field {name!r} must be {_KIND_NAMES[kind]}")
    return value


_KIND_NAMES: Final[dict[type[Any], str]] = {
    str: "a string",
    int: "an integer",
    dict: "an object",
    list: "an array",
}
_HEX_HASH: Final = re.compile(r"[0-9a-f]{64}")
_FILE_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,200}")


def _hex_hash(value: object, what: str, label: str, seq: int | None) -> bytes:
    if not isinstance(value, str) or not _HEX_HASH.fullmatch(value):
        raise BundleError(label, seq, f"{what} must be 64 lowercase hex digits")
    return bytes.fromhex(value)


def _check_file_list(files: dict[str, Any]) -> dict[str, str]:
    for name, digest in files.items():
        if not _FILE_NAME.fullmatch(name) or name == MANIFEST:
            raise BundleError(MANIFEST, None, f"files lists an invalid file name {name!r}")
        _hex_hash(digest, f"digest of {name}", MANIFEST, None)
    for required in (CHECKPOINT, EVENTS):
        if required not in files:
            raise BundleError(MANIFEST, None, f"files does not list {required}")
    return dict(files)


def _check_files(bundle_dir: Path, files: dict[str, str]) -> None:
    """Every other file is listed, present, a regular file and has its listed SHA-256."""
    try:
        present = {entry.name for entry in bundle_dir.iterdir()} - {MANIFEST}
    except OSError as exc:
        raise BundleError(".", None, f"cannot list the bundle directory: {exc}") from exc
    missing = sorted(files.keys() - present)
    if missing:
        raise BundleError(missing[0], None, "listed in manifest.json but missing")
    unlisted = sorted(present - files.keys())
    if unlisted:
        raise BundleError(unlisted[0], None, "in the bundle but not listed in manifest.json")
    for name in sorted(files):
        if _file_digest(bundle_dir / name, name) != files[name]:
            raise BundleError(name, None, "SHA-256 differs from the digest in manifest.json")


def _file_digest(path: Path, label: str) -> str:
    if not path.is_file():
        raise BundleError(label, None, "is not a regular file")
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    except OSError as exc:
        raise BundleError(label, None, f"cannot read: {exc.strerror or exc}") from exc
    return digest.hexdigest()


def _manifest_key(manifest: _Manifest, trusted_key: str | None) -> VerifierKey:
    try:
        key = parse_verifier_key(manifest.verifier_key)
    except VerificationError as exc:
        raise BundleError(MANIFEST, None, f"verifier_key: {exc}") from exc
    if trusted_key is None:
        return key
    try:
        trusted = parse_verifier_key(trusted_key)
    except VerificationError as exc:
        raise BundleError("trusted key", None, str(exc)) from exc
    if trusted != key:
        raise BundleError(MANIFEST, None, "verifier_key is not the trusted key")
    return trusted


def _read_signed_checkpoint(path: Path, key: VerifierKey) -> Checkpoint:
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_NOTE_BYTES + 1)
    except OSError as exc:
        raise BundleError(CHECKPOINT, None, f"cannot read: {exc.strerror or exc}") from exc
    if len(raw) > MAX_NOTE_BYTES:
        raise BundleError(CHECKPOINT, None, "file is too large for a signed note")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BundleError(CHECKPOINT, None, "not valid UTF-8") from exc
    return _verified_checkpoint(text, key, CHECKPOINT)


def _verified_checkpoint(note_text: str, key: VerifierKey, label: str) -> Checkpoint:
    try:
        return parse_checkpoint(verify_note(note_text, key))
    except VerificationError as exc:
        raise BundleError(label, None, str(exc)) from exc


def _check_agreement(manifest: _Manifest, signed: Checkpoint) -> None:
    """The manifest repeats what the checkpoint signs; any difference is tampering."""
    if manifest.origin != signed.origin:
        raise BundleError(MANIFEST, None, f"origin {manifest.origin!r} differs from the checkpoint")
    if manifest.tree_size != signed.size:
        message = f"tree_size {manifest.tree_size} differs from the checkpoint's {signed.size}"
        raise BundleError(MANIFEST, None, message)
    if manifest.root_hash != signed.root:
        raise BundleError(MANIFEST, None, "root_hash differs from the checkpoint's root")


_RECORD_STRINGS: Final = (
    "event_id",
    "stream_type",
    "stream_id",
    "type",
    "recorded_at",
    "occurred_at",
)
_ACTOR_STRINGS: Final = ("id", "kind", "role")
_STUB_KEYS: Final = frozenset({"seq", "redacted", "leaf_hash"})


class _EventScan:
    """One streaming pass over events.jsonl: parse, hash, build the tree, follow links."""

    def __init__(self, tree_size: int) -> None:
        self.tree_size = tree_size
        self.tree = TreeBuilder()
        self.links = _StreamLinks()
        self.full = 0
        self.redacted = 0
        self.leaves = bytearray()  # every leaf hash, 32 bytes each: anchors name past sizes
        self.anchors: list[Anchor] = []

    def run(self, path: Path) -> None:
        """Read line n as leaf seq = n; memory stays flat however long the file is."""
        try:
            with path.open("rb") as handle:
                self._scan(handle)
        except OSError as exc:
            raise BundleError(EVENTS, None, f"cannot read: {exc.strerror or exc}") from exc

    def _scan(self, handle: BinaryIO) -> None:
        seq = 0
        for raw in _lines(handle):
            seq += 1
            if len(raw) > MAX_LINE_BYTES:
                raise BundleError(EVENTS, seq, f"line is longer than {MAX_LINE_BYTES} bytes")
            if seq > self.tree_size:
                raise BundleError(EVENTS, seq, f"more lines than tree_size = {self.tree_size}")
            leaf = self._leaf(raw, seq)
            self.tree.append(leaf)
            self.leaves += leaf
        if seq < self.tree_size:
            raise BundleError(
                EVENTS, seq + 1, f"only {seq} lines; the checkpoint has {self.tree_size} leaves"
            )

    def _leaf(self, raw: bytes, seq: int) -> bytes:
        try:
            record, text = _loads(raw)
        except (ValueError, RecursionError) as exc:
            reason = f"not valid JSON: {exc}" if raw.strip() else "empty"
            raise BundleError(EVENTS, seq, f"line is {reason}") from exc
        if not isinstance(record, dict):
            raise BundleError(EVENTS, seq, "line is not a JSON object")
        if type(record.get("seq")) is not int or record["seq"] != seq:
            _field(record, "seq", int, EVENTS, seq)
            raise BundleError(EVENTS, seq, f"line {seq} holds seq {record['seq']}")
        if "event_id" not in record and "redacted" in record:
            self.redacted += 1
            return _stub_leaf(record, seq)
        _check_record(record, seq)
        try:
            leaf = leaf_hash(_encode(record, _may_hold_astral(text)))
        except (ValueError, RecursionError) as exc:
            raise BundleError(EVENTS, seq, f"record cannot be canonicalized: {exc}") from exc
        self.full += 1
        self.links.observe(record, seq, leaf.hex())
        if record["type"] == ANCHORED:
            self.anchors.append(_anchor_of(record, seq))
        return leaf

    def check_root(self, signed_root: bytes) -> None:
        """The recomputed tree must give the signed root."""
        root = self.tree.root()
        if not hmac.compare_digest(root, signed_root):
            hint = self.links.first_failure()
            where = f"; the first broken prev_hash link is at seq {hint[0]}" if hint else ""
            raise BundleError(
                EVENTS, None, f"recomputed root {root.hex()} is not the signed root{where}"
            )

    def check_anchors(self) -> None:
        """Each anchored root must be the root of this bundle's first `tree_size` leaves (an
        anchor is recorded after the checkpoint it names, so it can only name a prefix)."""
        tree = TreeBuilder()
        for anchor in sorted(self.anchors, key=lambda a: a.tree_size):
            if anchor.tree_size >= anchor.seq:
                raise BundleError(
                    EVENTS, anchor.seq,
                    f"LedgerAnchored names tree size {anchor.tree_size}, not before itself",
                )  # fmt: skip
            while tree.size < anchor.tree_size:
                at = tree.size * HASH_SIZE
                tree.append(bytes(self.leaves[at : at + HASH_SIZE]))
            if not hmac.compare_digest(tree.root(), anchor.root_hash):
                raise BundleError(
                    EVENTS, anchor.seq,
                    f"the anchored root {anchor.root_hash.hex()} is not the root of this "
                    f"bundle's first {anchor.tree_size} events ({tree.root().hex()})",
                )  # fmt: skip

    def check_links(self, path: Path) -> None:
        """Report the first broken per-stream link, resolving links to redacted stubs."""
        self.links.resolve_against_stubs(path)
        failure = self.links.first_failure()
        if failure is not None:
            raise BundleError(EVENTS, failure[0], failure[1])


ANCHORED = "LedgerAnchored"


def _anchor_of(record: dict[str, Any], seq: int) -> Anchor:
    """The anchor a LedgerAnchored record states; a malformed one fails the bundle."""
    data = record.get("data")
    if not isinstance(data, dict):
        raise BundleError(EVENTS, seq, "LedgerAnchored has no data object")
    size = data.get("tree_size")
    if type(size) is not int or size < 1:
        raise BundleError(EVENTS, seq, "LedgerAnchored tree_size is not a positive integer")
    texts = {}
    for name in ("platform", "anchored_at", "receipt_ref", "receipt_sha256"):
        value = data.get(name)
        if not isinstance(value, str):
            raise BundleError(EVENTS, seq, f"LedgerAnchored {name} is not a string")
        texts[name] = value
    root = _hex_hash(data.get("root_hash"), "root_hash", EVENTS, seq)
    return Anchor(seq, size, root, **texts)


def _lines(handle: BinaryIO) -> Iterator[bytes]:
    """Lines of at most MAX_LINE_BYTES + 1 bytes, so one endless line cannot fill memory."""
    return iter(partial(handle.readline, MAX_LINE_BYTES + 1), b"")


def _stub_leaf(stub: dict[str, Any], seq: int) -> bytes:
    if stub.keys() != _STUB_KEYS or stub["redacted"] is not True:
        message = 'a redacted stub is exactly {"seq": n, "redacted": true, "leaf_hash": hex}'
        raise BundleError(EVENTS, seq, message)
    return _hex_hash(stub["leaf_hash"], "leaf_hash", EVENTS, seq)


def _check_record(record: dict[str, Any], seq: int) -> None:
    """The required fields of a public record, with their JSON types."""
    if not _looks_well_formed(record):
        _explain_malformed(record, seq)


def _looks_well_formed(record: dict[str, Any]) -> bool:
    """One fast expression for the normal case; the explanation is only built on failure."""
    try:
        actor, version, prev = record["actor"], record["stream_version"], record["prev_hash"]
        return (
            type(record["event_id"]) is str
            and type(record["stream_type"]) is str
            and type(record["stream_id"]) is str
            and type(record["type"]) is str
            and type(record["recorded_at"]) is str
            and type(record["occurred_at"]) is str
            and type(version) is int
            and version >= 1
            and type(actor) is dict
            and type(actor["id"]) is str
            and type(actor["kind"]) is str
            and type(actor["role"]) is str
            and type(record["data"]) is dict
            and (prev is None or (type(prev) is str and _HEX_HASH.fullmatch(prev) is not None))
        )
    except KeyError:
        return False


def _explain_malformed(record: dict[str, Any], seq: int) -> NoReturn:
    """Raise a BundleError naming the first missing or mistyped required field."""
    for name in _RECORD_STRINGS:
        _field(record, name, str, EVENTS, seq)
    if _field(record, "stream_version", int, EVENTS, seq) < 1:
        raise BundleError(EVENTS, seq, "stream_version must be at least 1")
    actor = _field(record, "actor", dict, EVENTS, seq)
    for name in _ACTOR_STRINGS:
        if not isinstance(actor.get(name), str):
            raise BundleError(EVENTS, seq, f"actor.{name} must be a string")
    _field(record, "data", dict, EVENTS, seq)
    if "prev_hash" not in record:
        raise BundleError(EVENTS, seq, "missing field 'prev_hash'")
    if record["prev_hash"] is not None:
        _hex_hash(record["prev_hash"], "prev_hash", EVENTS, seq)
    raise BundleError(EVENTS, seq, "record is malformed")


class _StreamLinks:
    """Per-stream prev_hash checks; memory grows with streams, not with events."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[int, str]] = {}
        self._pending: dict[str, int] = {}
        self._failure: tuple[int, str] | None = None

    def observe(self, record: dict[str, Any], seq: int, leaf_hex: str) -> None:
        """Check one full record against the last full record of its stream."""
        stream, version, prev = record["stream_id"], record["stream_version"], record["prev_hash"]
        last = self._last.get(stream)
        self._last[stream] = (version, leaf_hex)
        if last is not None and version <= last[0]:
            self._fail(seq, f"stream {stream} version {version} follows version {last[0]}")
        elif version == 1:
            if prev is not None:
                self._fail(seq, f"stream {stream} version 1 must have prev_hash null")
        elif prev is None:
            self._fail(seq, f"stream {stream} version {version} has prev_hash null")
        elif last is not None and last[0] == version - 1:
            if prev != last[1]:
                self._fail(
                    seq,
                    f"prev_hash of stream {stream} version {version} is not "
                    f"the leaf hash of version {version - 1}",
                )
        else:
            self._pending.setdefault(prev, seq)

    def _fail(self, seq: int, message: str) -> None:
        if self._failure is None or seq < self._failure[0]:
            self._failure = (seq, message)

    def first_failure(self) -> tuple[int, str] | None:
        """The lowest-seq broken link found so far."""
        return self._failure

    def resolve_against_stubs(self, path: Path) -> None:
        """A link to a redacted version must name an earlier redacted stub's leaf hash.

        Done as a second pass, only when needed, so the first pass holds no stub hashes.
        """
        if not self._pending:
            return
        try:
            found = _stub_positions(path, self._pending.keys())
        except (OSError, ValueError) as exc:
            raise BundleError(EVENTS, None, f"cannot re-read: {exc}") from exc
        for prev, seq in self._pending.items():
            if found.get(prev, seq) >= seq:
                self._fail(seq, f"prev_hash {prev[:16]}... names no earlier leaf of the bundle")


def _stub_positions(path: Path, wanted: Container[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    with path.open("rb") as handle:
        for seq, raw in enumerate(_lines(handle), start=1):
            if b'"redacted"' not in raw and b"\\" not in raw:
                continue
            stub, _ = _loads(raw)
            if not isinstance(stub, dict) or "event_id" in stub:
                continue
            leaf = stub.get("leaf_hash")
            if isinstance(leaf, str) and leaf in wanted and leaf not in found:
                found[leaf] = seq
    return found


def _check_consistency_file(
    bundle_dir: Path, files: dict[str, str], key: VerifierKey, signed: Checkpoint
) -> Checkpoint | None:
    """Verify consistency.json, if present; return the earlier checkpoint it proves."""
    if CONSISTENCY not in files:
        return None
    doc = _read_json_file(bundle_dir / CONSISTENCY, CONSISTENCY)
    expected_keys = {"old_checkpoint", "old_size", "old_root_hash", "new_size", "proof"}
    if doc.keys() != expected_keys:
        raise BundleError(CONSISTENCY, None, f"fields must be exactly {sorted(expected_keys)}")
    old = _verified_checkpoint(_field(doc, "old_checkpoint", str, CONSISTENCY), key, CONSISTENCY)
    _check_consistency_fields(doc, old, signed)
    proof = [_hex_hash(item, "proof hash", CONSISTENCY, None) for item in doc["proof"]]
    try:
        verify_consistency(old.size, signed.size, proof, old.root, signed.root)
    except VerificationError as exc:
        raise BundleError(CONSISTENCY, None, str(exc)) from exc
    return old


def _check_consistency_fields(doc: dict[str, Any], old: Checkpoint, signed: Checkpoint) -> None:
    if old.origin != signed.origin:
        raise BundleError(CONSISTENCY, None, f"old checkpoint is for origin {old.origin!r}")
    if _field(doc, "old_size", int, CONSISTENCY) != old.size:
        raise BundleError(CONSISTENCY, None, "old_size differs from the old checkpoint")
    old_root = _field(doc, "old_root_hash", str, CONSISTENCY)
    if _hex_hash(old_root, "old_root_hash", CONSISTENCY, None) != old.root:
        raise BundleError(CONSISTENCY, None, "old_root_hash differs from the old checkpoint")
    if _field(doc, "new_size", int, CONSISTENCY) != signed.size:
        raise BundleError(CONSISTENCY, None, "new_size differs from the bundle's tree size")
    _field(doc, "proof", list, CONSISTENCY)


def _check_earlier(
    note_text: str, key: VerifierKey, signed: Checkpoint, old: Checkpoint | None
) -> None:
    """The bundle's log must extend a checkpoint the reader already trusts."""
    earlier = _verified_checkpoint(note_text, key, EARLIER)
    if earlier.origin != signed.origin:
        raise BundleError(EARLIER, None, f"is for origin {earlier.origin!r}, not {signed.origin!r}")
    if earlier.size == signed.size:
        if earlier.root != signed.root:
            raise BundleError(EARLIER, None, "same tree size as the bundle but a different root")
        return
    if earlier.size > signed.size:
        raise BundleError(EARLIER, None, f"is newer (size {earlier.size}) than the bundle")
    if old is None:
        raise BundleError(CONSISTENCY, None, "missing: needed to prove the earlier checkpoint")
    if old.size != earlier.size:
        message = f"proves size {old.size}, not the earlier checkpoint's size {earlier.size}"
        raise BundleError(CONSISTENCY, None, message)
    if old != earlier:
        raise BundleError(CONSISTENCY, None, "its old checkpoint differs from the earlier one")


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="lvyue_verify.py", description="Verify an lvyue audit bundle offline."
    )
    parser.add_argument("bundle_dir", type=Path, help="the bundle directory")
    parser.add_argument("--checkpoint", type=Path, help="an earlier signed checkpoint you trust")
    parser.add_argument("--key", help="the verifier key the log operator published")
    return parser.parse_args(argv)


def _report(summary: BundleSummary, pinned: bool) -> None:
    print(
        f"ok: {summary.tree_size} events, root {summary.root_hash.hex()}, origin {summary.origin}"
        f" ({summary.full_records} full, {summary.redacted_records} redacted)"
    )
    if summary.consistent_from is not None:
        print(f"consistent with the checkpoint of tree size {summary.consistent_from}")
    for line in anchor_lines(summary.anchors):
        print(line)
    if not pinned:
        print(f"verifier key {summary.verifier_key} (compare it with the published key)")


def anchor_lines(anchors: Sequence[Anchor]) -> list[str]:
    """One line per anchor, for the reader to check against the platform."""
    return [
        f"anchored (存证): the first {a.tree_size} events, root {a.root_hash.hex()}, on "
        f"{a.platform} at {a.anchored_at}, ref {a.receipt_ref}, receipt sha256 "
        f"{a.receipt_sha256} (seq {a.seq}; the root is this bundle's: check it with the platform)"
        for a in anchors
    ]


def main(argv: list[str] | None = None) -> int:
    """Verify one bundle: 0 = verified, 1 = a check failed, 2 = usage error."""
    try:
        args = _arguments(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    if not args.bundle_dir.is_dir():
        print(f"error: {args.bundle_dir} is not a directory", file=sys.stderr)
        return 2
    earlier = None
    if args.checkpoint is not None:
        try:
            earlier = args.checkpoint.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            print(f"error: cannot read {args.checkpoint}: {exc}", file=sys.stderr)
            return 2
    try:
        summary = verify_bundle(args.bundle_dir, earlier, trusted_key=args.key)
    except BundleError as exc:
        print(f"FAILED ({exc.location()}): {exc.message}", file=sys.stderr)
        return 1
    _report(summary, pinned=args.key is not None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
