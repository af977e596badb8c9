"""Regression targets float32 cannot hold: constant targets come back exactly as given, spreads
that float32 collapses (1e8 + 1, 1e8 + 2, ...) stay distinct, through fit, bundles and pickles;
``score`` follows scikit-learn's ``r2_score``."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.metrics import r2_score

import wlearn
import wlrn
from wlearn.errors import BundleError
from wlearn_mitra import MitraRegressor

from _paths import fixtures_dir

FIXTURES = fixtures_dir()
REG_ONNX = FIXTURES / "onnx" / "tiny-mitra-regressor.onnx"


def data(seed: int, n: int, n_features: int = 3):
    rng = np.random.default_rng(seed)
    X = rng.random((n, n_features)) * 4 - 2
    return X, X @ np.arange(1, n_features + 1) + (rng.random(n) - 0.5) * 0.1


def artifact_ids(bundle: bytes) -> list[str]:
    return [entry["id"] for entry in wlearn.decode_bundle(bundle)[1]]


@pytest.mark.parametrize("value", [0.1, 1e8 + 1, -2.0 / 3.0, 1e-30, 3.25])
def test_constant_targets_come_back_exactly(value):
    X, _ = data(1, 30)
    y = np.full(30, value)
    model = MitraRegressor(onnx=REG_ONNX).fit(X, y)
    pred = model.predict(X[:5])
    assert pred.dtype == np.float64
    np.testing.assert_array_equal(pred, np.full(5, value))
    assert model.score(X[:5], y[:5]) == 1.0
    bundle = model.save()
    for loaded in (MitraRegressor.load(bundle, REG_ONNX), pickle.loads(pickle.dumps(model))):
        np.testing.assert_array_equal(loaded.predict(X[:5]), np.full(5, value))
        assert loaded.score(X[:5], y[:5]) == 1.0
    # The float32 copy JS reads is still there; the exact one only when float32 rounds.
    exact = float(np.float32(value)) != value
    assert ("support_y_f64" in artifact_ids(bundle)) == exact


def test_a_spread_float32_cannot_hold_is_kept():
    # 1e8 + t for t in [0, 10]: float32 steps are 8 apart there, so the old float32 targets
    # were 1e8 or 1e8 + 8. Min-max scaling in float64 makes the shift exact: the model sees
    # the same scaled targets as for t itself.
    X, t = data(2, 40)
    t = (t - t.min()) / np.ptp(t) * 10
    Xq, _ = data(3, 8)
    base = MitraRegressor(onnx=REG_ONNX).fit(X, t).predict(Xq)
    shifted = MitraRegressor(onnx=REG_ONNX).fit(X, 1e8 + t)
    pred = shifted.predict(Xq)
    # float32 steps near 1e8 are 8 wide: the old targets were off by up to 4 (40% of the
    # spread); what is left here is the model's response to last-bit changes of its input.
    np.testing.assert_allclose(pred - 1e8, base, rtol=0, atol=1e-3)
    loaded = MitraRegressor.load(shifted.save(), REG_ONNX)
    np.testing.assert_array_equal(loaded.predict(Xq), pred)
    assert "support_y_f64" in artifact_ids(shifted.save())


def test_ordinary_targets_keep_javascripts_bytes():
    # Targets whose float32 rounding is far below the model's resolution are stored as JS
    # stores them (float32 support_y only), and predict the same after a round trip.
    X, y = data(4, 30)
    model = MitraRegressor(onnx=REG_ONNX).fit(X, y)
    assert artifact_ids(model.save()) == ["meta", "support_x", "support_y"]
    np.testing.assert_array_equal(model.support_y_, y.astype(np.float32))
    loaded = MitraRegressor.load(model.save(), REG_ONNX)
    np.testing.assert_array_equal(loaded.predict(X[:4]), model.predict(X[:4]))


def _with_exact(bundle: bytes, exact: np.ndarray) -> bytes:
    manifest, toc, blobs = wlearn.decode_bundle(bundle)
    artifacts = [{"id": e["id"], "data": bytes(blobs[e["id"]])} for e in toc
                 if e["id"] != "support_y_f64"]
    artifacts.append({"id": "support_y_f64", "data": exact.astype("<f8").tobytes()})
    manifest = {k: v for k, v in manifest.items() if k != "bundleVersion"}
    return wlrn.encode_bundle(manifest, artifacts)


def test_exact_targets_that_disagree_with_support_y_are_refused():
    X, _ = data(5, 10)
    bundle = MitraRegressor(onnx=REG_ONNX).fit(X, np.full(10, 0.1)).save()
    with pytest.raises(BundleError, match="disagree"):
        MitraRegressor.load(_with_exact(bundle, np.full(10, 0.2)), REG_ONNX)
    with pytest.raises(BundleError, match="support_y_f64"):
        MitraRegressor.load(_with_exact(bundle, np.full(9, 0.1)), REG_ONNX)
    with pytest.raises(BundleError, match="disagree"):
        MitraRegressor.load(_with_exact(bundle, np.full(10, np.nan)), REG_ONNX)


@pytest.mark.parametrize(
    "truth, pred, expected",
    [
        # scikit-learn's convention for constant y: 1.0 when exact, else 0.0 (r2_score's
        # force_finite), whatever rounding the float mean of the constant picks up.
        (np.full(7, 0.1), np.full(7, 0.1), 1.0),
        (np.full(7, 0.1), np.full(7, np.float32(0.1)), 0.0),
        (np.full(7, 1e8 + 1), np.full(7, 1e8), 0.0),
        (np.array([1.0, 2.0, 4.0, 8.0]), np.array([1.5, 2.0, 3.0, 9.0]), None),
        (np.array([0.1, 0.1, 0.1 + 2**-52]), np.array([0.1, 0.1, 0.1]), None),
    ],
)
def test_score_is_scikit_learns_r2(truth, pred, expected, monkeypatch):
    X, _ = data(6, len(truth))
    model = MitraRegressor(onnx=REG_ONNX).fit(X, truth)
    monkeypatch.setattr(MitraRegressor, "predict", lambda self, X: pred)
    if expected is None:
        expected = r2_score(truth, pred)
    assert model.score(X, truth) == pytest.approx(expected, rel=1e-12, abs=0)


@pytest.mark.filterwarnings("ignore::wlearn_mitra.BuiltinModelWarning")
@pytest.mark.parametrize("onnx", [REG_ONNX, None], ids=["tiny", "builtin"])
def test_a_few_extreme_targets_that_squeeze_the_rest_are_warned_of(onnx):
    import warnings

    X, y = data(0, 300)
    typo = y.copy()
    typo[0] = 1e6  # one data-entry error: the rest lie in 0.002% of the scaled range
    with pytest.warns(UserWarning, match=r"set by a few extreme values: 98% of the targets"):
        MitraRegressor(onnx=onnx).fit(X, typo)
    heavy = np.exp(2 * X[:, 0] + np.random.default_rng(1).normal(size=300))  # a real tail
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        for quiet in (y, heavy, np.r_[np.zeros(297), 1.0, 2.0, 3.0]):  # zero-inflated too
            MitraRegressor(onnx=onnx).fit(X, quiet)
        if onnx is not None:  # a scalar head: targets as given, nothing scaled (a bin head
            MitraRegressor(onnx=onnx, target_scaling="none").fit(X, typo)  # needs minmax)
