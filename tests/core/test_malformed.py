"""One test per malformed-bundle class listed in spec/wlrn.md ("Malformed bundles")."""

from __future__ import annotations

import mmap
import re
from pathlib import Path

import pytest

import wlearn
import wlrn
from wlearn import BundleError, WlearnError

from ._build import GOOD, GOOD_ENTRIES, GOOD_REGION, bundle_with, entry, raw_bundle

SPEC = Path(__file__).resolve().parents[2] / "spec" / "wlrn.md"
M = '{"typeId":"t.x.y@1"}'


def _toc(*entries):
    return bundle_with(list(entries), GOOD_REGION)


def _e(**changes):
    base = dict(GOOD_ENTRIES[0])
    for key, value in changes.items():
        if value is ...:
            del base[key]
        else:
            base[key] = value
    return _toc(base, GOOD_ENTRIES[1])


# class id -> (bundle bytes, a fragment of the message)
CASES = {
    "H1-not-bytes": (12345, "must be bytes-like"),
    "H2-too-small": (GOOD[:15], "Bundle too small"),
    "H3-magic": (b"WLRM" + GOOD[4:], "Invalid bundle magic (expected WLRN)"),
    "H4-version": (raw_bundle(M, "[]", version=2), "Unsupported bundle version: 2 (expected 1)"),
    "H5-truncated-manifest": (raw_bundle(M, "[]", manifest_length=len(M) + 1), "Bundle truncated"),
    "H5-truncated-region": (raw_bundle(M, "[]", toc_length=16 * 2**20), "Bundle truncated"),
    "H5-truncated-toc": (raw_bundle(M, "[]", toc_length=3), "Bundle truncated"),
    "J1-utf8": (raw_bundle(b'{"typeId":"\xff@1"}', "[]"), "Invalid manifest JSON: not valid UTF-8"),
    "J1-utf8-overlong": (raw_bundle(b'{"typeId":"\xc0\xafx@1"}', "[]"), "JSON: not valid UTF-8"),
    "J1-utf8-surrogate": (raw_bundle(b'{"a":"\xed\xa0\x80"}', "[]"), "JSON: not valid UTF-8"),
    "J2-bom": (raw_bundle(b"\xef\xbb\xbf" + M.encode(), "[]"), "Invalid manifest JSON"),
    "J3-syntax": (raw_bundle('{"typeId":', "[]"), "Invalid manifest JSON"),
    "J3-empty": (raw_bundle("", "[]"), "Invalid manifest JSON"),
    "J3-trailing": (raw_bundle(M + " {}", "[]"), "Invalid manifest JSON"),
    "J3-toc-syntax": (raw_bundle(M, "[{]"), "Invalid TOC JSON"),
    "J3-control-char": (raw_bundle('{"a":"\n"}', "[]"), "Invalid manifest JSON"),
    "J4-nan": (raw_bundle('{"a":NaN}', "[]"), "NaN is not allowed"),
    "J4-infinity": (raw_bundle('{"a":-Infinity}', "[]"), "-Infinity is not allowed"),
    "J4-infinity-toc": (raw_bundle(M, "[Infinity]"), "Infinity is not allowed"),
    "J5-overflow": (raw_bundle('{"a":1e400}', "[]"), "overflows a double"),
    "J5-huge-int": (raw_bundle('{"a":' + "9" * 5000 + "}", "[]"), "Invalid manifest JSON"),
    "J6-duplicate-key": (raw_bundle('{"a":1,"a":2}', "[]"), 'duplicate key "a"'),
    "S1-manifest-array": (raw_bundle("[]", "[]"), "Invalid manifest: must be a JSON object, got an array"),
    "S1-manifest-null": (raw_bundle("null", "[]"), "got null"),
    "S2-toc-object": (raw_bundle(M, "{}"), "Invalid TOC: must be a JSON array, got an object"),
    "T1-entry-not-object": (raw_bundle(M, "[1]"), "TOC entry 0 is not an object"),
    "T2-id-missing": (_e(id=...), "TOC entry 0: 'id' must be a string"),
    "T3-offset-missing": (_e(offset=...), "'offset' must be a non-negative integer, got nothing"),
    "T3-offset-negative": (_e(offset=-1), "'offset' must be a non-negative integer"),
    "T3-offset-float": (_e(offset=0.0),
                        "'offset' must be a non-negative integer, got 0.0 (a float)"),
    "T3-length-bool": (_e(length=True), "'length' must be a non-negative integer, got true"),
    "T3-length-string": (_e(length="4"), "'length' must be a non-negative integer"),
    "T3-length-huge": (_e(length=2**60), "'length' must be a non-negative integer"),
    "T4-out-of-bounds": (_toc(GOOD_ENTRIES[0], entry("b", 5, b"efgh")), "out of bounds"),
    "T4-offset-past-end": (_toc(entry("a", 9, b"")), "out of bounds"),
    "T5-sha-missing": (_e(sha256=...), "'sha256' must be 64 lowercase hex"),
    "T5-sha-upper": (_e(sha256=GOOD_ENTRIES[0]["sha256"].upper()), "64 lowercase hex"),
    "T5-sha-short": (_e(sha256="ab"), "64 lowercase hex"),
    "T6-media-empty": (_e(mediaType=""), "'mediaType' must be a non-empty string"),
    "T6-media-false": (_e(mediaType=False), "'mediaType' must be a non-empty string"),
    "T6-media-null": (_e(mediaType=None), "'mediaType' must be a non-empty string"),
    "T6-media-zero": (_e(mediaType=0), "'mediaType' must be a non-empty string"),
    "T8-overlap": (_toc(GOOD_ENTRIES[0], entry("b", 3, b"defg")), 'entries "a" and "b" overlap'),
    "T8-overlap-contained": (_toc(entry("a", 0, GOOD_REGION), entry("b", 2, b"cd")), "overlap"),
}

