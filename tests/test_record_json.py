"""The read side's JSON (projections/record_json.py) reads every document exactly as the
standard library does, msgspec or not, and writes one text per value."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from projections.record_json import dumps_sorted, loads

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text()
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(VALUES)
def test_any_document_reads_as_the_standard_library_reads_it(value: Any) -> None:
    for text in (json.dumps(value), json.dumps(value, ensure_ascii=False)):
        assert loads(text) == json.loads(text)
        assert loads(text.encode("utf-8", "surrogatepass")) == json.loads(
            text.encode("utf-8", "surrogatepass")
        )


@pytest.mark.parametrize(
    "text",
    [
        '{"n": NaN}',
        '{"n": Infinity}',
        '{"big": 123456789012345678901234567890}',
        '{"s": "\\ud800"}',  # a lone surrogate: msgspec refuses it, json reads it
        '{"k": 1, "k": 2}',  # a repeated key: the last one wins in both
        '[1e400]',
    ],
)
def test_what_msgspec_refuses_or_might_read_differently_falls_back(text: str) -> None:
    got, expected = loads(text), json.loads(text)
    assert repr(got) == repr(expected)


def test_malformed_json_is_refused_like_the_standard_library() -> None:
    for text in ("", "{", '{"a": }', "[1,]", "nul"):
        with pytest.raises(json.JSONDecodeError):
            loads(text)


@given(VALUES)
def test_one_value_one_text_and_it_reads_back(value: Any) -> None:
    text = dumps_sorted(value)
    assert text == dumps_sorted(json.loads(json.dumps(value)))
    back = json.loads(text)
    assert back == value or (isinstance(value, float) and math.isnan(value))


def test_states_are_written_as_the_standard_library_writes_them() -> None:
    assert dumps_sorted({"b": 2**70, "a": "甲"}) == '{"a":"甲","b":1180591620717411303424}'
    assert dumps_sorted({"b": 1, "a": [True, None]}) == '{"a":[true,null],"b":1}'
    assert dumps_sorted([math.inf, -math.inf]) == "[Infinity,-Infinity]"  # never null
