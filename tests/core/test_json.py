"""Canonical JSON: checked against independent formulations of the JavaScript rules."""

from __future__ import annotations

import json
import math
import struct
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import wlearn
from wlearn import BundleError, _json


def ecma_number(x: float) -> str:
    """ECMAScript Number::toString from the spec's definition, without repr(): the fewest
    digits k whose value s * 10**(n - k) reads back as x; among those the s closest to x,
    an even s on a tie. Then the spec's placement rules."""
    if math.isnan(x) or math.isinf(x):
        return "null"
    if x == 0:
        return "0"
    if x < 0:
        return "-" + ecma_number(-x)
    exact = Decimal(x)
    for k in range(1, 18):
        mantissa, exponent = f"{x:.{k - 1}e}".split("e")
        rounded, scale = int(mantissa.replace(".", "")), int(exponent) - (k - 1)
        fits = [s for s in (rounded - 1, rounded, rounded + 1)
                if len(str(s)) == k and float(f"{s}e{scale}") == x]
        if fits:
            s = min(fits, key=lambda s: (abs(Decimal(s).scaleb(scale) - exact), s % 2))
            break
    digits = str(s).rstrip("0")
    k, n = len(digits), scale + len(str(s))
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return f"{digits[:n]}.{digits[n:]}"
    if -6 < n <= 0:
        return "0." + "0" * (-n) + digits
    body = digits if k == 1 else f"{digits[0]}.{digits[1:]}"
    return f"{body}e{n - 1:+d}"


def utf16_units(text: str) -> list[int]:
    units = []
    for char in text:
        code = ord(char)
        if code >= 0x10000:
            code -= 0x10000
            units += [0xD800 + (code >> 10), 0xDC00 + (code & 0x3FF)]
        else:
            units.append(code)
    return units


@pytest.mark.parametrize("value, text", [
    (0.1, "0.1"), (1e-7, "1e-7"), (1e-6, "0.000001"), (1e21, "1e+21"), (1e20, "100000000000000000000"),
    (-0.0, "0"), (5e-324, "5e-324"), (1.5e300, "1.5e+300"), (123.0, "123"), (-1.5, "-1.5"),
    (2.0**53, "9007199254740992"), (1e16, "10000000000000000"), (0.5, "0.5"),
    (1.7976931348623157e308, "1.7976931348623157e+308"), (123e-20, "1.23e-18"),
    (math.nan, "null"), (math.inf, "null"), (-math.inf, "null"),
])
def test_numbers_known(value, text):
    assert _json.format_number(value) == text == ecma_number(value)


@settings(max_examples=3000, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_numbers_match_spec_oracle(value):
    text = _json.format_number(value)
    assert text == ecma_number(value)
    assert float(text) == value


@settings(deadline=None)
@given(st.integers(min_value=0, max_value=2**64 - 1))
def test_numbers_from_raw_bits(bits):
    (value,) = struct.unpack("<d", struct.pack("<Q", bits))
    assert _json.format_number(value) == ecma_number(value)


@settings(deadline=None)
@given(st.integers(min_value=-(2**53), max_value=2**53))
def test_safe_integers_are_written_in_full(value):
    assert wlearn.encode_json(value) == str(value).encode()
    assert wlearn.encode_json(float(value)) == str(value).encode()


def test_integers_beyond_doubles():
    # an exact double, written with its shortest digits and zeros, as JS does
    assert wlearn.encode_json(2**60) == b"1152921504606847000"
    assert wlearn.encode_json(10**21) == b"1e+21"
    with pytest.raises(BundleError, match=r"at \.a\[1\]: integer 9007199254740993"):
        wlearn.encode_json({"a": [0, 2**53 + 1]})
    with pytest.raises(BundleError, match="not exactly representable"):
        wlearn.encode_json(10**400)


@settings(deadline=None)
@given(st.text(alphabet=st.characters(exclude_categories=["Cs"])))
def test_strings_without_surrogates_match_json_module(text):
    # Python's json module escapes exactly the same set (", \\, C0 controls) with the same
    # spelling when ensure_ascii is off: an independent check of JSON.stringify's rules.
    assert _json.quote(text) == json.dumps(text, ensure_ascii=False)


# st.text() never yields surrogates; mix them in, lone and paired
texts_with_surrogates = st.lists(
    st.one_of(st.characters(), st.integers(0xD800, 0xDFFF).map(chr))).map("".join)


@settings(deadline=None)
@given(texts_with_surrogates)
def test_strings_round_trip(text):
    encoded = wlearn.encode_json(text)
    decoded = json.loads(encoded.decode("utf-8"))
    # a surrogate pair written as two code points reads back as one character, as in JS
    assert utf16_units(decoded) == [u for c in text for u in utf16_units(c)]


def test_string_escapes_known():
    assert _json.quote("\b\f\n\r\t\x00\x1f\x7f\u2028/") == '"\\b\\f\\n\\r\\t\\u0000\\u001f\x7f\u2028/"'
    assert _json.quote("x\ud800y\udc00") == '"x\\ud800y\\udc00"'
    assert _json.quote("\udc00\ud800") == '"\\udc00\\ud800"'  # reversed pair: two lone halves
    assert _json.quote("\ud83d\ude00") == '"\U0001F600"'


@settings(deadline=None)
@given(st.lists(texts_with_surrogates, max_size=12))
def test_keys_sort_by_utf16_code_units(keys):
    # keys equal as JavaScript strings (a pair spelled two ways) are refused; keep one
    obj = {k: 0 for k in {tuple(utf16_units(k)): k for k in keys}.values()}
    out = json.loads(wlearn.encode_json(obj).decode("utf-8"))
    assert [utf16_units(k) for k in out] == sorted(utf16_units(k) for k in obj)


def test_key_order_known():
    # U+E000 and U+FF21 sort after an astral character's high surrogate (0xD83D) in UTF-16,
    # though before it by code point.
    keys = ["\uff21", "\U0001F600", "\ue000", "b", "B", "10", "9", "\u00e9"]
    assert list(json.loads(wlearn.encode_json(dict.fromkeys(keys, 1)))) == [
        "10", "9", "B", "b", "\u00e9", "\U0001F600", "\ue000", "\uff21"]


json_values = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers(-(2**53), 2**53) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=30)


