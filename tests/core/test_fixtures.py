"""The codec against every bundle written by the JavaScript packages."""

from __future__ import annotations

import hashlib
import json

import pytest

import wlearn
import wlrn
from wlearn import _json

from _paths import fixtures_dir

FIXTURES = fixtures_dir()
JS_CASES = sorted(p.stem for p in (FIXTURES / "bundles-js").glob("*.wlrn"))
ALL_BUNDLES = sorted(
    [*(FIXTURES / "bundles-js").glob("*.wlrn"), *(FIXTURES / "bundles-upstream-nn").glob("*.wlrn"),
     *(FIXTURES / "mitra-js").glob("*/model.wlrn")])


def _sidecar(name: str) -> dict:
    return json.loads((FIXTURES / "bundles-js" / f"{name}.json").read_text(encoding="utf-8"))


def _artifacts(side: dict) -> list[dict]:
    out = []
    for art in side["encodeBundle_inputs"]["artifacts"]:
        item = {"id": art["id"], "data": bytes.fromhex(art["data_hex"])}
        if "mediaType" in art:
            item["mediaType"] = art["mediaType"]
        out.append(item)
    return out


def test_fixture_sets_are_present():
    assert len(JS_CASES) == 11
    assert len(ALL_BUNDLES) == 17


@pytest.mark.parametrize("name", JS_CASES)
def test_reencodes_byte_for_byte(name):
    side = _sidecar(name)
    expected = (FIXTURES / "bundles-js" / f"{name}.wlrn").read_bytes()
    out = wlrn.encode_bundle(side["encodeBundle_inputs"]["manifest"], _artifacts(side))
    exp = side["expected"]
    assert out[:16].hex() == exp["header_hex"]
    manifest_length = int.from_bytes(out[8:12], "little")
    toc_length = int.from_bytes(out[12:16], "little")
    assert out[16:16 + manifest_length].decode() == exp["manifest_json"]
    assert out[16 + manifest_length:16 + manifest_length + toc_length].decode() == exp["toc_json"]
    assert out == expected
    assert hashlib.sha256(out).hexdigest() == exp["sha256"] and len(out) == exp["size"]


@pytest.mark.parametrize("name", JS_CASES)
def test_decodes_to_sidecar(name):
    side = _sidecar(name)
    data = (FIXTURES / "bundles-js" / f"{name}.wlrn").read_bytes()
    manifest, toc, blobs = wlearn.validate_bundle(data)
    assert toc == side["expected"]["toc"]
    assert manifest["bundleVersion"] == 1
    given = {a["id"]: a["data"] for a in _artifacts(side)}
    assert {k: bytes(v) for k, v in blobs.items()} == given
    # re-encoding what we decoded reproduces the file (a decode -> encode fixed point)
    again = [{"id": e["id"], "data": blobs[e["id"]], "mediaType": e.get("mediaType")} for e in toc]
    assert wlrn.encode_bundle(manifest, again) == data


@pytest.mark.parametrize("path", ALL_BUNDLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_fixture_bundle_validates(path):
    data = path.read_bytes()
    manifest, toc, blobs = wlearn.validate_bundle(data)
    assert isinstance(manifest["typeId"], str) and "@" in manifest["typeId"]
    region_start = len(data) - sum(e["length"] for e in toc)
    for entry in toc:
        view = blobs[entry["id"]]
        assert isinstance(view, memoryview) and view.obj is data  # a view, not a copy
        start = region_start + entry["offset"]
        assert bytes(view) == data[start:start + entry["length"]]
        assert hashlib.sha256(view).hexdigest() == entry["sha256"]


@pytest.mark.parametrize("path", ALL_BUNDLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_json_sections_are_canonical(path):
    """Manifest and TOC text, parsed and re-encoded, give back the same bytes."""
    data = path.read_bytes()
    manifest_length = int.from_bytes(data[8:12], "little")
    toc_length = int.from_bytes(data[12:16], "little")
    manifest_text = data[16:16 + manifest_length]
    toc_text = data[16 + manifest_length:16 + manifest_length + toc_length]
    assert wlearn.encode_json(_json.parse_strict(manifest_text, "manifest")) == manifest_text
    assert wlearn.encode_json(_json.parse_strict(toc_text, "TOC")) == toc_text


@pytest.mark.parametrize("path", [*(FIXTURES / "mitra-js").glob("*/model.wlrn"),
                                  FIXTURES / "bundles-js" / "model_like.wlrn"],
                         ids=lambda p: p.parent.name)
def test_encode_json_reproduces_json_artifacts(path):
    _, _, blobs = wlearn.decode_bundle(path.read_bytes())
    meta = bytes(blobs["meta"])
    assert wlearn.encode_json(json.loads(meta)) == meta
