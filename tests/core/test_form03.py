"""The 0.3 manifest form and the 0.3 bundle/registry API of PyPI's wlearn core, on ours.

Bundles that contradict themselves are built with the plain codec (:mod:`wlrn`), which writes
any manifest it is given; the core must refuse them.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

import wlearn
import wlrn
from wlearn import BundleError, RegistryError
from wlearn.bundle import (
    DEFAULT_BUNDLE_LIMITS, decode_bundle, encode_bundle, read_bundle_input, validate_bundle,
    write_bundle_output,
)
from wlearn.registry import register

from _paths import fixtures_dir

NESTED = "application/x-wlearn-bundle"
FIXTURES = fixtures_dir()
SPEC = (Path(__file__).resolve().parents[2] / "spec" / "wlrn.md").read_text(encoding="utf-8")


def _inner() -> bytes:
    return encode_bundle({"typeId": "acme.forest.classifier@1"},
                         [{"id": "w", "data": b"\x01\x02\x03"}])


def _outer(inner: bytes, **manifest) -> bytes:
    return encode_bundle({"typeId": "acme.holder@1", **manifest},
                         [{"id": "inner", "data": inner, "mediaType": NESTED}])


def _declarations(toc):
    return [{k: e[k] for k in ("id", "length", "sha256", "mediaType") if k in e} for e in toc]


def test_encode_writes_the_03_form_in_canonical_json():
    data = _inner()
    manifest, toc, blobs = validate_bundle(data, allow_legacy_manifest=False)
    assert manifest["requires"] == [] and manifest["params"] == {}
    assert toc[0]["mediaType"] == "application/octet-stream"
    assert manifest["artifacts"] == [{"id": "w", "length": 3, "mediaType":
                                      "application/octet-stream",
                                      "sha256": hashlib.sha256(b"\x01\x02\x03").hexdigest()}]
    # the same bytes @wlearn/core writes for the full manifest
    assert wlrn.encode_bundle(manifest, [{"id": "w", "data": b"\x01\x02\x03",
                                          "mediaType": "application/octet-stream"}]) == data


def test_requires_sorted_and_derived_from_nested_bundles():
    deep = _outer(_inner(), requires=["zeta.extra@2"])
    manifest = validate_bundle(_outer(deep))[0]
    assert manifest["requires"] == ["acme.forest.classifier@1", "acme.holder@1",
                                    "zeta.extra@2"]


def test_encode_refuses_a_legacy_nested_bundle():
    legacy = wlrn.encode_bundle({"typeId": "acme.forest.classifier@1"}, [])
    with pytest.raises(BundleError, match="manifest.artifacts is required"):
        _outer(legacy)


def test_encode_refuses_what_03_refuses():
    with pytest.raises(BundleError, match="versioned typeId"):
        encode_bundle({"typeId": "no-version"}, [])
    with pytest.raises(BundleError, match="finite"):
        encode_bundle({"typeId": "a.b@1", "params": {"x": float("nan")}}, [])
    with pytest.raises(BundleError, match="Too many artifacts"):
        encode_bundle({"typeId": "a.b@1"}, [{"id": "a", "data": b""}, {"id": "b", "data": b""}],
                      limits={"max_artifacts": 1})


def _with_manifest(data: bytes, change) -> bytes:
    """The bundle re-encoded by the plain codec with ``change(manifest)`` applied."""
    manifest, toc, blobs = wlrn.decode_bundle(data)
    change(manifest)
    return wlrn.encode_bundle(manifest, [{"id": e["id"], "data": blobs[e["id"]],
                                          "mediaType": e.get("mediaType")} for e in toc])


@pytest.mark.parametrize("change, message", [
    (lambda m: m["artifacts"][0].update(length=4), "does not match TOC entry"),
    (lambda m: m["artifacts"][0].update(sha256="0" * 64), "does not match TOC entry"),
    (lambda m: m["artifacts"][0].update(mediaType="text/plain"), "does not match TOC entry"),
    (lambda m: m["artifacts"].append(dict(m["artifacts"][0])), "length does not match TOC"),
    (lambda m: m.update(artifacts={}), "manifest.artifacts must be a list"),
    (lambda m: m.update(requires=["x.y@1", "x.y@1"]), "Duplicate manifest requirement"),
    (lambda m: m.update(requires=["nope"]), "versioned typeId"),
    (lambda m: m.update(params=[]), "manifest.params must be a dict"),
])
def test_declarations_and_fields_are_checked_against_the_toc(change, message):
    bad = _with_manifest(_inner(), change)
    wlrn.decode_bundle(bad)  # the plain codec has no opinion on these fields
    for fn in (decode_bundle, validate_bundle, wlearn.load):
        with pytest.raises(BundleError, match=message):
            fn(bad)


def test_nested_hashes_are_checked():
    inner = bytearray(_inner())
    inner[-1] ^= 0xFF  # the inner blob no longer matches the inner TOC
    outer = _outer(_inner())
    manifest, toc, blobs = wlrn.decode_bundle(outer)
    entry = {**toc[0], "length": len(inner), "sha256": hashlib.sha256(inner).hexdigest()}
    manifest["artifacts"] = _declarations([entry])
    corrupt = wlrn.encode_bundle(manifest, [{"id": "inner", "data": bytes(inner),
                                             "mediaType": NESTED}])
    wlrn.validate_bundle(corrupt)  # every outer hash is right
    with pytest.raises(BundleError, match=r'nested bundle "inner": SHA-256 mismatch for "w"'):
        validate_bundle(corrupt)


def test_requires_must_name_every_nested_loader():
    bad = _with_manifest(_outer(_inner()), lambda m: m.update(requires=[]))
    decode_bundle(bad)
    with pytest.raises(BundleError, match='missing nested loader "acme.forest.classifier@1"'):
        validate_bundle(bad)


def test_depth_and_decoded_size_limits():
    data = _inner()
    for _ in range(3):
        data = _outer(data)
    validate_bundle(data)
    with pytest.raises(BundleError, match="depth 3 exceeds maximum 2"):
        validate_bundle(data, limits={"max_nesting_depth": 2})
    total = len(data) + 2 * len(data)  # more than the outer bundle, less than all levels
    with pytest.raises(BundleError, match="Decoded nested bundle bytes exceed"):
        validate_bundle(data, limits={"max_decoded_bytes": total // 2})
    with pytest.raises(BundleError, match="Bundle exceeds maximum size 10"):
        decode_bundle(data, limits={"max_bundle_bytes": 10})
    assert DEFAULT_BUNDLE_LIMITS["max_nesting_depth"] == 32


def test_strict_mode_demands_the_new_fields():
    legacy = (FIXTURES / "bundles-js" / "model_like.wlrn").read_bytes()
    validate_bundle(legacy)
    with pytest.raises(BundleError, match="manifest.artifacts is required"):
        decode_bundle(legacy, allow_legacy_manifest=False)
    no_params = _with_manifest(_inner(), lambda m: m.pop("params"))
    decode_bundle(no_params)
    with pytest.raises(BundleError, match="manifest.params is required"):
        decode_bundle(no_params, allow_legacy_manifest=False)


def test_legacy_requires_of_javascript_is_kept_as_is():
    data = (FIXTURES / "bundles-js" / "bundle_version_override.wlrn").read_bytes()
    assert validate_bundle(data)[0]["requires"] == ["onnx"]


def test_read_and_write_helpers(tmp_path):
    data = _inner()
    path = tmp_path / "m.wlrn"
    assert write_bundle_output(data, path) is data and path.read_bytes() == data
    assert write_bundle_output(data) is data
    assert read_bundle_input(str(path)) == data and read_bundle_input(data) is data
    with pytest.raises(BundleError, match="exceeds maximum size 5"):
        read_bundle_input(path, max_bytes=5)


# --- registry -----------------------------------------------------------------------------

def test_context_loaders_get_read_only_loader_options():
    seen = {}

    def loader(manifest, toc, blobs, context):
        seen["options"] = context["loaderOptions"]
        return bytes(blobs[toc[0]["offset"]:toc[0]["offset"] + toc[0]["length"]])

    register("acme.forest.classifier@1", loader, accepts_context=True)
    options = {"acme.forest.classifier@1": {"threads": [1, 2]}}
    assert wlearn.load(_inner(), loader_options=options) == b"\x01\x02\x03"
    options["acme.forest.classifier@1"]["threads"].append(3)  # a snapshot was taken
    assert seen["options"]["acme.forest.classifier@1"]["threads"] == (1, 2)
    with pytest.raises(TypeError):
        seen["options"]["x"] = 1
    with pytest.raises(RegistryError, match="accepts_context must be a boolean"):
        register("a.b@1", loader, accepts_context=1)
    with pytest.raises(RegistryError, match="loader_options must be a dict"):
        wlearn.load(_inner(), loader_options=[1])


def test_missing_nested_loader_fails_before_any_loader_runs():
    calls = []
    register("acme.holder@1", lambda *parts: calls.append(parts))
    with pytest.raises(RegistryError, match="^Missing required loader for nested typeId "
                                            '"acme.forest.classifier@1"'):  # 0.3's words
        wlearn.load(_outer(_inner()))
    assert calls == []
    register("acme.forest.classifier@1", lambda *parts: "forest")
    wlearn.load(_outer(_inner()))
    assert len(calls) == 1


def test_errors_of_the_03_core():
    for name, code in (("ResourceLimitError", "ERR_RESOURCE_LIMIT"),
                       ("CancelledError", "ERR_CANCELLED"), ("BackendError", "ERR_BACKEND")):
        error = getattr(wlearn.errors, name)()
        assert isinstance(error, wlearn.WlearnError) and error.code == code
    assert wlearn.errors.BundleError is wlrn.BundleError


# --- spec vectors -------------------------------------------------------------------------

VECTORS = {
    block["vector03"]: block for block in (
        dict(re.findall(r"^(\w+): (.*)$", text, re.M))
        for text in re.findall(r"```text\n(vector03: .*?)```", SPEC, re.S))
}


def test_spec_has_the_03_vectors():
    assert set(VECTORS) == {"plain", "nested"}


@pytest.mark.parametrize("name", ["plain", "nested"])
def test_spec_03_vectors(name):
    vector = VECTORS[name]
    inner = _inner()
    data = inner if name == "plain" else encode_bundle(
        json.loads(vector["manifest_in"]), [{"id": "inner", "data": inner, "mediaType": NESTED}])
    if name == "plain":
        assert json.loads(vector["manifest_in"]) == {"typeId": "acme.forest.classifier@1"}
        assert data.hex() == vector["bundle"]
    manifest_length = int.from_bytes(data[8:12], "little")
    assert data[16:16 + manifest_length].decode() == vector["manifest"]
    assert hashlib.sha256(data).hexdigest() == vector["sha256"]


def test_a_legacy_nested_bundle_with_free_form_requires_is_read():
    """@wlearn/core's own "requires" (any JSON) in a nested legacy bundle names no loaders."""
    legacy = wlrn.encode_bundle({"typeId": "acme.forest.classifier@1",
                                 "requires": [{"runtime": "onnx"}]}, [])
    outer = wlrn.encode_bundle({"typeId": "acme.holder@1", "requires": []},
                               [{"id": "inner", "data": legacy, "mediaType": NESTED}])
    with pytest.raises(BundleError, match="missing nested loader"):
        validate_bundle(outer)  # the nested typeId itself is still needed
    outer = wlrn.encode_bundle({"typeId": "acme.holder@1",
                                "requires": ["acme.forest.classifier@1"]},
                               [{"id": "inner", "data": legacy, "mediaType": NESTED}])
    assert validate_bundle(outer)[0]["typeId"] == "acme.holder@1"


