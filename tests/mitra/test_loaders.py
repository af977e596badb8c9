"""wlearn.load for Mitra bundles: register_loaders bindings, the environment, and the plugin's
entry points (a fresh interpreter that never imports wlearn_mitra itself)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import wlearn
from wlearn.errors import ValidationError
from wlearn_mitra import MitraClassifier, MitraRegressor, loaders, register_loaders

from _paths import fixtures_dir

FIXTURES = fixtures_dir()
CLF_ONNX = FIXTURES / "onnx" / "tiny-mitra-classifier.onnx"
REG_ONNX = FIXTURES / "onnx" / "tiny-mitra-regressor.onnx"
CLF_BUNDLE = FIXTURES / "mitra-js" / "b_3class_strat_s42" / "model.wlrn"
REG_BUNDLE = FIXTURES / "mitra-js" / "e_regression_all" / "model.wlrn"


@pytest.fixture(autouse=True)
def _clean(monkeypatch):
    monkeypatch.setattr(loaders, "_bound", {})


def test_register_loaders_binds_models_for_wlearn_load():
    register_loaders(classifier=CLF_ONNX.read_bytes(), regressor=str(REG_ONNX))
    clf = wlearn.load(CLF_BUNDLE.read_bytes())
    reg = wlearn.load(REG_BUNDLE)
    assert isinstance(clf, MitraClassifier) and isinstance(reg, MitraRegressor)
    assert clf.save() == CLF_BUNDLE.read_bytes() and reg.save() == REG_BUNDLE.read_bytes()
    Xq = np.load(FIXTURES / "mitra-js" / "b_3class_strat_s42" / "Xq.npy")
    direct = MitraClassifier.load(CLF_BUNDLE.read_bytes(), CLF_ONNX)
    np.testing.assert_array_equal(clf.predict_proba(Xq), direct.predict_proba(Xq))


def test_none_keeps_an_existing_binding():
    register_loaders(classifier=CLF_ONNX)
    register_loaders(regressor=REG_ONNX)
    assert isinstance(wlearn.load(CLF_BUNDLE), MitraClassifier)


def test_loaders_fall_back_to_the_environment(monkeypatch, unshipped):
    other = unshipped["regression"]
    rng = np.random.default_rng(0)
    bundle = MitraRegressor(onnx=other).fit(rng.standard_normal((20, 2)),
                                                 rng.standard_normal(20)).save()
    with pytest.raises(ValidationError, match="WLEARN_MITRA_REGRESSOR_ONNX"):
        loaders.load_regressor(*wlearn.decode_bundle(bundle))
    monkeypatch.setenv("WLEARN_MITRA_REGRESSOR_ONNX", other)
    model = loaders.load_regressor(*wlearn.decode_bundle(bundle))
    assert model.save() == bundle
    # a bundle of the shipped test model needs no variable: found by hash, the variable's
    # model notwithstanding
    model = loaders.load_regressor(*wlearn.decode_bundle(REG_BUNDLE))
    assert model.save() == REG_BUNDLE.read_bytes()
    Xq = np.load(FIXTURES / "mitra-js" / "e_regression_all" / "Xq.npy")
    np.testing.assert_array_equal(
        model.predict(Xq), MitraRegressor.load(REG_BUNDLE.read_bytes(), REG_ONNX).predict(Xq))


def _retyped(data: bytes, type_id: str) -> bytes:
    """The bundle ``data`` under another typeId (a hand edit)."""
    import wlrn

    manifest, toc, blobs = wlrn.decode_bundle(data)
    return wlrn.encode_bundle({**manifest, "typeId": type_id},
                              [{"id": e["id"], "data": bytes(blobs[e["id"]])} for e in toc])


@pytest.mark.parametrize("type_id", ["wlearn.mitra_onnx.regressor@1",
                                     "wlearn.mitra_onnx.regressor@2"])
def test_a_classifier_bundle_under_a_regressor_typeid_is_named_so(type_id):
    from wlearn.errors import BundleError

    with pytest.raises(BundleError, match="meta.classes, which only a classifier's has: a "
                       "classifier's bundle under a regressor's typeId"):
        wlearn.load(_retyped(CLF_BUNDLE.read_bytes(), type_id))


def test_a_regressor_bundle_under_a_classifier_typeid_is_named_so(tmp_path):
    from wlearn.errors import BundleError

    with pytest.raises(BundleError, match="neither .a regressor's bundle under a classifier"):
        wlearn.load(_retyped(REG_BUNDLE.read_bytes(), "wlearn.mitra_onnx.classifier@1"))
    rng = np.random.default_rng(1)
    X = np.column_stack([rng.standard_normal(20), np.arange(20) % 4])
    # target encoding keeps the targets in support_y_f64 only
    exact = MitraRegressor(onnx=str(REG_ONNX), target_encoding=True).fit(
        X, rng.standard_normal(20)).save()
    with pytest.raises(BundleError, match="'support_y_f64', which only a regressor's has"):
        wlearn.load(_retyped(exact, "wlearn.mitra_onnx.classifier@1"))


def test_a_bound_model_of_the_wrong_kind_is_refused(unshipped):
    rng = np.random.default_rng(2)
    bundle = MitraClassifier(onnx=unshipped["classification"]).fit(
        rng.standard_normal((20, 2)), np.arange(20) % 2).save()
    register_loaders(classifier=REG_ONNX)  # the wrong graph altogether
    with pytest.raises(ValidationError, match="regressor"):
        wlearn.load(bundle).open()  # when the model opens (spec/mitra.md)


def test_entry_points_load_without_importing_the_plugin():
    script = (
        "import sys, wlearn\n"
        "assert 'wlearn_mitra' not in sys.modules\n"
        f"m = wlearn.load({str(CLF_BUNDLE)!r})\n"
        f"r = wlearn.load({str(REG_BUNDLE)!r})\n"
        "print(type(m).__name__, type(r).__name__, m.classes_.tolist(), r.n_features_in_)\n"
    )
    env = {**os.environ, "WLEARN_MITRA_CLASSIFIER_ONNX": str(CLF_ONNX),
           "WLEARN_MITRA_REGRESSOR_ONNX": str(REG_ONNX)}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["MitraClassifier", "MitraRegressor", "[0,", "1,", "2]", "6"]


def test_a_bound_model_stays_the_parameter_of_a_test_model_bundle():
    """The tiny test model is found by hash only when no model is given or bound: with one
    bound, a save/load round trip keeps the bound model as the parameter (found by the
    coverage-guided fuzz pass)."""
    register_loaders(classifier=CLF_ONNX.read_bytes())
    model = wlearn.load(CLF_BUNDLE)
    again = wlearn.load(model.save())
    assert isinstance(again.get_params()["onnx"], bytes)
    assert again.get_params() == model.get_params()
