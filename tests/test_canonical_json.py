"""RFC 8785: our canonical JSON must equal the reference `rfc8785` package byte for byte."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from lvyue_verify import MAX_SAFE_INTEGER, canonical_json, canonicalize_text, record_leaf_hash

# Keys mix ASCII, BMP (including U+E000-U+FFFF, which sort after surrogates in UTF-16) and
# astral characters, where code-point order and UTF-16 order disagree.
KEY_ALPHABET = st.one_of(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E),
    st.characters(min_codepoint=0xE000, max_codepoint=0xFFFD),
    st.characters(min_codepoint=0x10000, max_codepoint=0x1F9FF),
    st.characters(codec="utf-8"),
)
KEYS = st.text(alphabet=KEY_ALPHABET, max_size=6)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-MAX_SAFE_INTEGER, max_value=MAX_SAFE_INTEGER),
    st.text(),
)
JSON = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(KEYS, children, max_size=6),
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(JSON)
def test_equals_reference_implementation(value: Any) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)


@settings(max_examples=200, deadline=None)
@given(JSON, st.booleans())
def test_parsed_text_canonicalizes_like_the_reference(value: Any, ascii_only: bool) -> None:
    """The verifier's path (strict parse, fast or UTF-16 key sort) on any spelling of a value."""
    text = json.dumps(value, ensure_ascii=ascii_only, indent=1).encode()
    assert canonicalize_text(text) == rfc8785.dumps(value)


@pytest.mark.parametrize(
    "text",
    [b"1.5", b"1e3", b"NaN", b"-Infinity", b'{"a":1,"a":2}', b"9007199254740992", b"\xff", b"[1,]"],
)
def test_text_outside_the_subset_is_rejected(text: bytes) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - any ValueError, the message varies
        canonicalize_text(text)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(KEYS, SCALARS, min_size=2, max_size=12))
def test_key_order_equals_reference(value: dict[str, Any]) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)


def test_utf16_key_order_differs_from_code_point_order() -> None:
    """U+1F600 (surrogates D83D DE00) sorts before U+E000 in UTF-16, after it by code point."""
    value = {"\ue000": 1, "\U0001f600": 2}
    assert canonical_json(value) == rfc8785.dumps(value)
    assert canonical_json(value).index("\U0001f600".encode()) == 2


def test_string_escapes() -> None:
    value = ['\x00\x1f\x7f\u2028"\\/\b\f\n\r\t', "\u00e9\u4e2d\U0001f600"]
    assert canonical_json(value) == rfc8785.dumps(value)
    assert canonical_json(value).startswith(b'["\\u0000\\u001f\x7f')


@pytest.mark.parametrize(
    "value",
    [
        1.0,
        {"amount": 0.5},
        [float("nan")],
        2**53,
        -(2**53),
        {"n": 10**30},
        {1: "non-string key"},
        {"x": {1, 2}},
        b"bytes",
        "lone \ud800 surrogate",
        {"\udc00": 1},
    ],
)
def test_values_outside_the_subset_are_rejected(value: object) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - any ValueError, the message varies
        canonical_json(value)


def test_integer_bounds_are_inclusive() -> None:
    assert canonical_json([MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER]) == rfc8785.dumps(
        [MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER]
    )


def test_deep_nesting_is_rejected_not_crashing() -> None:
    value: Any = []
    for _ in range(5000):
        value = [value]
    with pytest.raises(ValueError, match="nested"):
        canonical_json(value)


def test_record_leaf_hash_is_prefixed_sha256_of_jcs() -> None:
    record = {"b": 1, "a": "x"}
    expected = hashlib.sha256(b'\x00{"a":"x","b":1}').digest()
    assert record_leaf_hash(record) == expected