def _with_toc(data: bytes, change) -> bytes:
    """The bundle with ``change(manifest, toc)`` applied to its parsed JSON, blobs kept."""
    manifest, toc, blobs = wlrn.decode_bundle(data)
    change(manifest, toc)
    manifest_text, toc_text = wlrn.encode_json(manifest), wlrn.encode_json(toc)
    return (b"WLRN" + (1).to_bytes(4, "little") + len(manifest_text).to_bytes(4, "little")
            + len(toc_text).to_bytes(4, "little") + manifest_text + toc_text
            + bytes(blobs.region))


def test_ids_only_javascript_writes_get_bundle_errors():
    def number_id(manifest, toc):
        toc[0]["id"] = 7

    data = _with_toc(_inner(), number_id)  # declarations still say "w"
    with pytest.raises(BundleError, match='does not match TOC entry 7: id "w" declared, 7'):
        decode_bundle(data)
    with pytest.raises(BundleError):
        decode_bundle(data, allow_legacy_manifest=False)

    def both(manifest, toc):
        toc[0]["id"] = manifest["artifacts"][0]["id"] = 7

    data = _with_toc(_inner(), both)
    assert decode_bundle(data)[1][0]["id"] == 7  # read as JavaScript reads it
    with pytest.raises(BundleError):
        decode_bundle(data, allow_legacy_manifest=False)


def test_a_declaration_must_have_the_toc_entrys_json_type():
    one = encode_bundle({"typeId": "a.b@1"}, [{"id": "x", "data": b"x"}])
    bad = _with_manifest(one, lambda m: m["artifacts"][0].update(length=True))
    with pytest.raises(BundleError, match='TOC entry "x": length true declared, 1 in the TOC'):
        decode_bundle(bad)