def _nested(depth: int) -> list:
    value: list = []
    for _ in range(depth - 1):
        value = [value]
    return value


_BIG = '{"typeId":"t.x.y@1","pad":"' + "x" * (16 * 2**20) + '"}'

# What @wlearn/core writes and wlearn does not (spec: "Read and reported"):
# class id -> (bundle bytes, fragment of the strict=True message, fragment of the note)
STRICT_CASES = {
    "U1-manifest-over-16-MiB": (raw_bundle(_BIG, "[]"), "Manifest too large: 16,777,245 bytes",
                                "Manifest too large"),
    "U1-toc-over-16-MiB": (raw_bundle(M, "[" + " " * (16 * 2**20) + "]"), "TOC too large",
                           "TOC too large"),
    "U2-deep-manifest": (raw_bundle('{"a":' + "[" * 3000 + "]" * 3000 + "}", "[]"),
                         "Invalid manifest JSON: nested deeper than 256 levels",
                         "the manifest is nested 3,001 levels deep"),
    "U2-deep-toc": (bundle_with([dict(GOOD_ENTRIES[0], x=_nested(300))], GOOD_REGION),
                    "Invalid TOC JSON: nested deeper", "the TOC is nested 302 levels deep"),
    "U3-duplicate-id": (_toc(GOOD_ENTRIES[0], entry("a", 4, b"efgh")), 'Duplicate artifact id "a"',
                        'artifact id "a" is used by TOC entries 0 and 1'),
    "U4-id-number": (_e(id=5), "TOC entry 0: 'id' must be a string", "TOC entry 0 has a number as id (5)"),
    "U4-id-null": (_e(id=None), "'id' must be a string", "TOC entry 0 has null as id"),
    "U5-media-number": (_e(mediaType=3), "'mediaType' must be a non-empty string",
                        'TOC entry "a" has a number as mediaType (3)'),
    "U5-media-object": (_e(mediaType={"a": 1}), "'mediaType' must be a non-empty string",
                        "an object as mediaType"),
}


@pytest.mark.parametrize("name", sorted(STRICT_CASES))
def test_strict_refuses_and_default_reads_and_reports(name):
    data, fragment, note = STRICT_CASES[name]
    for fn in (wlrn.decode_bundle, wlrn.validate_bundle):
        with pytest.raises(BundleError) as info:
            fn(data, strict=True)
        assert fragment in str(info.value)
        manifest, toc, blobs = fn(data)
        assert isinstance(manifest, dict) and isinstance(toc, list)
        assert any(note in text for text in blobs.unusual), blobs.unusual
    assert wlearn.Bundle(data).unusual == blobs.unusual


def test_usual_bundles_have_nothing_unusual():
    assert wlrn.decode_bundle(GOOD)[2].unusual == ()
    assert wlearn.Bundle(GOOD, strict=True).unusual == ()


def test_duplicate_ids_read_as_javascript_finds_them():
    data = _toc(entry("a", 0, b"abcd"), entry("a", 4, b"efgh"))
    _, toc, blobs = wlrn.validate_bundle(data)
    assert len(toc) == 2 and bytes(blobs["a"]) == b"abcd"  # toc.find returns the first
    assert list(wlearn.Bundle(data).artifacts) == ["a"]
    with pytest.raises(BundleError, match='SHA-256 mismatch for "a"'):
        wlrn.validate_bundle(_toc(entry("a", 0, b"abcd"), dict(entry("a", 4, b"efgh"),
                                                                    sha256="0" * 64)))


