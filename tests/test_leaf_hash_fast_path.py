"""The sealing fast path (ledger/leaf_hash.py) must give the reference's leaf hash, byte for
byte, or refuse exactly where the reference refuses: for any stored state, any spelling."""

from __future__ import annotations

import hashlib
import json
from typing import Any
from uuid import UUID

import pytest
import rfc8785
from eventsourcing.persistence import StoredEvent
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.leaf_hash import event_canonical, event_leaf_hash
from ledger.seal import public_record_of, sealed_leaf_hash
from lvyue_verify import MAX_DEPTH, MAX_SAFE_INTEGER, canonical_json, record_leaf_hash

STREAM = UUID("12345678-1234-5678-1234-567812345678")

# Keys and strings mix ASCII, control characters, Chinese, U+2028/U+2029, DEL, the BMP's
# private-use tail (after the surrogates in UTF-16) and astral characters (UTF-16 order
# differs from code-point order only there).
ALPHABET = st.one_of(
    st.characters(min_codepoint=0x00, max_codepoint=0x7F),
    st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),
    st.sampled_from(["\u2028", "\u2029", "\x7f", "\ufeff", "\ufffd", "\u00e9"]),
    st.characters(min_codepoint=0xE000, max_codepoint=0xFFFD),
    st.characters(min_codepoint=0x10000, max_codepoint=0x1F9FF),
)
TEXT = st.text(alphabet=ALPHABET, max_size=8)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-MAX_SAFE_INTEGER - 3, max_value=MAX_SAFE_INTEGER + 3),
    st.integers(min_value=-1000, max_value=1000),
    st.floats(allow_nan=False, allow_infinity=False),
    TEXT,
)
VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(TEXT, children, max_size=5)
    ),
    max_leaves=25,
)
RECORDS = st.fixed_dictionaries(
    {"type": st.one_of(TEXT, st.just("StaffOnboarded"))},
    optional={"data": VALUES, "seq": SCALARS, "prev_hash": SCALARS, "stream_id": TEXT},
).flatmap(lambda base: st.dictionaries(TEXT, VALUES, max_size=4).map(lambda x: {**x, **base}))


def reference(state: bytes, seq: int, prev_hash: str | None) -> bytes:
    """What sealing computed before the fast path (and what the audit recomputes)."""
    record = public_record_of(StoredEvent(STREAM, 1, "topic", state))
    record["seq"] = seq
    record["prev_hash"] = prev_hash
    return record_leaf_hash(record)


def assert_same(state: bytes, seq: int = 7, prev_hash: str | None = "ab" * 32) -> None:
    try:
        expected: bytes | None = reference(state, seq, prev_hash)
    except ValueError:
        expected = None
    stored = StoredEvent(STREAM, 1, "topic", state)
    if expected is None:
        assert event_leaf_hash(state, seq, prev_hash) is None
        with pytest.raises(ValueError):  # noqa: PT011 - the reference's refusal, any message
            sealed_leaf_hash(stored, seq, prev_hash)
    else:
        assert sealed_leaf_hash(stored, seq, prev_hash) == expected
        fast = event_leaf_hash(state, seq, prev_hash)
        assert fast is None or fast == expected
        canonical = event_canonical(state, seq, prev_hash)  # what audit and export write
        assert (canonical is None) == (fast is None)
        if canonical is not None:
            record = public_record_of(stored) | {"seq": seq, "prev_hash": prev_hash}
            assert canonical == (record, canonical_json(record))


def spellings(record: dict[str, Any]) -> list[bytes]:
    """Our mapper's spelling (sorted, compact, UTF-8) and others: ASCII escapes, indented."""
    return [
        json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
            "utf-8", "surrogatepass"
        ),
        json.dumps(record, ensure_ascii=True).encode(),
        json.dumps(record, ensure_ascii=False, indent=1).encode("utf-8", "surrogatepass"),
    ]


@settings(max_examples=400, deadline=None)
@given(RECORDS, st.integers(min_value=1, max_value=2**40), st.booleans())
def test_fast_path_equals_reference(record: dict[str, Any], seq: int, first: bool) -> None:
    for state in spellings(record):
        assert_same(state, seq, None if first else hashlib.sha256(state).hexdigest())


@settings(max_examples=200, deadline=None)
@given(RECORDS.filter(lambda r: not _has_float(r)))
def test_fast_path_equals_rfc8785(record: dict[str, Any]) -> None:
    """Against the independent `rfc8785` package, where the record is inside the subset."""
    state = spellings(record)[0]
    try:
        expected = reference(state, 3, None)
    except ValueError:
        return  # an integer beyond 2**53: refused (checked by the test above)
    full = {**record, "seq": 3, "prev_hash": None}
    assert expected == hashlib.sha256(b"\x00" + rfc8785.dumps(full)).digest()
    assert sealed_leaf_hash(StoredEvent(STREAM, 1, "topic", state), 3, None) == expected


