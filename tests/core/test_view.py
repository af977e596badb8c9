"""The Bundle object view, checked against the JS fixtures' own record of the data."""

from __future__ import annotations

import json

import numpy as np
import pytest

import wlearn
import wlrn
from wlearn import Bundle, BundleError, RegistryError, ValidationError

from _paths import fixtures_dir

FIXTURES = fixtures_dir()
CASES = sorted(p.name for p in (FIXTURES / "mitra-js").iterdir() if (p / "model.wlrn").exists())


@pytest.mark.parametrize("case", CASES)
def test_support_arrays_match_fit_inputs(case):
    folder = FIXTURES / "mitra-js" / case
    data = (folder / "model.wlrn").read_bytes()
    bundle = Bundle(data)
    X, y = np.load(folder / "X.npy"), np.load(folder / "y.npy")
    rows = np.load(folder / "support_indices.npy")
    n_features = bundle.manifest["metadata"]["nFeatures"]
    support_x = bundle.array("support_x", np.float32, (-1, n_features))
    np.testing.assert_array_equal(support_x, X[rows].astype(np.float32))
    regression = bundle.type_id.endswith("regressor@1")
    support_y = bundle.array("support_y", np.float32 if regression else np.int32)
    np.testing.assert_array_equal(support_y, y[rows].astype(support_y.dtype))
    assert bundle.json("meta")["nSupport"] == len(rows)
    # zero copy: the arrays live inside the input bytes
    whole = np.frombuffer(data, np.uint8)
    assert np.shares_memory(support_x, whole) and not support_x.flags.writeable


def test_artifact_fields_and_errors():
    bundle = Bundle((FIXTURES / "bundles-js" / "artifacts_sorting.wlrn").read_bytes())
    side = json.loads((FIXTURES / "bundles-js" / "artifacts_sorting.json").read_text())
    for entry in side["expected"]["toc"]:
        artifact = bundle[entry["id"]]
        assert (artifact.sha256, len(artifact), artifact.media_type) == (
            entry["sha256"], entry["length"], entry.get("mediaType"))
    assert "weights" in bundle and "nope" not in bundle
    with pytest.raises(BundleError, match='no artifact "nope"'):
        bundle["nope"]
    with pytest.raises(BundleError, match="not a multiple of 4"):
        bundle.array("b", np.float32)  # 3 bytes
    with pytest.raises(BundleError, match="do not fill shape"):
        bundle.array("weights", np.uint8, (5, 5))
    with pytest.raises(ValidationError, match="invalid dtype"):
        bundle.array("weights", "not-a-dtype")
    assert repr(bundle).startswith("<Bundle wlearn.test.artifacts@1: 13 artifacts")


def test_byte_order():
    data = wlrn.encode_bundle({"typeId": "t.x.y@1"}, [{"id": "v", "data": np.arange(3, dtype="<u2")}])
    bundle = Bundle(data)
    assert bundle.array("v", np.uint16).tolist() == [0, 1, 2]
    assert bundle.array("v", ">u2").tolist() == [0, 256, 512]


def test_verify_and_load():
    data = bytearray(wlrn.encode_bundle({"typeId": "test.view.model@1"}, [{"id": "a", "data": b"xy"}]))
    wlearn.register("test.view.model@1", lambda m, t, b: bytes(b["a"]))
    assert Bundle(bytes(data)).load() == b"xy"
    data[-1] ^= 1
    with pytest.raises(BundleError, match="SHA-256"):
        Bundle(bytes(data))
    assert bytes(Bundle(bytes(data), verify=False)["a"]) == b"xx"
    with pytest.raises(RegistryError, match="missing typeId"):
        Bundle(wlrn.encode_bundle({}, [])).load()


def test_a_bundle_iterates_its_artifact_ids_and_refuses_other_keys():
    bundle = Bundle(wlrn.encode_bundle({"typeId": "a.b@1"},
                                       [{"id": "b", "data": b"x"}, {"id": "a", "data": b""}]))
    assert list(bundle) == ["a", "b"] and len(bundle) == 2 and "a" in bundle and 0 not in bundle
    for key in (0, None, b"a"):
        with pytest.raises(BundleError, match=r"artifact ids are strings.*has \"a\", \"b\""):
            bundle[key]
    with pytest.raises(BundleError, match="artifact ids are strings"):
        bundle.array(5, "<f4")