def test_non_string_ids_stay_in_the_toc_and_the_region():
    data = _e(id=5)
    _, toc, blobs = wlrn.validate_bundle(data)
    assert toc[0]["id"] == 5 and 5 not in blobs and list(blobs) == ["b"]
    assert bytes(blobs.region[toc[0]["offset"]:toc[0]["offset"] + toc[0]["length"]]) == b"abcd"


VALIDATE_CASES = {
    "V1-hash-mismatch": (bundle_with(GOOD_ENTRIES, b"abcdefgX"), 'SHA-256 mismatch for "b": expected'),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_decode_rejects(name):
    data, fragment = CASES[name]
    for fn in (wlearn.decode_bundle, wlearn.validate_bundle):
        with pytest.raises(BundleError) as info:
            fn(data)
        assert fragment in str(info.value)
        assert info.value.code == "ERR_BUNDLE"


@pytest.mark.parametrize("name", sorted(VALIDATE_CASES))
def test_validate_rejects(name):
    data, fragment = VALIDATE_CASES[name]
    wlearn.decode_bundle(data)  # structurally fine
    with pytest.raises(BundleError, match=re.escape(fragment)):
        wlearn.validate_bundle(data)


def test_json_limit_is_a_strict_limit_and_the_encoder_writes_large_sections(monkeypatch):
    from wlrn import bundle

    monkeypatch.setattr(bundle, "MAX_JSON_BYTES", 40)
    with pytest.raises(BundleError, match=r"TOC too large: \d+ bytes exceeds the limit of 40"):
        wlrn.decode_bundle(GOOD, strict=True)
    assert any("TOC too large" in note for note in wlrn.decode_bundle(GOOD)[2].unusual)
    data = wlrn.encode_bundle({"typeId": "t.x.y@1", "pad": "a" * 50}, [])
    assert wlrn.decode_bundle(data)[0]["pad"] == "a" * 50
    monkeypatch.setattr(bundle, "MAX_SECTION_BYTES", 40)
    with pytest.raises(BundleError, match=r"Manifest too large: \d+ bytes exceeds the limit of 40"):
        wlrn.encode_bundle({"typeId": "t.x.y@1", "pad": "a"}, [])


def test_every_spec_class_has_a_test():
    """The spec's list of classes and this table must not drift apart."""
    spec_ids = set(re.findall(r"^\| `([A-Z]\d+)` \|", SPEC.read_text(encoding="utf-8"), re.M))
    tested = {name.split("-")[0] for name in [*CASES, *VALIDATE_CASES, *STRICT_CASES]}
    assert spec_ids and spec_ids == tested


# --- accepted on purpose (see the spec's "Tolerated" list) ---------------------------------

def test_tolerated_variations_decode():
    gap = bundle_with([entry("a", 2, b"cd")], b"abcdef")  # gaps and trailing bytes
    unsorted = _toc(GOOD_ENTRIES[1], GOOD_ENTRIES[0])
    extra = _toc(dict(GOOD_ENTRIES[0], future=1), GOOD_ENTRIES[1])
    empty_inside = _toc(*GOOD_ENTRIES, entry("z", 2, b""))  # zero-length never overlaps
    lone = raw_bundle('{"s":"\\ud800","typeId":"t.x.y@1"}', "[]")
    for data in (gap, unsorted, extra, empty_inside, lone):
        wlearn.validate_bundle(data)
    assert wlearn.decode_bundle(lone)[0]["s"] == "\ud800"


def test_big_integers_read_as_doubles_like_js():
    manifest, _, _ = wlearn.decode_bundle(raw_bundle('{"a":123456789012345678901,"b":9007199254740993}', "[]"))
    assert manifest == {"a": 1.2345678901234568e20, "b": 9007199254740992.0}


def test_depth_at_the_limit_is_fine():
    wlrn.decode_bundle(raw_bundle('{"a":' + "[" * 255 + "]" * 255 + "}", "[]"), strict=True)
    deeper = raw_bundle('{"a":' + "[" * 256 + "]" * 256 + "}", "[]")
    with pytest.raises(BundleError, match="deeper"):
        wlrn.decode_bundle(deeper, strict=True)
    assert wlrn.decode_bundle(deeper)[2].unusual == (
        "the manifest is nested 257 levels deep (wlearn writes at most 256)",)


def test_deep_json_is_read_without_recursion_and_with_every_rule():
    depth = 50_000  # far beyond the recursion limit, and beyond what JavaScript can write
    manifest = wlrn.decode_bundle(raw_bundle('{"a":' + "[" * depth + "]" * depth + "}", "[]"))[0]
    for _ in range(depth - 1):
        (manifest,) = manifest["a"] if isinstance(manifest, dict) else manifest
    deep = "[" * 300 + "{}" + "]" * 300
    for text, fragment in [
        ('{"a":' + deep[:-1] + "}", "Expecting ',' delimiter"),
        ('{"a":' + deep + ',"a":1}', 'duplicate key "a"'),
        ('{"a":' + deep.replace("{}", "NaN") + "}", "NaN is not allowed"),
        ('{"a":' + deep.replace("{}", "1e400") + "}", "overflows a double"),
        ('{"a":' + deep.replace("{}", '"\n"') + "}", "Invalid manifest JSON"),
        ('{"a":' + deep.replace("{}", '"\x01"') + "}", "Invalid control character"),
        ('{"a":' + deep + "} x", "Extra data"),
        ('{"a":' + deep.replace("{}", "01") + "}", "Invalid manifest JSON"),
    ]:
        with pytest.raises(BundleError, match=re.escape(fragment)):
            wlrn.decode_bundle(raw_bundle(text, "[]"))


def test_brackets_inside_strings_do_not_count():
    text = '{"a":"' + "[" * 5000 + '\\"' + "{" * 5000 + '"}'
    manifest, _, _ = wlearn.decode_bundle(raw_bundle(text, "[]"))
    assert manifest["a"].startswith("[[[")


def test_input_kinds(tmp_path):
    path = tmp_path / "b.wlrn"
    path.write_bytes(GOOD)
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        _, _, blobs = wlearn.validate_bundle(mm)
        assert bytes(blobs["b"]) == b"efgh"
        del blobs  # release the exported buffers before the mmap closes
    for data in (GOOD, bytearray(GOOD), memoryview(GOOD), path, str(path)):
        assert bytes(wlearn.validate_bundle(data)[2]["a"]) == b"abcd"
    with open(path, "rb") as handle:
        assert bytes(wlearn.validate_bundle(handle)[2]["a"]) == b"abcd"
    with pytest.raises(BundleError, match="binary mode"), open(path, encoding="latin-1") as handle:
        wlearn.decode_bundle(handle)
    with pytest.raises(BundleError, match="cannot read bundle"):
        wlearn.decode_bundle(tmp_path / "missing.wlrn")
    numpy = pytest.importorskip("numpy")
    as_array = numpy.frombuffer(GOOD, dtype=numpy.uint8)
    assert bytes(wlearn.decode_bundle(as_array)[2]["a"]) == b"abcd"
    with pytest.raises(BundleError, match="C-contiguous"):
        wlearn.decode_bundle(numpy.frombuffer(GOOD * 2, dtype=numpy.uint8)[::2])


def test_zero_copy_views():
    data = bytearray(GOOD)
    _, _, blobs = wlearn.decode_bundle(data)
    data[-1] = ord("Z")  # the view sees writes to the input: it is not a copy
    assert bytes(blobs["b"]) == b"efgZ"
    assert bytes(blobs[0:8]) == b"abcdefgZ" and blobs.region.nbytes == 8


def test_errors_are_wlearn_errors():
    assert issubclass(BundleError, WlearnError)


def test_a_cut_file_reads_as_truncated_on_every_load_path():
    """H5 through the load paths' reading policy (``read_bundle``, whose size bounds grow
    with the input): a file cut inside its manifest or TOC is "Bundle truncated", never a
    size limit the caller did not set."""
    from wlearn.reading import read_bundle

    json_end = 16 + int.from_bytes(GOOD[8:12], "little") + int.from_bytes(GOOD[12:16], "little")
    for cut in range(16, json_end):
        for read in (read_bundle, lambda data: read_bundle(data, verify=False), wlearn.Bundle):
            with pytest.raises(BundleError, match="^Bundle truncated"):
                read(GOOD[:cut])


def test_every_entry_point_checks_the_version_before_the_section_sizes():
    """H4 before H5 (spec/wlrn.md section 4): garbage after the magic is an unsupported
    version, not an oversized manifest, whichever function reads it."""
    data = b"WLRNgarbage-garbage"
    for read in (wlearn.decode_bundle, wlearn.validate_bundle, wlrn.decode_bundle,
                 wlearn.load, wlearn.Bundle):
        with pytest.raises(BundleError, match="Unsupported bundle version: 1651663207"):
            read(data)