def _has_float(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(_has_float(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_float(v) for v in value)
    return False


@pytest.mark.parametrize(
    "state",
    [
        b'{"type":"T","a":"\\ud83d\\ude00"}',  # an astral character as a surrogate-pair escape
        b'{"type":"T","\\ud83d\\ude00":1,"\\uffff":2}',  # ... as a key: UTF-16 key order
        '{"type":"T","\U0001f600":1,"\uffff":2}'.encode(),  # literally
        b'{"type":"T","a":"\\udc00"}',  # a lone low surrogate: refused
        b'{"type":"T","a":"\\ud800"}',  # a lone high surrogate: refused
        b'{"type":"T","a":"\\u2028\\u2029\\u007f\\u0000\\u001f\\b\\f\\n\\r\\t\\"\\\\\\/"}',
        '{"type":"T","a":"\u2028\u2029\x7f 物业 履约"}'.encode(),
        b'{"type":"T","a":1.0}',
        b'{"type":"T","a":1e3}',
        b'{"type":"T","a":NaN}',
        b'{"type":"T","a":-Infinity}',
        b'{"type":"T","a":9007199254740991,"b":-9007199254740991}',
        b'{"type":"T","a":9007199254740992}',
        b'{"type":"T","a":-9007199254740992}',
        b'{"type":"T","a":1,"a":2}',  # duplicate keys: the last wins, as json.loads decides
        b'{"type":"T","seq":"x","prev_hash":5}',  # overwritten by the seal's fields
        b'{"no_type":1}',  # not one of our records: the opaque record
        b"[1,2]",
        b"\xff\xfe",
        b"\xef\xbb\xbf{}",
        b'{"type":"T"',
        b'{"type":"T","a":"\xed\xa0\x80"}',  # a CESU-8 surrogate: json.loads passes it
        b'{"type":"T","a":"\x01"}',  # a raw control character: invalid JSON
        ('{"type":"T","a":' + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "}").encode(),
        ('{"type":"T","a":' + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "}").encode(),
        ('{"type":"T","a":"' + "[" * (MAX_DEPTH + 5) + '"}').encode(),  # brackets in a string
    ],
)
def test_edge_cases_equal_reference(state: bytes) -> None:
    assert_same(state)


def test_seq_beyond_the_safe_integers_is_left_to_the_reference() -> None:
    state = b'{"type":"T"}'
    assert event_leaf_hash(state, MAX_SAFE_INTEGER, None) is not None
    assert event_leaf_hash(state, MAX_SAFE_INTEGER + 1, None) is None
    with pytest.raises(ValueError):  # noqa: PT011
        sealed_leaf_hash(StoredEvent(STREAM, 1, "topic", state), MAX_SAFE_INTEGER + 1, None)


def test_our_records_take_the_fast_path() -> None:
    """The mapper's records (compact sorted UTF-8, BMP text) never need the reference."""
    record = {"type": "StaffOnboarded", "data": {"name": "张三", "site": "物业一期"}, "n": 3}
    state = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert event_leaf_hash(state.encode(), 1, None) == reference(state.encode(), 1, None)


BMP = [chr(c) for c in range(0x10000) if not 0xD800 <= c <= 0xDFFF]


@pytest.mark.parametrize("start", range(0, len(BMP), 4096))
def test_every_bmp_character_as_key_and_value(start: int) -> None:
    """orjson writes the reference's bytes for every character the fast path lets through:
    each one escaped (or not) in a value, and all of them as keys, in the reference's order."""
    chars = BMP[start : start + 4096]
    values = {f"v{i}": "".join(chars[i : i + 64]) for i in range(0, len(chars), 64)}
    keys = dict.fromkeys(chars, 0)
    for record in ({"type": "T", **values}, {**keys, "type": "T"}):
        state = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        fast = event_leaf_hash(state.encode(), 1, "ab" * 32)
        assert fast is not None
        assert fast == reference(state.encode(), 1, "ab" * 32)


@pytest.mark.parametrize("state", [b' {"type":"T"}', b'{"type":"T"}\n', b'\t{"type":"T"} '])
def test_whitespace_around_the_record_is_left_to_the_reference(state: bytes) -> None:
    assert event_leaf_hash(state, 1, None) is None
    assert_same(state)
