"""Bundles @wlearn/core's encodeBundle writes (and its decodeBundle reads back) that wlearn's
encoder never makes: each kind made by the real JS package, then read by Python as JS reads it,
reported as unusual, and refused under strict=True (spec/wlrn.md, "Read and reported")."""

from __future__ import annotations

import json
import re

import pytest

import wlearn
import wlrn
from wlrn import BundleError
from wlearn.cli import main as cli

pytestmark = pytest.mark.js


def _read_both_ways(js, data: bytes, note: str, strict_message: str):
    """Python reads the JS bundle as JS does, reports ``note`` and refuses it when strict."""
    js_manifest, js_toc, region = js.decode_bundle(data, validate=True)
    manifest, toc, blobs = wlrn.validate_bundle(data)
    assert toc == js_toc and blobs.region.nbytes == region
    assert any(note in text for text in blobs.unusual), blobs.unusual
    with pytest.raises(BundleError, match=strict_message):
        wlrn.validate_bundle(data, strict=True)
    view = wlearn.Bundle(data)  # wlearn's own reader (with the 0.3 checks) reads it too
    assert view.toc == toc and view.unusual == blobs.unusual
    with pytest.raises(BundleError, match=strict_message):
        wlearn.Bundle(data, strict=True)
    for entry in toc:  # every entry's bytes, found where JS finds them
        start = entry["offset"]
        assert bytes(blobs.region[start:start + entry["length"]]) == bytes(
            data[len(data) - region + start:len(data) - region + start + entry["length"]])
    return js_manifest, manifest, toc, blobs


def test_duplicate_artifact_ids(js):
    data = js.encode_bundle({"typeId": "t.x.y@1"}, [{"id": "w", "data": b"\x00"},
                                                    {"id": "w", "data": b"\x01\x02"}])
    _, _, toc, blobs = _read_both_ways(js, data, 'artifact id "w" is used by TOC entries 0 and 1',
                                       "Duplicate artifact id")
    assert [e["id"] for e in toc] == ["w", "w"]
    assert bytes(blobs["w"]) == b"\x00"  # JS's toc.find(e => e.id === 'w') gives the first
    assert list(wlearn.Bundle(data).artifacts) == ["w"]


@pytest.mark.parametrize("depth", [257, 2000])
def test_manifests_nested_deeper_than_256(js, depth):
    nested = "[" * (depth - 1) + "]" * (depth - 1)
    data = js.encode_bundle('{"typeId":"t.x.y@1","deep":' + nested + "}",
                            [{"id": "a", "data": b"x"}])
    _, manifest, _, blobs = _read_both_ways(js, data, f"nested {depth:,} levels deep",
                                            "nested deeper than 256 levels")
    value, levels = manifest["deep"], 2
    while value:
        (value,) = value
        levels += 1
    assert levels == depth and bytes(blobs["a"]) == b"x"


def test_manifest_and_toc_over_16_mib(js):
    pad = "x" * (17 * 2**20) + "\u00e9"
    artifacts = [{"id": f"{i:04d}" + "i" * 200_000, "data": bytes([i])} for i in range(90)]
    data = js.encode_bundle({"typeId": "t.x.y@1", "pad": pad}, artifacts)
    js_manifest, manifest, toc, blobs = _read_both_ways(js, data, "Manifest too large",
                                                        "Manifest too large")
    assert any("TOC too large" in text for text in blobs.unusual)
    assert manifest["pad"] == pad and len(toc) == 90
    assert bytes(blobs[artifacts[7]["id"]]) == b"\x07"
    # Python writes what it read back byte for byte (the encoder has no 16 MiB cap).
    assert wlrn.encode_bundle(manifest, [{"id": e["id"], "data": blobs[e["id"]]}
                                           for e in toc]) == data
    # wlearn.load opens it too: its default bounds grow with the input; 0.3's fixed limits
    # apply when asked for.
    wlearn.register("t.x.y@1", lambda m, t, b: (m["pad"], len(t)))
    assert wlearn.load(data) == (pad, 90)
    with pytest.raises(wlearn.BundleError, match="Manifest exceeds maximum size 16777216"):
        wlearn.load(data, limits=wlearn.bundle.DEFAULT_BUNDLE_LIMITS)


@pytest.mark.parametrize("odd_id", [5, None, 0.5, {"a": 1}, True])
def test_non_string_ids(js, odd_id):
    data = js.encode_bundle({"typeId": "t.x.y@1"}, [{"id": odd_id, "data": b"odd"},
                                                    {"id": "s", "data": b"str"}])
    _, _, toc, blobs = _read_both_ways(js, data, "as id", "'id' must be a string")
    entry = next(e for e in toc if e["id"] == odd_id and type(e["id"]) is type(odd_id))
    assert bytes(blobs.region[entry["offset"]:entry["offset"] + entry["length"]]) == b"odd"
    assert list(blobs) == ["s"] and bytes(blobs["s"]) == b"str"


@pytest.mark.parametrize("media_type", [5, True, {"x": 1}, [1]])
def test_non_string_media_types(js, media_type):
    data = js.encode_bundle({"typeId": "t.x.y@1"}, [{"id": "a", "data": b"a",
                                                     "mediaType": media_type}])
    _, _, toc, blobs = _read_both_ways(js, data, "as mediaType",
                                       "'mediaType' must be a non-empty string")
    assert toc[0]["mediaType"] == media_type and bytes(blobs["a"]) == b"a"
    assert wlearn.Bundle(data)["a"].media_type is None


@pytest.mark.parametrize("media_type", [False, 0, -0.0, float("nan"), None, ""])
def test_falsy_media_types_are_dropped_as_javascript_drops_them(js, media_type):
    artifacts = [{"id": "a", "data": b"a", "mediaType": media_type}]
    data = wlrn.encode_bundle({"typeId": "t.x.y@1"}, artifacts)
    assert data == js.encode_bundle({"typeId": "t.x.y@1"}, artifacts)
    assert "mediaType" not in wlrn.decode_bundle(data)[1][0]


def test_validate_and_inspect_report_the_unusual(js, tmp_path, capsys):
    data = js.encode_bundle({"typeId": "t.x.y@1"}, [{"id": "w", "data": b"\x00"},
                                                    {"id": "w", "data": b"\x01"},
                                                    {"id": 5, "data": b"5", "mediaType": 5}])
    path = tmp_path / "odd.wlrn"
    path.write_bytes(data)
    assert cli(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert "unusual" in out and 'artifact id "w" is used by TOC entries' in out
    assert re.search(r"TOC entry \d has a number as id \(5\)", out)
    assert cli(["validate", "--strict", str(path)]) == 1
    assert "Duplicate artifact id" in capsys.readouterr().err
    assert cli(["inspect", "--json", str(path)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert len(report["unusual"]) == 2 and report["ok"]
    assert [a["id"] for a in report["artifacts"]] == [e["id"] for e in js.decode_bundle(data)[1]]
    assert cli(["inspect", str(path)]) == 0
    assert capsys.readouterr().out.count("unusual ") == 2
