"""The codec against @wlearn/core itself: encodeBundle vs encode_bundle byte for byte on
seeded random manifests and artifact lists, decoding both ways, JSON.stringify's number
format, and encodeJSON."""

from __future__ import annotations

import json
import math
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wlearn
import wlrn
from wlrn import _json

from ._node import js_loads
from core.test_properties import artifact_lists, manifests, values  # reuse the core strategies

pytestmark = pytest.mark.js

# Text JS and the bundle format can hold, lone surrogates included.
any_text = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF,
                                 exclude_categories=()), max_size=8)
special_numbers = st.sampled_from([
    0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 1e21,
    999999999999999900000.0, 1e21 * (1 - 2**-52), 1e-6, 1e-7, 9.999999999999999e-7,
    0.1, 1 / 3, 2.0**53, 2.0**53 + 2, -(2.0**53), 123456789012345680000.0, 1.5e300,
    math.nan, math.inf, -math.inf,
])
numbers = (st.floats(allow_nan=True, allow_infinity=True) | special_numbers
           | st.integers(-(2**53), 2**53)
           | st.integers(-(2**70), 2**70).map(lambda i: i - i % 2**20 if abs(i) > 2**53 else i)
           .filter(lambda i: float(i) == i))
keys = any_text | st.sampled_from(["__proto__", "constructor", "toString", "10", "9", "",
                                   "typeId", "bundleVersion", "\ud83d\ude00", "\ue000"])
wide_values = st.recursive(
    st.none() | st.booleans() | numbers | any_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=16)
wide_manifests = st.dictionaries(keys, wide_values, max_size=5)
# mediaType as JS users pass it: absent, empty, falsy (dropped by JS), or a string.
media_types = st.sampled_from([None, "", False, 0, "application/json",
                               "application/octet-stream", "x/y; charset=\u00e9"])
wide_artifacts = st.lists(
    st.fixed_dictionaries({"id": any_text, "data": st.binary(max_size=48)},
                          optional={"mediaType": media_types}),
    max_size=6, unique_by=lambda a: _json.utf16_key(a["id"]))


def _settings(count: int, **extra):
    return settings(max_examples=count, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck), **extra)


def _compare_encode(js, manifest, artifacts, tally) -> bytes:
    tally["bundles encoded (JS vs Python)"] += 1
    ours = wlrn.encode_bundle(manifest, artifacts)
    theirs = js.encode_bundle(manifest, artifacts)
    assert ours == theirs
    tally["bundles byte-identical"] += 1
    return ours


def _compare_decode(js, data: bytes, tally) -> None:
    """JS reads what we wrote as we do, and we read it back to the same values."""
    manifest_text, toc, region = js.decode_bundle(data, validate=True)
    manifest, our_toc, blobs = wlrn.validate_bundle(data)
    # JS's JSON.stringify of what it decoded, re-read by Python, equals Python's decode.
    assert _same(js_loads(manifest_text), manifest)
    assert toc == our_toc and region == blobs.region.nbytes
    # Python re-encoding JS's view of the bundle gives the same bytes back.
    again = wlrn.encode_bundle(js_loads(manifest_text), [
        {"id": e["id"], "data": blobs[e["id"]], "mediaType": e.get("mediaType")} for e in toc])
    assert again == data
    tally["bundles decoded identically both ways"] += 1


def _same(a, b) -> bool:
    """Equal as JSON values (an int and a float of one value are the same number)."""
    if isinstance(a, bool) or isinstance(b, bool) or a is None or isinstance(a, str):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)):
        return isinstance(b, (int, float)) and not isinstance(b, bool) and a == b
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return (isinstance(a, list) and isinstance(b, list) and len(a) == len(b)
            and all(map(_same, a, b)))


