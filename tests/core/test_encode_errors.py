"""encode_bundle refuses inputs that would not make a readable, unambiguous bundle."""

from __future__ import annotations

import numpy as np
import pytest

import wlearn
import wlrn
from wlearn import BundleError


@pytest.mark.parametrize("manifest, artifacts, fragment", [
    ([], [], "the manifest must be a dict"),
    ({"typeId": "t@1"}, ["x"], "artifact 0 must be a dict"),
    ({"typeId": "t@1"}, [{"data": b""}], "artifact 0: 'id' must be a string"),
    ({"typeId": "t@1"}, [{"id": 1, "data": b""}], "'id' must be a string"),
    ({"typeId": "t@1"}, [{"id": "a"}], "artifact \"a\" has no 'data'"),
    ({"typeId": "t@1"}, [{"id": "a", "data": "text"}], "data must be bytes-like, got str"),
    ({"typeId": "t@1"}, [{"id": "a", "data": b"", "mediaType": 1}], "'mediaType' must be a string"),
    ({"typeId": "t@1"}, [{"id": "a", "data": b""}, {"id": "a", "data": b"x"}], 'Duplicate artifact id "a"'),
    ({"typeId": "t@1"}, [{"id": "\U0001F600", "data": b""}, {"id": "\ud83d\ude00", "data": b""}],
     "same JavaScript string"),
    ({"typeId": "t@1", "x": {1, 2}}, [], "at .x: a set is not JSON"),
])
def test_encode_rejects(manifest, artifacts, fragment):
    with pytest.raises(BundleError) as info:
        wlrn.encode_bundle(manifest, artifacts)
    assert fragment in str(info.value)


def test_buffers_of_any_shape_are_written_raw():
    matrix = np.arange(12, dtype=np.float32).reshape(3, 4)
    strided = matrix[:, ::2]  # not contiguous: written in C order
    data = wlrn.encode_bundle({"typeId": "t@1"}, [
        {"id": "m", "data": matrix}, {"id": "s", "data": strided},
        {"id": "b", "data": bytearray(b"ab")}, {"id": "v", "data": memoryview(b"cd")}])
    _, _, blobs = wlearn.validate_bundle(data)
    assert bytes(blobs["m"]) == matrix.tobytes() and bytes(blobs["s"]) == strided.tobytes()
    assert bytes(blobs["b"]) == b"ab" and bytes(blobs["v"]) == b"cd"


def test_empty_media_type_and_none_are_dropped():
    data = wlrn.encode_bundle({"typeId": "t@1"}, [
        {"id": "a", "data": b"", "mediaType": ""}, {"id": "b", "data": b"", "mediaType": None},
        {"id": "c", "data": b"", "mediaType": "x/y"}, {"id": "d", "data": b"", "mediaType": False},
        {"id": "e", "data": b"", "mediaType": 0}, {"id": "f", "data": b"", "mediaType": -0.0},
        {"id": "g", "data": b"", "mediaType": float("nan")}])
    _, toc, _ = wlearn.decode_bundle(data)
    # As JavaScript's ``if (art.mediaType)``: every falsy value is dropped.
    assert [("mediaType" in e) for e in toc] == [False, False, True, False, False, False, False]


def test_bundle_version_forced():
    manifest, _, _ = wlearn.decode_bundle(wlrn.encode_bundle({"typeId": "t@1", "bundleVersion": 7}, []))
    assert manifest["bundleVersion"] == 1
