"""Cursors round-trip and refuse anything this service did not hand out."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ott_runtime.domain.cursors import InvalidCursor, decode_cursor, encode_cursor


@given(st.integers(min_value=0, max_value=2**63 - 1))
def test_round_trip(seq: int) -> None:
    assert decode_cursor(encode_cursor(seq)) == seq


def test_cursor_is_unpadded_urlsafe_base64() -> None:
    assert encode_cursor(1) == "czE"  # "s1"
    assert decode_cursor("czE") == 1


@pytest.mark.parametrize("text", ["", "!!", "eDEy", "s12", "c3g"])  # eDEy="x12", c3g="sx"
def test_foreign_text_is_refused(text: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(text)
