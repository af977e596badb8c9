"""Interop with @wlearn/mitra on the shared JS fixtures: byte-identical bundles, the support
set JS stored, the raw model output, our per-row readout, and JS's own readout."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

import wlearn
from wlearn.errors import ValidationError
from wlearn_mitra import MitraClassifier, MitraModel, MitraRegressor
from wlearn_mitra.engine import MitraEngine

from _paths import fixtures_dir

FIXTURES = fixtures_dir()
ONNX = FIXTURES / "onnx"
CLF_ONNX = ONNX / "tiny-mitra-classifier.onnx"
REG_ONNX = ONNX / "tiny-mitra-regressor.onnx"
CASES = ["a_binary_all", "b_3class_strat_s42", "d_labels_2_5_7", "e_regression_all"]
CLF_CASES = [c for c in CASES if not c.startswith("e_")]


class Case:
    def __init__(self, name: str) -> None:
        self.root = FIXTURES / "mitra-js" / name
        self.info = json.loads((self.root / "case.json").read_text())
        self.regression = self.info["kind"] == "regressor"
        self.onnx_path = REG_ONNX if self.regression else CLF_ONNX
        self.cls = MitraRegressor if self.regression else MitraClassifier
        # @wlearn/mitra's support pick, which a classifier makes on request.
        self.js_pick = {} if self.regression else {"support_selection": "balanced"}

    def __getattr__(self, name: str) -> np.ndarray:  # X, y, Xq, yq, pred, proba, ...
        return np.load(self.root / f"{name}.npy")

    @property
    def bundle(self) -> bytes:
        return (self.root / "model.wlrn").read_bytes()

    def fit(self, **kwargs):
        params = self.info["params_given"]
        return self.cls.create(self.onnx_path.read_bytes(), params).set_params(
            **{**self.js_pick, **kwargs}).fit(
            self.X, self.y
        )


def softmax64(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def js_readout(raw: np.ndarray, classes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """@wlearn/mitra's classifier readout: row stride K over the flat [Q, 10] output."""
    flat, k = raw.reshape(-1).astype(np.float64), len(classes)
    q = raw.shape[-2]
    logits = np.stack([flat[i * k : i * k + k] for i in range(q)])
    return classes[np.argmax(logits, axis=1)].astype(np.float64), softmax64(logits)


# -- bundles ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", CASES)
def test_fit_then_save_is_byte_identical_to_js(name):
    case = Case(name)
    assert case.fit().save() == case.bundle


@pytest.mark.parametrize("name", CASES)
def test_fit_from_a_path_also_matches(name):
    case = Case(name)
    params = case.info["params_given"]
    by_path = case.cls(onnx=str(case.onnx_path), max_support=params["maxSupport"],
                       seed=params["seed"], **case.js_pick).fit(case.X, case.y)
    assert by_path.save() == case.bundle


@pytest.mark.parametrize("name", CASES)
def test_js_bundle_loads_and_resaves_identically(name):
    case = Case(name)
    model = case.cls.load(case.bundle, case.onnx_path)
    assert model.save() == case.bundle
    unified = MitraModel.load(case.bundle, case.onnx_path)
    assert unified.task_ == ("regression" if case.regression else "classification")
    assert unified.save() == case.bundle


@pytest.mark.parametrize("name", CASES)
def test_decoded_support_set_is_the_js_rows(name):
    case = Case(name)
    model = case.cls.load(case.bundle, case.onnx_path)
    rows = case.support_indices
    np.testing.assert_array_equal(model.support_x_, case.X[rows].astype(np.float32))
    expected = case.y[rows]
    if case.regression:  # JS stores float32 targets; they load as float64
        expected = expected.astype(np.float32).astype(np.float64)
    np.testing.assert_array_equal(model.support_y_, expected.astype(model.support_y_.dtype))
    fitted = case.fit()
    np.testing.assert_array_equal(fitted.support_indices_, rows)
    manifest, toc, _ = wlearn.decode_bundle(case.bundle)
    assert manifest == case.info["bundle"]["manifest"]
    assert [e["id"] for e in toc] == ["meta", "support_x", "support_y"]


