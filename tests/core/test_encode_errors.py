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
    ({"typeId": "t@1"}, None, "artifacts must be a list of dicts, got NoneType"),
    ({"typeId": "t@1"}, {"a": b"1"}, "artifacts must be a list of dicts, got dict"),
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
    assert fragment.replace("list of dicts,", "list of dicts with 'id' and 'data',") in str(
        info.value)


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


_NOT_NUMBERS = [
    pytest.param(np.array(["a"], dtype=object), "'O'", id="objects"),  # would write a pointer
    pytest.param(np.array(["abc"]), "'3w'", id="unicode"),
    pytest.param(np.array([1j]), "'Zd'", id="complex"),
    pytest.param(np.array([1.5], dtype=">f4"), "'>f'", id="big-endian"),
]


@pytest.mark.parametrize("encode", [wlrn.encode_bundle, wlearn.encode_bundle],
                         ids=["wlrn", "wlearn"])
@pytest.mark.parametrize("data, fmt", _NOT_NUMBERS)
def test_encode_refuses_items_that_are_not_little_endian_numbers(encode, data, fmt):
    before = data.copy()
    with pytest.raises(BundleError, match=f"buffer format {fmt}.*astype"):
        encode({"typeId": "acme.x.y@1"}, [{"id": "w", "data": data}])
    np.testing.assert_array_equal(data, before)


@pytest.mark.parametrize("encode", [wlrn.encode_bundle, wlearn.encode_bundle],
                         ids=["wlrn", "wlearn"])
def test_encode_refuses_datetimes_as_a_bundle_error(encode):
    data = np.array(["2020-01-01"], dtype="datetime64[D]")  # numpy: no buffer (ValueError)
    with pytest.raises(BundleError, match="bytes-like"):
        encode({"typeId": "acme.x.y@1"}, [{"id": "w", "data": data}])


@pytest.mark.parametrize("data", [
    np.arange(3, dtype="<f4"), np.arange(3, dtype=np.int64), np.array([True, False]),
    np.arange(3, dtype=np.uint8), np.arange(3, dtype=">i1"), np.float16([1, 2]),
    np.arange(6, dtype=np.float64).reshape(2, 3)[:, :2],
], ids=["f4", "i8", "bool", "u1", "big-endian-bytes", "f2", "strided"])
def test_encode_writes_numbers_as_their_little_endian_bytes(data):
    raw = wlrn.encode_bundle({"typeId": "acme.x.y@1"}, [{"id": "w", "data": data}])
    _, _, artifacts = wlrn.decode_bundle(raw)
    assert bytes(artifacts["w"]) == np.ascontiguousarray(data).astype(
        data.dtype.newbyteorder("<")).tobytes()