def _normalise(value):
    """What a JSON value reads back as: NaN/Infinity as null, -0 as 0."""
    if isinstance(value, float):
        return None if not math.isfinite(value) else value + 0.0
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items()}
    return value


@settings(deadline=None)
@given(json_values)
def test_round_trip_through_strict_parser(value):
    encoded = wlearn.encode_json(value)
    decoded = _json.parse_strict(encoded, "value")
    assert decoded == _normalise(value)
    # Encoding is a fixed point once values are in their JSON form.
    assert wlearn.encode_json(decoded) == encoded


def test_nonfinite_become_null():
    assert wlearn.encode_json({"a": math.nan, "b": [math.inf, -math.inf]}) == b'{"a":null,"b":[null,null]}'


def test_numpy_scalars():
    np = pytest.importorskip("numpy")
    value = {"i": np.int64(3), "f": np.float32(0.1), "b": np.bool_(True), "z": np.array(2.5)}
    assert wlearn.encode_json(value) == b'{"b":true,"f":0.10000000149011612,"i":3,"z":2.5}'
    with pytest.raises(BundleError, match="ndarray is not JSON"):
        wlearn.encode_json({"a": np.zeros(2)})


@pytest.mark.parametrize("value, fragment", [
    ({1: 2}, "object key 1 is not a string"),
    ({"a": {"b": {1, 2}}}, "at .a.b: a set is not JSON"),
    ({"a": b"x"}, "a bytes is not JSON"),
    ([[]] * 1 + [object()], r"at [1]: a object is not JSON"),
])
def test_unencodable(value, fragment):
    with pytest.raises(BundleError) as info:
        wlearn.encode_json(value)
    assert fragment in str(info.value)


def test_depth_limit_and_cycles():
    deep = []
    for _ in range(_json.MAX_DEPTH - 1):
        deep = [deep]
    assert wlearn.encode_json(deep) == b"[" * _json.MAX_DEPTH + b"]" * _json.MAX_DEPTH
    with pytest.raises(BundleError, match="deeper than 256"):
        wlearn.encode_json([deep])
    cycle: dict = {}
    cycle["self"] = cycle
    with pytest.raises(BundleError, match="circular"):
        wlearn.encode_json(cycle)


def test_tuples_are_arrays():
    assert wlearn.encode_json({"t": (1, "a")}) == b'{"t":[1,"a"]}'


def test_keys_equal_in_utf16_are_refused():
    with pytest.raises(BundleError, match="same JavaScript string"):
        wlearn.encode_json({"\U0001F600": 1, "\ud83d\ude00": 2})


def test_decode_json_is_strict_and_inverts_encode_json():
    value = {"b": [1, 2.5, None, "\u00e9"], "a": True}
    assert wlearn.decode_json(wlearn.encode_json(value)) == value
    for bad, fragment in [(b'{"a":NaN}', "NaN"), (b'{"a":1,"a":1}', "duplicate key"), (b"\xff", "UTF-8")]:
        with pytest.raises(BundleError, match=fragment):
            wlearn.decode_json(bad)


def test_any_mapping_is_an_object():
    from types import MappingProxyType

    assert wlearn.encode_json({"m": MappingProxyType({"b": 1, "a": 2})}) == b'{"m":{"a":2,"b":1}}'


json_documents = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers()
    | st.text(st.characters(exclude_categories=()), max_size=5),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=4), c, max_size=3),
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(json_documents, st.sampled_from(["", " ", "\n\t "]))
def test_the_parser_for_deep_json_reads_what_the_recursive_one_reads(value, space):
    text = json.dumps(value, ensure_ascii=False).replace(",", space + "," + space)
    hooks = dict(parse_constant=_json._reject_constant, parse_float=_json._parse_float,
                 parse_int=_json._parse_int, object_pairs_hook=_json._unique_object)
    try:
        expected = json.loads(text, **hooks)
    except ValueError:
        with pytest.raises(ValueError):
            _json._parse_iterative(text)
        return
    assert _json._parse_iterative(text) == expected