# -- the model's raw output and how it is read -----------------------------------------------

@pytest.mark.parametrize("name", CASES)
def test_raw_output_matches_engine_forward_on_the_decoded_support(name, cross_cpu_atol):
    case = Case(name)
    model = case.cls.load(case.bundle, case.onnx_path)
    engine = MitraEngine(case.onnx_path, task="regression" if case.regression else "classification")
    # JS feeds the raw labels (2, 5, 7 in case d): reproduce its feed to check the decoding.
    raw_labels = wlearn.decode_bundle(case.bundle)[2]["support_y"]
    y_fed = np.frombuffer(raw_labels, dtype="<f4" if case.regression else "<i4")
    out = engine.forward(model.support_x_, y_fed, case.Xq)
    np.testing.assert_allclose(out, case.raw_output[0], rtol=0, atol=cross_cpu_atol)


@pytest.mark.parametrize("name", CLF_CASES)
def test_proba_is_per_row_softmax_of_first_k_logits(name):
    case = Case(name)
    model = case.fit()
    k = len(model.classes_)
    engine = MitraEngine(CLF_ONNX, task="classification")
    index = np.searchsorted(model.classes_, model.support_y_)
    assert index.tolist() == list(np.unique(model.support_y_, return_inverse=True)[1])
    logits = engine.forward(model.support_x_, index, case.Xq)[:, :k]
    expected = softmax64(logits)
    proba = model.predict_proba(case.Xq)
    assert proba.dtype == np.float64 and proba.shape == (len(case.Xq), k)
    np.testing.assert_allclose(proba, expected, rtol=0, atol=1e-6)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(model.predict(case.Xq), model.classes_[expected.argmax(1)])
    if name != "d_labels_2_5_7":  # labels are 0..K-1: JS fed the same, so its raw output is ours
        np.testing.assert_allclose(proba, softmax64(case.raw_output[0, :, :k]), rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", CLF_CASES)
def test_js_readout_reproduced_and_where_it_differs(name):
    case = Case(name)
    classes = np.asarray(case.info["js_outputs"]["classes"])
    pred_js, proba_js = js_readout(case.raw_output, classes)
    np.testing.assert_array_equal(pred_js, case.pred)
    np.testing.assert_allclose(proba_js, case.proba, rtol=0, atol=1e-12)
    ours = case.fit().predict_proba(case.Xq)
    if name in ("b_3class_strat_s42", "d_labels_2_5_7"):
        # K = 3 with a stride of 3 over rows of 10: JS scores most rows with other rows' logits.
        assert np.abs(ours - case.proba).max() > 0.1
        assert np.mean(np.abs(ours - case.proba).max(axis=1) > 1e-6) > 0.5


def test_regression_unscaled_reproduces_js_and_minmax_scales(bare_forward, cross_cpu_atol):
    case = Case("e_regression_all")
    js_like = case.fit(target_scaling="none")
    # JS's predictions are its raw outputs: equal up to the float32 kernels of its CPU, and
    # exactly what the graph gives here on JS's feed
    np.testing.assert_allclose(js_like.predict(case.Xq), case.pred, rtol=0, atol=cross_cpu_atol)
    raw_here = bare_forward(REG_ONNX, js_like.support_x_, js_like.support_y_, case.Xq)
    np.testing.assert_array_equal(js_like.predict(case.Xq), raw_here.astype(np.float64))
    assert js_like.score(case.Xq, case.yq) == pytest.approx(
        case.info["js_outputs"]["score_query"]["value"], abs=1e-5
    )
    model = case.fit()
    y = model.support_y_.astype(np.float64)
    low, high = y.min(), y.max()
    engine = MitraEngine(REG_ONNX, task="regression")
    out = engine.forward(model.support_x_, (y - low) / (high - low), case.Xq).astype(np.float64)
    np.testing.assert_allclose(model.predict(case.Xq), out * (high - low) + low, rtol=1e-6)
    assert model.save() == js_like.set_params(target_scaling="minmax").save() == case.bundle


# -- onnxSha256 --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def other_classifier_bytes() -> bytes:
    onnx = pytest.importorskip("onnx")
    model = onnx.load_from_string(CLF_ONNX.read_bytes())
    model.doc_string = "same graph, other bytes"
    return model.SerializeToString()


def test_hash_mismatch_names_both_hashes_and_can_be_overridden(other_classifier_bytes):
    case = Case("b_3class_strat_s42")
    other_sha = hashlib.sha256(other_classifier_bytes).hexdigest()
    js_sha = case.info["onnx_session"]["onnxSha256"]
    with pytest.raises(ValidationError) as info:  # when the model opens (spec/mitra.md)
        MitraClassifier.load(case.bundle, other_classifier_bytes).open()
    assert js_sha in str(info.value) and other_sha in str(info.value)
    assert "check_onnx_hash=False" in str(info.value)
    model = MitraClassifier.load(case.bundle, other_classifier_bytes, check_onnx_hash=False)
    assert model.onnx_sha256_ == other_sha
    meta = json.loads(bytes(wlearn.decode_bundle(model.save())[2]["meta"]))
    assert meta["onnxSha256"] == other_sha


def test_session_without_bytes_stores_null_and_keeps_a_loaded_hash():
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(str(CLF_ONNX), providers=["CPUExecutionProvider"])
    probe = json.loads((FIXTURES / "mitra-js" / "edge_probe.json").read_text())
    X = np.asarray(probe["X"]["data"]).reshape(probe["X"]["rows"], probe["X"]["cols"])
    y = np.arange(len(X)) % 2
    model = MitraClassifier(onnx=session).fit(X, y)
    meta = json.loads(bytes(wlearn.decode_bundle(model.save())[2]["meta"]))
    expected = next(p for p in probe["probes"] if "InferenceSession" in p["name"])["meta"]
    assert meta == expected
    # Loading a JS bundle with a session: the hash cannot be checked, and is kept.
    case = Case("a_binary_all")
    assert MitraClassifier.load(case.bundle, session).save() == case.bundle


# -- edge probes ---------------------------------------------------------------------------------

def _probe_data():
    probe = json.loads((FIXTURES / "mitra-js" / "edge_probe.json").read_text())
    X = np.asarray(probe["X"]["data"]).reshape(probe["X"]["rows"], probe["X"]["cols"])
    Xq = np.asarray(probe["Xq"]["data"]).reshape(probe["Xq"]["rows"], probe["Xq"]["cols"])
    return probe, X, Xq


@pytest.mark.parametrize("name", ["labels 0/1 (baseline)", "labels {0, 12} (>= dim_output 10)",
                                  "labels {-1, 1} (negative)", "labels bool [true,false]"])
def test_int32_labels_are_stored_as_js_stores_them(name):
    probe, X, Xq = _probe_data()
    p = next(p for p in probe["probes"] if p["name"] == name)
    model = MitraClassifier(onnx=CLF_ONNX).fit(X, np.asarray(p["y_input"]))
    _, toc, blobs = wlearn.decode_bundle(model.save())
    meta = json.loads(bytes(blobs["meta"]))
    assert meta["classes"] == p["classes"]
    assert np.frombuffer(blobs["support_y"], "<i4").tolist() == p["support_y"]
    # JS fails on labels >= 10; fed as class indices they work.
    proba = model.predict_proba(Xq)
    assert proba.shape == (len(Xq), 2) and np.allclose(proba.sum(1), 1)


def test_regression_probe_targets_stored_as_float32():
    probe, X, _ = _probe_data()
    for p in probe["probes"]:
        if p["name"].startswith("regressor"):
            model = MitraRegressor(onnx=REG_ONNX).fit(X, np.asarray(p["y_input"]))
            blobs = wlearn.decode_bundle(model.save())[2]
            assert np.frombuffer(blobs["support_y"], "<f4").tolist() == pytest.approx(
                p["support_y"], rel=0, abs=0
            )


def test_default_params_are_js_defaults():
    probe, _, _ = _probe_data()
    p = next(p for p in probe["probes"] if p["name"] == "default params")
    for cls in (MitraClassifier, MitraRegressor):
        params = cls().get_params()
        assert {"maxSupport": params["max_support"], "seed": params["seed"]} == p["params"]
