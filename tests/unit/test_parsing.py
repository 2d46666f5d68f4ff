"""The one strict parser for integers and ids from paths, query strings and headers, and the
strict JSON every answer is written as."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.api.routing import handle_errors, json_text
from chalicelib.errors import Invalid, NotFound, Unauthorized
from chalicelib.parsing import MAX_ID_CHARS, check_id, is_id, parse_int

NOT_ASCII_INTEGERS = ["", " 1", "1 ", "+1", "-1", "--1", "-", "1_0", "²", "١٢", "１２", "1.0", "1e3", "0x10",
                      "\n1", "1\n", "9" * 19, "٣"]


@pytest.mark.parametrize("text", NOT_ASCII_INTEGERS)
def test_anything_but_ascii_digits_is_refused(text: str) -> None:
    with pytest.raises(Invalid) as e:
        parse_int(text, "round")
    assert e.value.code == "invalid_value" and e.value.status == 422


def test_ascii_digits_within_bounds() -> None:
    assert parse_int("0", "n") == 0
    assert parse_int("007", "n", lo=1, hi=10) == 7
    assert parse_int("9" * 18, "n") == 10**18 - 1
    for text, lo, hi in (("0", 1, None), ("11", None, 10)):
        with pytest.raises(Invalid, match="must be in"):
            parse_int(text, "n", lo=lo, hi=hi)


def test_a_negative_number_only_where_the_caller_allows_it() -> None:
    assert parse_int("-5", "offset", allow_negative=True) == -5
    for text in ("--5", "-", "+5", "-²", "5-"):
        with pytest.raises(Invalid):
            parse_int(text, "offset", allow_negative=True)


def test_the_caller_keeps_its_own_error_and_code() -> None:
    with pytest.raises(Unauthorized) as e:
        parse_int("²", "X-Yundian-Timestamp", max_digits=12, error=Unauthorized, code="stale_timestamp")
    assert (e.value.status, e.value.code) == (401, "stale_timestamp")
    with pytest.raises(Unauthorized):
        parse_int("1" * 13, "X-Yundian-Timestamp", max_digits=12, error=Unauthorized, code="stale_timestamp")


@given(st.text(max_size=24))
def test_whatever_arrives_is_an_int_or_the_callers_4xx(text: str) -> None:
    try:
        n = parse_int(text, "n", lo=0, hi=10**6)
    except Invalid as e:
        assert e.status == 422
    else:
        assert text.isascii() and text.isdigit() and str(n) == text.lstrip("0").rjust(1, "0")


def test_ids_are_1_to_128_printable_ascii_characters() -> None:
    assert check_id("mch_" + "a" * 124, "merchant_id") == "mch_" + "a" * 124
    assert is_id("o-1_A.b:c~!") and is_id("x" * MAX_ID_CHARS)
    for text in ("", "x" * (MAX_ID_CHARS + 1), "m" * 2048, "a b", "商户", "a\x00", "a\nb", None, 12):
        assert not is_id(text)
    with pytest.raises(NotFound) as e:
        check_id("m" * 2048, "merchant", code="merchant_not_found")
    assert (e.value.status, e.value.code) == (404, "merchant_not_found")
    with pytest.raises(Unauthorized) as u:
        check_id("t" * 200, "X-Yundian-Terminal", error=Unauthorized, code="unknown_terminal")
    assert u.value.code == "unknown_terminal"


# ---------------------------------------------------------------- strict JSON answers


def _strict(text: str) -> Any:
    def refuse(constant: str) -> Any:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_answers_are_strict_json_with_markup_escaped() -> None:
    value = {"body": "<script>alert('x')</script> & more", "n": [1, 2.5, None], "ok": True}
    text = json_text(value)
    assert _strict(text) == value
    assert "<" not in text and ">" not in text and "&" not in text
    for bad in (float("nan"), float("inf"), -float("inf")):
        with pytest.raises(ValueError):
            json_text({"prize": bad})


def test_a_view_answering_nan_is_a_500_with_a_valid_body_never_invalid_json() -> None:
    response = handle_errors(lambda: {"score": float("nan")}, 200)
    assert response.status_code == 500
    assert _strict(response.body) == {"code": "internal_error", "message": "internal error"}
