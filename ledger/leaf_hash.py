"""The leaf hash of a stored event, without the reference canonicaliser's validation walk.

A leaf hashes the RFC 8785 bytes of the event's public record plus `seq` and `prev_hash`
(lvyue_verify.record_leaf_hash). The reference validates the record in a Python walk
(≈ 40 µs per event) before serialising it with `json` (sorted keys, compact, no ASCII
escaping). Our records arrive as JSON text, so the parse itself (msgspec, a float hook that
refuses) can enforce that subset: no floats, no NaN/Infinity; keys are strings by
construction. Inside it orjson writes the
reference's bytes (the same escapes, BMP keys sorted by code point, integers in decimal) about
seven times faster than `json`, and refuses integers beyond ±(2**53-1) itself
(OPT_STRICT_INTEGER); tests/test_leaf_hash.py compares the two on every BMP character and
on generated records. This hash runs inside the write transaction, so it is worth the
dependency. Where the text cannot be shown cheaply to stay inside the subset the reference
handles alone (and decides), so the bytes, and every refusal, are the reference's:

- a character outside the BMP anywhere (RFC 8785 orders keys by UTF-16 code units, which
  differs from code-point order only there) or a surrogate escape;
- more brackets than the reference's depth limit (a conservative bound on nesting);
- anything that does not parse as a JSON object with a "type", or fails to encode.
"""

from __future__ import annotations

import re
from typing import Any, Final, NoReturn

import msgspec
import orjson

from lvyue_verify import MAX_DEPTH, MAX_SAFE_INTEGER, leaf_hash

_CANONICAL: Final = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER
_SURROGATE_ESCAPE: Final = re.compile(r"\\u[dD][89a-fA-F]")


class _OutsideSubset(ValueError):
    """The text holds a value the fast path leaves to the reference canonicaliser."""


def _refuse(text: str) -> NoReturn:
    raise _OutsideSubset(text[:40])


_DECODER: Final = msgspec.json.Decoder(float_hook=_refuse)
"""msgspec reads what `json.loads` reads here (RFC 8259 text, last duplicate key wins) about
2.5× faster; it refuses NaN and lone surrogates itself, and every float through the hook."""


def event_leaf_hash(state: bytes, seq: int, prev_hash: str | None) -> bytes | None:
    """SHA-256(0x00 || JCS(record + seq + prev_hash)) of an event's stored state, or None
    to leave the event to the reference (`ledger.seal.public_record_of` + record_leaf_hash)."""
    found = event_canonical(state, seq, prev_hash)
    return None if found is None else leaf_hash(found[1])


def event_canonical(
    state: bytes, seq: int, prev_hash: str | None
) -> tuple[dict[str, Any], bytes] | None:
    """The event's public record with `seq` and `prev_hash`, and its RFC 8785 bytes (what
    the leaf hashes and a bundle's events.jsonl holds); None: leave it to the reference."""
    record = _record_in_subset(state)
    if record is None or not -MAX_SAFE_INTEGER <= seq <= MAX_SAFE_INTEGER:
        return None
    record["seq"] = seq
    record["prev_hash"] = prev_hash
    try:
        return record, orjson.dumps(record, option=_CANONICAL)
    except orjson.JSONEncodeError:  # an integer beyond 2**53-1, a lone surrogate
        return None


def _record_in_subset(state: bytes) -> dict[str, Any] | None:
    """The event's record when its text provably lies in the fast subset, else None."""
    try:
        text = state.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not _plain_text(text):
        return None
    if not (text.startswith("{") and text.endswith("}")):  # whitespace around: the reference's
        return None
    try:
        record = _DECODER.decode(state)
    except msgspec.DecodeError:  # malformed, a float (refused by the hook), a lone surrogate
        return None
    if not isinstance(record, dict) or "type" not in record:
        return None
    return record


def _plain_text(text: str) -> bool:
    """No character outside the BMP, no surrogate escape, brackets within the depth limit."""
    if not text.isascii() and len(text.encode("utf-16-le")) != 2 * len(text):
        return False
    if "\\" in text and _SURROGATE_ESCAPE.search(text):
        return False
    return text.count("{") + text.count("[") <= MAX_DEPTH