def test_core_strategies_encode_identically(js, scale, tally):
    @_settings(scale("manifests") // 3)
    @given(manifests, artifact_lists)
    def check(manifest, artifacts):
        _compare_decode(js, _compare_encode(js, manifest, artifacts, tally), tally)

    check()


def test_wide_manifests_encode_identically(js, scale, tally):
    """Lone surrogates, subnormals, the 1e21 boundary, NaN/Infinity, __proto__ keys, every
    mediaType form JS drops or keeps."""
    @_settings(scale("manifests"))
    @given(wide_manifests, wide_artifacts)
    def check(manifest, artifacts):
        _compare_decode(js, _compare_encode(js, manifest, artifacts, tally), tally)

    check()


def test_encode_json_identically(js, scale, tally):
    @_settings(scale("json_values"))
    @given(wide_values | values)
    def check(value):
        tally["JSON values encoded"] += 1
        assert wlrn.encode_json(value) == js.encode_json(value)
        tally["JSON values byte-identical"] += 1

    check()


# --- a fast seeded generator for the long pass (hypothesis draws ~20 cases a second here) ----

_SPECIAL_FLOATS = [0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 1.7976931348623157e308,
                   1e21, 1e21 * (1 - 2**-52), 999999999999999900000.0, 1e-6, 1e-7,
                   9.999999999999999e-7, 0.1, 1 / 3, 2.0**53, -(2.0**53), 1.5e300,
                   math.nan, math.inf, -math.inf]
_KEYS = ["__proto__", "constructor", "toString", "10", "9", "", "typeId", "bundleVersion",
         "\ud83d\ude00", "\ue000", "a", "B", "b"]
_MEDIA = [None, "", False, 0, -0.0, math.nan, "application/json", "x/y; charset=\u00e9"]


def _random_text(rng) -> str:
    pick = rng.random()
    if pick < 0.3:
        return rng.choice(_KEYS)
    alphabet = (0x7F if pick < 0.6 else 0x800 if pick < 0.75 else 0xFFFF if pick < 0.9
                else 0x10FFFF)
    return "".join(chr(rng.randint(0, alphabet)) for _ in range(rng.randint(0, 8)))


def _random_number(rng):
    pick = rng.random()
    if pick < 0.2:
        return rng.choice(_SPECIAL_FLOATS)
    if pick < 0.4:
        return rng.randint(-(2**53), 2**53)
    if pick < 0.6:
        return struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
    if pick < 0.8:
        return round(rng.uniform(-1, 1) * 10.0 ** rng.randint(-30, 30), rng.randint(0, 17))
    return rng.choice([-1, 1]) * float(f"1e{rng.randint(-330, 310)}")


def _random_value(rng, depth: int = 0):
    pick = rng.random()
    if depth < 5 and pick < 0.15:
        return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    if depth < 5 and pick < 0.3:
        return {_random_text(rng): _random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))}
    if pick < 0.4:
        return rng.choice([None, True, False])
    if pick < 0.7:
        return _random_number(rng)
    return _random_text(rng)


def _random_case(rng):
    manifest = {_random_text(rng): _random_value(rng) for _ in range(rng.randint(0, 5))}
    artifacts, seen = [], set()
    for _ in range(rng.randint(0, 5)):
        artifact_id = _random_text(rng)
        if _json.utf16_key(artifact_id) in seen:
            continue
        seen.add(_json.utf16_key(artifact_id))
        artifact = {"id": artifact_id, "data": rng.randbytes(rng.randint(0, 40))}
        if rng.random() < 0.6:
            artifact["mediaType"] = rng.choice(_MEDIA)
        artifacts.append(artifact)
    return manifest, artifacts


def test_seeded_random_manifests_in_batches(js, scale, tally):
    import random

    rng = random.Random(20261130)
    total, batch = scale("random_manifests"), 500
    for start in range(0, total, batch):
        cases = [_random_case(rng) for _ in range(min(batch, total - start))]
        theirs = js.encode_many(cases)
        for (manifest, artifacts), js_bytes in zip(cases, theirs):
            tally["random bundles encoded (JS vs Python)"] += 1
            assert wlrn.encode_bundle(manifest, artifacts) == js_bytes, (manifest, artifacts)
            tally["random bundles byte-identical"] += 1
            if tally["random bundles byte-identical"] % 50 == 0:  # both ways, on a sample
                _compare_decode(js, js_bytes, tally)


