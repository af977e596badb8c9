"""Code written against the upstream Python SDK 0.1 and @wlearn/core keeps working."""

from __future__ import annotations

import struct

import pytest

import wlearn
from wlearn import BundleError
from wlearn.bundle import HEADER_SIZE, decode_bundle, encode_bundle, validate_bundle


def test_region_style_blob_access():
    data = encode_bundle({"typeId": "t.m@1"}, [{"id": "w", "data": b"\x01\x02\x03"},
                                                {"id": "b", "data": b"\x04\x05"}])
    _, toc, blobs = decode_bundle(data)
    for entry in toc:  # the 0.1 idiom: slice the region with the TOC's offsets
        piece = blobs[entry["offset"]:entry["offset"] + entry["length"]]
        assert bytes(piece) == bytes(blobs[entry["id"]])
    assert blobs.region.nbytes == 5


def _header(magic=b"WLRN", version=1, manifest_length=0, toc_length=0):
    return struct.pack("<4sIII", magic, version, manifest_length, toc_length)


@pytest.mark.parametrize("data, js_message", [
    (b"WLR", "Bundle too small"),
    (_header(magic=b"NOPE"), "Invalid bundle magic"),
    (_header(version=99), "Unsupported bundle version"),
    (_header(manifest_length=9999), "Bundle truncated"),
    (_header(manifest_length=2) + b"{]", "Invalid manifest JSON"),
    (_header(manifest_length=2, toc_length=2) + b"{}[}", "Invalid TOC JSON"),
])
def test_messages_begin_as_in_javascript(data, js_message):
    with pytest.raises(BundleError) as info:
        decode_bundle(data)
    assert str(info.value).startswith(js_message)


def test_overlap_reported_before_hash_format():
    # as in @wlearn/core, placement problems are found even when other fields are odd
    manifest, toc = b'{"typeId":"t@1"}', (b'[{"id":"a","length":10,"offset":0,"sha256":"x"},'
                                          b'{"id":"b","length":10,"offset":5,"sha256":"y"}]')
    data = _header(manifest_length=len(manifest), toc_length=len(toc)) + manifest + toc + bytes(20)
    with pytest.raises(BundleError, match='TOC entries "a" and "b" overlap'):
        decode_bundle(data)


def test_top_level_names():
    for name in ("encode_bundle", "decode_bundle", "validate_bundle", "register", "load",
                 "get_registry", "WlearnError", "BundleError", "RegistryError",
                 "ValidationError", "NotFittedError", "DisposedError"):
        assert hasattr(wlearn, name), name
    assert wlearn.validate_bundle is validate_bundle and HEADER_SIZE == 16


def test_error_classes_as_0_3_where_it_matters():
    """NotFittedError is 0.3's: not an AttributeError, so hasattr and getattr with a default
    do not swallow it when a 0.3 plugin raises it from a property. ValidationError is also a
    ValueError (scikit-learn's expectation for bad input); spec/wlrn.md section 8."""
    from wlearn.errors import NotFittedError, ValidationError, WlearnError

    assert not issubclass(NotFittedError, AttributeError)
    assert issubclass(NotFittedError, WlearnError) and NotFittedError().code == "ERR_NOT_FITTED"
    assert str(NotFittedError()) == "Model is not fitted. Call fit() first."

    class Plugin03:
        @property
        def classes(self):
            raise NotFittedError()

    with pytest.raises(NotFittedError):
        hasattr(Plugin03(), "classes")
    with pytest.raises(NotFittedError):
        getattr(Plugin03(), "classes", None)
    assert issubclass(ValidationError, ValueError)


def test_encoder_refuses_what_is_not_json_as_0_3():
    with pytest.raises(BundleError, match="not representable in portable JSON"):
        encode_bundle({"typeId": "t.x@1", "metadata": {"value": (1, 2)}}, [])
