"""The estimators' ``precision`` parameter: it reaches the engine, engines are not shared across
precisions, it survives clone, bad values are refused, and bundles never record it."""

from __future__ import annotations


import numpy as np
import pytest

from wlearn_mitra import MitraClassifier, MitraModel, MitraRegressor

from _paths import fixtures_dir

pytest.importorskip("onnx")  # the int8 graph is made with onnxruntime.quantization

FIXTURES = fixtures_dir()
CLF_ONNX = FIXTURES / "onnx" / "tiny-mitra-classifier.onnx"
REG_ONNX = FIXTURES / "onnx" / "tiny-mitra-regressor.onnx"
CASE = FIXTURES / "mitra-js" / "b_3class_strat_s42"  # JS: maxSupport 128, seed 42


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    # The quantised graph goes to the user's cache folder; keep it in the test's own.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def case_data():
    return np.load(CASE / "X.npy"), np.load(CASE / "y.npy"), np.load(CASE / "Xq.npy")


def fitted(precision: str, onnx=CLF_ONNX) -> MitraClassifier:
    X, y, _ = case_data()
    return MitraClassifier(onnx=onnx, max_support=128, seed=42, precision=precision,
                           support_selection="balanced").fit(X, y)  # JS's pick


def test_int8_reaches_the_engine_and_agrees_with_fp32():
    _, _, Xq = case_data()
    fp32, int8 = fitted("fp32"), fitted("int8")
    a, b = fp32.predict_proba(Xq), int8.predict_proba(Xq)
    assert int8._open().engine.precision == "int8"
    assert np.abs(a - b).max() > 0  # quantised: not the fp32 numbers
    np.testing.assert_allclose(b.sum(axis=1), 1.0, rtol=0, atol=1e-9)
    # the tiny model is near-tied: rows float32 decides by a margin of 0.1 keep their class
    top2 = np.sort(a, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 0.1
    assert clear.sum() >= len(a) // 3
    np.testing.assert_array_equal(a[clear].argmax(axis=1), b[clear].argmax(axis=1))


def test_regressor_and_unified_model_pass_precision_on():
    rng = np.random.default_rng(3)
    X = rng.random((80, 4))
    y = X @ np.array([1.0, -2.0, 0.5, 3.0])
    fp32 = MitraRegressor(onnx=REG_ONNX).fit(X, y).predict(X[:20])
    int8 = MitraRegressor(onnx=REG_ONNX, precision="int8").fit(X, y)
    pred = int8.predict(X[:20])
    assert int8._open().engine.precision == "int8"
    # The tiny model's random weights spread its outputs well beyond y's range; compare
    # against that spread.
    assert 0 < np.abs(pred - fp32).max() < 0.1 * np.ptp(fp32)
    model = MitraModel(regressor_onnx=REG_ONNX, precision="int8").fit(X, y)
    assert model._inner.precision == "int8"
    np.testing.assert_array_equal(model.predict(X[:20]), pred)


def test_set_params_switches_the_engine():
    _, _, Xq = case_data()
    model = fitted("fp32")
    want_fp32 = model.predict_proba(Xq)
    want_int8 = fitted("int8").predict_proba(Xq)
    np.testing.assert_array_equal(model.set_params(precision="int8").predict_proba(Xq), want_int8)
    np.testing.assert_array_equal(model.set_params(precision="fp32").predict_proba(Xq), want_fp32)


def test_engines_are_shared_only_at_the_same_precision():
    engine = lambda model: model._open().engine  # noqa: E731
    a32, b32 = MitraClassifier(onnx=CLF_ONNX), MitraClassifier(onnx=CLF_ONNX)
    a8, b8 = (MitraClassifier(onnx=CLF_ONNX, precision="int8") for _ in range(2))
    assert engine(a32) is engine(b32) and engine(a8) is engine(b8)
    assert engine(a32) is not engine(a8)
    assert (engine(a32).precision, engine(a8).precision) == ("fp32", "int8")
    data = CLF_ONNX.read_bytes()
    c32, c8 = MitraClassifier(onnx=data), MitraClassifier(onnx=data, precision="int8")
    assert engine(c32) is not engine(c8)
    assert engine(c8).precision == "int8"


def test_clone_and_get_params_keep_precision():
    from sklearn.base import clone

    for model in (MitraClassifier(onnx=CLF_ONNX, precision="int8"),
                  MitraRegressor(onnx=REG_ONNX, precision="int8"),
                  MitraModel(precision="int8")):
        assert model.get_params()["precision"] == "int8"
        copy = clone(model)
        assert copy is not model and copy.precision == "int8"
        assert "precision='int8'" in repr(model)
    assert MitraClassifier().precision == "fp32"
    assert "precision" not in repr(MitraClassifier())


def test_int8_bundle_is_byte_identical_to_fp32_and_js():
    js = (CASE / "model.wlrn").read_bytes()
    int8 = fitted("int8").save()
    assert int8 == fitted("fp32").save() == js
    # Loading picks the precision at run time; the bundle again does not record it.
    _, _, Xq = case_data()
    loaded = MitraClassifier.load(js, CLF_ONNX, precision="int8")
    assert loaded.precision == "int8" and loaded._open().engine.precision == "int8"
    np.testing.assert_array_equal(loaded.predict_proba(Xq), fitted("int8").predict_proba(Xq))
    assert loaded.save() == js
    unified = MitraModel.load(js, CLF_ONNX, precision="int8")
    assert unified.precision == "int8" and unified._inner._open().engine.precision == "int8"
    assert unified.save() == js