def _neighbours(value: float, steps: int = 3) -> list[float]:
    out, low, high = [value], value, value
    for _ in range(steps):
        with np.errstate(over="ignore"):
            low, high = np.nextafter(low, -np.inf), np.nextafter(high, np.inf)
        out += [float(x) for x in (low, high) if np.isfinite(x)]
    return out


# Where ECMAScript's format switches form, and the ends of the double range.
_EDGES = np.array([x for edge in (1e21, 1e-6, 1e-7, 5e-324, 2.0**53, 1.7976931348623157e308,
                                  2.2250738585072014e-308, 1.0, 0.1, 1e20, 1e22, 1e-5)
                   for x in _neighbours(edge)])


def _number_batches(total: int, seed: int):
    """Doubles from every part of the range: random bit patterns (subnormals, huge, tiny),
    integers, short decimals, and neighbours of the format's switch points."""
    rng = np.random.default_rng(seed)
    per = 100_000
    for start in range(0, total, per):
        n = min(per, total - start)
        kind = (start // per) % 4
        if kind == 0:
            bits = rng.integers(0, 2**63, size=n, dtype=np.uint64) | (
                rng.integers(0, 2, size=n, dtype=np.uint64) << np.uint64(63))
            batch = bits.view(np.float64)
        elif kind == 1:
            batch = rng.integers(-(2**53), 2**53, size=n).astype(np.float64) * (
                10.0 ** rng.integers(-8, 12, size=n))
        elif kind == 2:
            batch = np.round(rng.standard_normal(n) * 10.0 ** rng.integers(-25, 25, size=n),
                             rng.integers(0, 17, size=n)[0])
        else:
            batch = rng.choice(_EDGES, size=n) * rng.choice([1.0, -1.0], size=n)
        yield batch


def test_number_format_is_json_stringify(js, scale, tally):
    for batch in _number_batches(scale("numbers"), seed=20261130):
        theirs = js.stringify(batch)
        ours = [_json.format_number(float(x)) for x in batch]
        tally["numbers formatted"] += len(batch)
        bad = [(float(x), o, t) for x, o, t in zip(batch, ours, theirs) if o != t]
        assert not bad, f"{len(bad)} differ, first: {bad[:5]}"
        tally["numbers formatted identically"] += len(batch)


def test_js_decode_errors_match_ours_on_malformed_bundles(js, tally):
    """The malformed classes @wlearn/core also has begin with the same words in both."""
    good = wlrn.encode_bundle({"typeId": "t.x.y@1"}, [{"id": "a", "data": b"abcd"},
                                                        {"id": "b", "data": b"efgh"}])
    m_len, t_len = struct.unpack_from("<II", good, 8)
    toc = json.loads(good[16 + m_len:16 + m_len + t_len])
    overlap = json.dumps([{**toc[0]}, {**toc[1], "offset": 2}], separators=(",", ":")).encode()
    cases = {
        "Bundle too small": good[:10],
        "Invalid bundle magic": b"WLRX" + good[4:],
        "Unsupported bundle version": good[:4] + struct.pack("<I", 2) + good[8:],
        "Bundle truncated": good[:16 + m_len + t_len - 1],
        "Invalid manifest JSON": good[:16] + b"x" + good[17:],
        "out of bounds": good[:-1],
        "overlap": good[:8] + struct.pack("<II", m_len, len(overlap)) + good[16:16 + m_len]
        + overlap + good[16 + m_len + t_len:],
        "SHA-256 mismatch": good[:-1] + b"x",
    }
    for words, data in cases.items():
        with pytest.raises(wlearn.BundleError) as ours:
            wlrn.validate_bundle(data)
        with pytest.raises(Exception) as theirs:
            js.decode_bundle(data, validate=True)
        assert words in str(ours.value) and words in str(theirs.value)
        tally["malformed bundles refused by both"] += 1
