"""Bin-head regressors (Mitra-v2's ``autogluon/mitra-regressor-2``): AutoGluon's bins, the mean
decode, ensembles with mirrored targets, predictive distributions and bundles.

Runs on a tiny random bin-head graph committed under tests/data/mitra-v2 (made by its
``make_reference.py``) and, where a trained model's peaked probabilities could show what a
nearly flat one hides, on the built-in regressor too; every expected number is computed here
from the raw graph output with numpy, independently of the package's code.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

import wlearn
import wlrn
from wlearn.errors import BundleError, ValidationError
from wlearn_mitra import MitraRegressor, register_loaders
from wlearn_mitra.inputs import _bins
from wlearn_mitra.bundles._format import REGRESSOR_BINS_TYPE_ID, REGRESSOR_TYPE_ID
from wlearn_mitra.engine import MitraEngine
from wlearn_mitra.graphs import _builtin

from _paths import fixtures_dir

DATA = Path(__file__).resolve().parents[1] / "data" / "mitra-v2"
ONNX = DATA / "tiny-regressor-2.onnx"
FIXTURES = fixtures_dir("onnx")
V1 = FIXTURES / "tiny-mitra-regressor.onnx"
V1_CLASSIFIER = FIXTURES / "tiny-mitra-classifier.onnx"
N_BINS = 1000
NAMES = ("x_support", "y_support", "x_query", "padding_obs_support")


# -- independent reference: numpy on the raw graph ----------------------------------------------


#: The bin-head models the package has: the tiny random graph, and the built-in regressor
#: (trained, so its probabilities are peaked where the tiny one's are nearly flat).
BIN_MODELS = {"tiny": ONNX, "built-in": _builtin.path("regression")}


@pytest.fixture(scope="module", params=sorted(BIN_MODELS))
def bin_model(request):
    """The path of one bin-head model; the tests that take it run on each."""
    return BIN_MODELS[request.param]


@pytest.fixture(scope="module")
def bin_session(bin_model):
    return ort.InferenceSession(str(bin_model), providers=["CPUExecutionProvider"])


def reference_edges() -> np.ndarray:
    # torch.linspace(-0.5, 1.5, 1001) in float32, written down from torch 2.13 by its rule
    # (fused multiply-add from the nearer end); checked against torch itself below.
    return _bins.edges(N_BINS)


def raw_probabilities(session, xs, bin_ids, xq) -> np.ndarray:
    feeds = dict(zip(NAMES, (xs.astype(np.float32)[None], bin_ids.astype(np.int64)[None],
                             xq.astype(np.float32)[None], np.zeros((1, len(xs)), bool))))
    logits = session.run(["output"], feeds)[0][0].astype(np.float64)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def count_below(y: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """bucketize(y, edges) - 1, clamped: edges strictly below each float32 value, minus one."""
    y32 = np.asarray(y, dtype=np.float32)
    return np.clip((edges[None, :] < y32[:, None]).sum(axis=1) - 1, 0, len(edges) - 2)


def mean_decode(p: np.ndarray) -> np.ndarray:
    e = reference_edges()
    centres = (e[:-1] + np.float32((e[1] - e[0]) / np.float32(2))).astype(np.float64)
    return p @ centres


def table(seed=0, rows=60, features=4, queries=9):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rows, features))
    y = 3 * X[:, 0] + np.sin(2 * X[:, 1]) + rng.standard_normal(rows) * 0.3 + 10
    Xq = rng.standard_normal((queries, features))
    return X, y, Xq


# -- the bins -------------------------------------------------------------------------------------


def test_edges_are_torch_linspace_bit_for_bit():
    torch = pytest.importorskip("torch")
    for n in (2, 3, 7, 10, 64, 999, 1000, 1001, 4096, 10000):
        expected = torch.linspace(-0.5, 1.5, n + 1).numpy()
        assert _bins.edges(n).view(np.int32).tolist() == expected.view(np.int32).tolist(), n


def test_edges_are_not_numpy_linspace():
    # The float32 quirk AutoGluon's bins have (REFERENCE.md): edge 250 is 2.37e-8, not 0,
    # and 572 of the 1001 edges differ from numpy's linspace rounded to float32.
    e = _bins.edges(N_BINS)
    assert e.dtype == np.float32 and e[250] == np.float32(2.3748726e-08)
    assert int(np.sum(e != np.linspace(-0.5, 1.5, N_BINS + 1).astype(np.float32))) == 572


def test_bin_ids_are_bucketize_minus_one_clamped():
    e = reference_edges()
    rng = np.random.default_rng(1)
    y = np.concatenate([
        rng.random(500), [0.0, 1.0, 0.5, -0.7, 1.9, 1e-9, -1e-9, 2.3e-8, 2.4e-8],
        e.astype(np.float64), np.nextafter(e, np.float32(np.inf)).astype(np.float64),
        np.nextafter(e, np.float32(-np.inf)).astype(np.float64),
    ])
    ids = _bins.bin_ids(y, N_BINS)
    assert ids.dtype == np.int64
    np.testing.assert_array_equal(ids, count_below(y, e))
    torch = pytest.importorskip("torch")
    expected = torch.clamp(torch.bucketize(torch.tensor(y, dtype=torch.float32),
                                           torch.linspace(-0.5, 1.5, N_BINS + 1)) - 1, 0, N_BINS - 1)
    np.testing.assert_array_equal(ids, expected.numpy())


def test_bin_counts_are_checked():
    for bad in (1, 0, -3, 2.5, True, "1000", 2**40):
        with pytest.raises(ValidationError, match="number of target bins"):
            _bins.edges(bad)


# -- the engine --------------------------------------------------------------------------------


def test_engine_reads_the_bin_head_from_the_graph():
    engine = MitraEngine(ONNX, task="regression")
    assert engine.n_bins == N_BINS
    assert MitraEngine(V1, task="regression").n_bins is None
    with pytest.raises(ValidationError, match="1000-bin head, which does not fit task 'classif"):
        MitraEngine(ONNX, task="classification")
    # A classifier graph declares CLASSIFICATION: it is no bin-head regressor.
    with pytest.raises(ValidationError, match="is a Mitra classifier"):
        MitraEngine(V1_CLASSIFIER, task="regression")


def test_engine_bins_each_member_and_reverses_mirrored_ones(bin_model, bin_session):
    """An ensemble of mirror_y members is a mix of the plain member A = p(bins(y)) and the
    mirrored member B = reverse(p(bins(1 - y))); B's mean is AutoGluon's 1 - mean of the
    mirrored output up to the float32 asymmetry of the edges."""
    X, y, Xq = table(2)
    s = (y - y.min()) / (y.max() - y.min())
    a = raw_probabilities(bin_session, X, count_below(s, reference_edges()), Xq)
    mirrored = raw_probabilities(bin_session, X, count_below(1 - s, reference_edges()), Xq)
    b = mirrored[:, ::-1]
    np.testing.assert_allclose(mean_decode(b), 1 - mean_decode(mirrored), rtol=0, atol=1e-7)
    assert np.max(np.abs(a - b)) > 1e-3  # mirroring is visible in this model's output

    engine = MitraEngine(bin_model, task="regression", split=None)
    k = 8
    got = engine.predict(X, s, Xq, n_estimators=k, transforms={"mirror_y"}, seed=5)
    errors = [np.max(np.abs(got - (m * a + (k - m) * b) / k)) for m in range(k + 1)]
    best = int(np.argmin(errors))
    assert errors[best] < 1e-6 and 0 < best < k, errors  # both kinds drawn, mixed exactly
    np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=0, atol=1e-9)
    plain = engine.predict(X, s, Xq)
    np.testing.assert_allclose(plain, a, rtol=0, atol=1e-6)


# -- the estimator: predict is the mean of the bins ---------------------------------------------


def test_predict_is_the_mean_decode_of_autogluons_bins(bin_model, bin_session):
    X, y, Xq = table(3)
    model = MitraRegressor(onnx=bin_model).fit(X, y)
    low, span = y.min(), y.max() - y.min()
    s = (y - low) / span  # float64, then float32 for the bins, as AutoGluon
    p = raw_probabilities(bin_session, X.astype(np.float32), count_below(s, reference_edges()), Xq)
    expected = mean_decode(p) * span + low
    np.testing.assert_allclose(model.predict(Xq), expected, rtol=0, atol=1e-6 * span)
    # Binning against numpy's linspace instead moves some targets one bin, which the model sees.
    wrong = np.clip(np.searchsorted(np.linspace(-0.5, 1.5, 1001).astype(np.float32),
                                    s.astype(np.float32)) - 1, 0, 999)
    if not np.array_equal(wrong, count_below(s, reference_edges())):
        other = mean_decode(raw_probabilities(bin_session, X, wrong, Xq)) * span + low
        assert np.max(np.abs(other - expected)) > 1e-6 * span


def test_a_bin_head_model_keeps_the_exact_targets():
    # AutoGluon bins the float64 targets it is given; float32 rounding could move one a bin.
    X, _, _ = table(13)
    y = 1e8 + np.arange(len(X)) * 0.37  # float32 cannot hold these apart
    model = MitraRegressor(onnx=ONNX).fit(X, y)
    assert model.support_y_.dtype == np.float64 and np.array_equal(model.support_y_, y)
    assert np.array_equal(MitraRegressor.load(model.save(), ONNX).support_y_, y)


def test_ensembles_predict_the_mean_of_the_mixture(bin_model):
    X, y, Xq = table(4)
    model = MitraRegressor(onnx=bin_model, n_estimators=4).fit(X, y)
    dist = model.predict_distribution(Xq)
    np.testing.assert_allclose(dist.probabilities.sum(axis=1), 1.0, rtol=0, atol=1e-9)
    assert np.array_equal(model.predict(Xq), dist.mean())


# -- predictive distributions --------------------------------------------------------------------


def reference_quantile(p_row: np.ndarray, edges: np.ndarray, level: float) -> float:
    """Walk the bins until their mass reaches ``level``; uniform inside the bin."""
    total = 0.0
    for i, mass in enumerate(p_row):
        if mass > 0 and total + mass >= level * p_row.sum():
            return edges[i] + (level * p_row.sum() - total) / mass * (edges[i + 1] - edges[i])
        total += mass
    return edges[-1]


def test_distribution_against_numpy(bin_model, bin_session):
    X, y, Xq = table(5)
    model = MitraRegressor(onnx=bin_model).fit(X, y)
    dist = model.predict_distribution(Xq)
    y = model.support_y_  # the targets as the model keeps them (float32-rounded here)
    low, span = y.min(), y.max() - y.min()
    s = (y - low) / span
    p = raw_probabilities(bin_session, X.astype(np.float32), count_below(s, reference_edges()), Xq)
    edges = low + span * reference_edges().astype(np.float64)
    assert dist.probabilities.shape == (len(Xq), N_BINS) and dist.edges.shape == (N_BINS + 1,)
    np.testing.assert_allclose(dist.probabilities, p, rtol=0, atol=1e-6)
    np.testing.assert_allclose(dist.edges, edges, rtol=1e-15, atol=0)
    assert np.array_equal(dist.mean(), model.predict(Xq))

    levels = [0.0, 0.025, 0.1, 0.5, 0.9, 0.975, 1.0]
    got = model.predict_quantiles(Xq, levels)
    assert got.shape == (len(Xq), len(levels))
    expected = np.array([[reference_quantile(row, edges, q) for q in levels]
                         for row in dist.probabilities])
    # The ends are the support of the histogram: the first bin with mass's lower edge and the
    # last one's upper edge (a cumulative sum in floating point may reach 1 a bin early).
    expected[:, 0] = [edges[np.argmax(row > 0)] for row in dist.probabilities]
    expected[:, -1] = [edges[len(row) - np.argmax(row[::-1] > 0)] for row in dist.probabilities]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9 * span)
    assert np.all(np.diff(got, axis=1) >= 0)
    np.testing.assert_array_equal(model.predict_quantiles(Xq, 0.5), got[:, 3])

    interval = model.predict_interval(Xq, coverage=0.95)
    np.testing.assert_allclose(interval, got[:, [1, 5]], rtol=0, atol=1e-12 * span)
    np.testing.assert_allclose(dist.cdf(got[:, 2]), 0.1, rtol=0, atol=1e-9)

    # Standard deviation of the histogram: sum p (width^2 / 12 + centre^2) - mean^2.
    centres, widths = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
    first = dist.probabilities @ centres
    var = dist.probabilities @ (widths ** 2 / 12 + centres ** 2) - first ** 2
    np.testing.assert_allclose(dist.std(), np.sqrt(var), rtol=1e-6)


def test_quantile_levels_and_coverage_are_checked():
    X, y, Xq = table(6)
    model = MitraRegressor(onnx=ONNX).fit(X, y)
    for bad in (-0.1, 1.5, np.nan, "half", [0.2, 2], "0.5", [True, False], [[0.1], [0.9]],
                np.array([[0.1, 0.9]])):
        with pytest.raises(ValidationError, match="quantiles must be numbers in"):
            model.predict_quantiles(Xq, bad)
    for bad in (0, 1, 1.2, -0.5, np.nan, True, np.bool_(True), "0.9", np.array([0.8])):
        with pytest.raises(ValidationError, match="coverage must be"):
            model.predict_interval(Xq, bad)
    # numpy's scalars and 0-d arrays are numbers, as the quantile levels are
    expected = model.predict_interval(Xq, 0.8)
    for same in (np.float64(0.8), np.array(0.8)):
        np.testing.assert_array_equal(model.predict_interval(Xq, same), expected)


def test_cdf_takes_one_value_or_one_per_row():
    X, y, Xq = table(6)
    d = MitraRegressor(onnx=ONNX).fit(X, y).predict_distribution(Xq)
    np.testing.assert_array_equal(d.cdf(float(np.median(y))),
                                  d.cdf(np.full(len(Xq), np.median(y))))
    grid = np.linspace(y.min() - np.ptp(y), y.max() + np.ptp(y), 25)
    cdfs = np.stack([d.cdf(v) for v in grid])  # [levels, rows]: 0 to 1, never falling
    assert np.all(np.diff(cdfs, axis=0) >= 0) and cdfs[0].max() == 0 and cdfs[-1].min() == 1
    per_row = d.cdf(grid[5:5 + len(Xq)])  # one value per row: each row's own CDF there
    np.testing.assert_array_equal(per_row, cdfs[5:5 + len(Xq)].diagonal())
    assert np.isnan(d.cdf(np.nan)).all()
    for bad in ([1.0, 2.0], np.zeros((len(Xq), 1)), "a", "1.0", True, None,
                [object()] * len(Xq)):
        with pytest.raises(ValidationError, match="cdf takes"):
            d.cdf(bad)


def test_distributions_compare_by_identity():
    """Arrays have no single truth value: == and hash() answer by identity, never raise."""
    X, y, Xq = table(6)
    model = MitraRegressor(onnx=ONNX).fit(X, y)
    a, b = model.predict_distribution(Xq), model.predict_distribution(Xq)
    assert a == a and a != b and len({a, b}) == 2
    np.testing.assert_array_equal(a.probabilities, b.probabilities)


def test_constant_targets_give_a_point_mass(bin_model):
    X, _, Xq = table(7)
    model = MitraRegressor(onnx=bin_model).fit(X, np.full(len(X), 2.5))
    np.testing.assert_array_equal(model.predict(Xq), 2.5)
    np.testing.assert_array_equal(model.predict_quantiles(Xq, [0.0, 0.5, 1.0]), 2.5)
    np.testing.assert_array_equal(model.predict_interval(Xq), 2.5)
    many = np.zeros((100_000, X.shape[1]))  # no [rows, n_bins] array: a view of one row
    probabilities = model.predict_distribution(many).probabilities
    assert probabilities.shape == (100_000, 1000) and probabilities.strides[0] == 0
    np.testing.assert_array_equal(model.predict_distribution(Xq).std(), 0.0)


@pytest.mark.parametrize("n_estimators", [1, 3])
def test_each_row_gets_the_same_mean_and_std_alone_or_in_a_batch(bin_model, n_estimators):
    """The mean and the standard deviation are sums over a row's own bins, not a matrix
    product whose rounding depends on how many rows it is handed (spec/mitra.md)."""
    X, y, Xq = table(9)
    model = MitraRegressor(onnx=bin_model, n_estimators=n_estimators).fit(X, y)
    whole = model.predict_distribution(Xq)
    rows = [model.predict_distribution(Xq[i:i + 1]) for i in range(len(Xq))]
    np.testing.assert_array_equal(np.concatenate([r.probabilities for r in rows]),
                                  whole.probabilities)
    np.testing.assert_array_equal(np.concatenate([r.mean() for r in rows]), whole.mean())
    np.testing.assert_array_equal(np.concatenate([r.std() for r in rows]), whole.std())
    np.testing.assert_array_equal(model.predict(Xq), whole.mean())
    centres = whole.centres
    np.testing.assert_allclose(whole.mean(), whole.probabilities @ centres, rtol=1e-12)


def test_scalar_head_models_have_no_distribution():
    X, y, Xq = table(8)
    model = MitraRegressor(onnx=V1).fit(X, y)
    for call in (lambda: model.predict_distribution(Xq), lambda: model.predict_quantiles(Xq),
                 lambda: model.predict_interval(Xq)):
        with pytest.raises(ValidationError, match="scalar head .* no distribution"):
            call()


@pytest.mark.parametrize("scaling", ["none", "js"])
def test_a_bin_head_needs_minmax_scaling(bin_model, scaling):
    """Refused at fit (a grid search sees the error, not NaN scores), and at predict when
    set after fit; the built-in regressor as Mitra-v2's tiny fixture."""
    X, y, Xq = table(9)
    with pytest.raises(ValidationError, match="does not fit a bin-head model"):
        MitraRegressor(onnx=bin_model, target_scaling=scaling).fit(X, y)
    model = MitraRegressor(onnx=bin_model).fit(X, y).set_params(target_scaling=scaling)
    for call in (model.predict, model.predict_distribution, model.predict_interval):
        with pytest.raises(ValidationError, match="does not fit a bin-head model"):
            call(Xq)


# -- bundles ---------------------------------------------------------------------------------------


def test_bundle_is_a_regressor_at_2_and_round_trips():
    X, y, Xq = table(10)
    model = MitraRegressor(onnx=ONNX, max_support=40).fit(X, y)
    bundle = model.save()
    manifest, toc, blobs = wlrn.decode_bundle(bundle)
    assert manifest["typeId"] == REGRESSOR_BINS_TYPE_ID == "wlearn.mitra_onnx.regressor@2"
    assert manifest["metadata"] == {"nBins": N_BINS, "nFeatures": 4}
    ids = {entry["id"] for entry in toc}
    assert ids == {"meta", "support_x", "support_y_f64"}  # no float32 support_y for JS to feed
    meta = wlrn.decode_json(blobs[[e for e in toc if e["id"] == "meta"][0]["offset"]:][
        :[e for e in toc if e["id"] == "meta"][0]["length"]])
    assert meta["nBins"] == N_BINS and meta["nSupport"] == 40

    loaded = MitraRegressor.load(bundle, ONNX)
    assert loaded.save() == bundle
    np.testing.assert_array_equal(loaded.predict(Xq), model.predict(Xq))
    np.testing.assert_array_equal(loaded.support_y_, model.support_y_)  # float64, exact

    register_loaders(regressor=ONNX)
    try:
        via_core = wlearn.load(bundle)
        np.testing.assert_array_equal(via_core.predict(Xq), model.predict(Xq))
    finally:
        register_loaders(regressor=V1)


def test_bundles_and_graphs_must_agree_on_the_head():
    X, y, _ = table(11)
    v2 = MitraRegressor(onnx=ONNX).fit(X, y).save()
    v1 = MitraRegressor(onnx=V1).fit(X, y).save()
    assert wlrn.decode_bundle(v1)[0]["typeId"] == REGRESSOR_TYPE_ID
    # refused at load when the model is open in this process already, else at first use
    with pytest.raises(ValidationError, match="1000-bin head, but the model given has a scalar"):
        MitraRegressor.load(v2, V1, check_onnx_hash=False).predict(X)
    with pytest.raises(ValidationError, match="scalar head, but the model given has a 1000-bin"):
        MitraRegressor.load(v1, ONNX, check_onnx_hash=False).predict(X)


def _rewrite(bundle: bytes, *, meta=None, drop=(), add=None, type_id=None) -> bytes:
    manifest, toc, blobs = wlrn.decode_bundle(bundle)
    parts = {e["id"]: bytes(blobs[e["offset"]:e["offset"] + e["length"]]) for e in toc}
    if meta is not None:
        parts["meta"] = wlrn.encode_json(meta(wlrn.decode_json(parts["meta"])))
    for name in drop:
        parts.pop(name)
    parts.update(add or {})
    if type_id:
        manifest = {**manifest, "typeId": type_id}
    return wlrn.encode_bundle(manifest, [{"id": k, "data": v} for k, v in parts.items()])


def test_malformed_bin_bundles_are_refused():
    X, y, _ = table(12)
    bundle = MitraRegressor(onnx=ONNX, max_support=20).fit(X, y).save()
    f32 = np.zeros(20, "<f4").tobytes()
    cases = [
        (dict(add={"support_y": f32}), "targets in 'support_y_f64' only"),
        (dict(meta=lambda m: {k: v for k, v in m.items() if k != "nBins"}), "meta.nBins"),
        (dict(meta=lambda m: {**m, "nBins": 1}), "meta.nBins"),
        (dict(meta=lambda m: {**m, "nBins": "1000"}), "meta.nBins"),
        (dict(drop=("support_y_f64",)), "no 'support_y_f64'"),
        (dict(type_id=REGRESSOR_TYPE_ID, add={"support_y": f32}), "meta.nBins belongs to"),
    ]
    for change, message in cases:
        with pytest.raises(BundleError, match=message):
            MitraRegressor.load(_rewrite(bundle, **change), ONNX)


def test_pickles_and_clones_keep_the_bin_head():
    import pickle

    from sklearn.base import clone

    X, _, Xq = table(14)
    y = X[:, 0] * 1e3 + 1e8
    model = MitraRegressor(onnx=ONNX, n_estimators=2).fit(X, y)
    expected = model.predict_distribution(Xq).probabilities
    copy = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(copy.predict_distribution(Xq).probabilities, expected)
    np.testing.assert_array_equal(clone(model).fit(X, y).predict(Xq), model.predict(Xq))


# -- MitraModel ------------------------------------------------------------------------------------


def test_mitra_model_offers_the_regressors_distributions():
    from wlearn_mitra import MitraModel

    X, y, Xq = table(12)
    regressor = MitraRegressor(onnx=ONNX, n_estimators=2).fit(X, y)
    for model in (MitraModel(regressor_onnx=ONNX, n_estimators=2).fit(X, y),
                  MitraModel.load(regressor.save(), ONNX)):
        assert model.task_ == "regression"
        want = regressor.predict_distribution(Xq)
        got = model.predict_distribution(Xq)
        np.testing.assert_array_equal(got.probabilities, want.probabilities)
        np.testing.assert_array_equal(got.edges, want.edges)
        np.testing.assert_array_equal(model.predict_quantiles(Xq, [0.05, 0.5]),
                                      regressor.predict_quantiles(Xq, [0.05, 0.5]))
        np.testing.assert_array_equal(model.predict_quantiles(Xq),
                                      regressor.predict_quantiles(Xq))
        np.testing.assert_array_equal(model.predict_interval(Xq, 0.8),
                                      regressor.predict_interval(Xq, 0.8))
        np.testing.assert_array_equal(model.predict_interval(Xq), regressor.predict_interval(Xq))
        with pytest.raises(ValidationError, match="coverage must be"):
            model.predict_interval(Xq, 1.5)
    for name in ("predict_distribution", "predict_quantiles", "predict_interval"):
        assert getattr(MitraRegressor, name).__doc__ in getattr(MitraModel, name).__doc__


def test_mitra_model_distributions_refuse_as_the_regressor_does():
    from wlearn_mitra import MitraModel
    from wlearn_mitra.exceptions import NotFittedError

    X, y, Xq = table(13)
    scalar = MitraModel(regressor_onnx=V1).fit(X, y)
    classifier = MitraModel(classifier_onnx=V1_CLASSIFIER).fit(X, (y > 10).astype(int))
    for name, args in (("predict_distribution", ()), ("predict_quantiles", ([0.5],)),
                       ("predict_interval", (0.9,))):
        with pytest.raises(ValidationError, match="scalar head .* no distribution"):
            getattr(scalar, name)(Xq, *args)
        with pytest.raises(ValidationError, match=f"{name} needs a regression model"):
            getattr(classifier, name)(Xq, *args)
        with pytest.raises(NotFittedError):
            getattr(MitraModel(regressor_onnx=ONNX), name)(Xq, *args)


# -- an InferenceSession of a bin-head model ---------------------------------------------------


def test_a_session_of_a_bin_head_model_reads_its_head_from_the_metadata(bin_model, bin_session):
    """The session's metadata (``mitra.config``) gives the head and the sizes, so a session
    predicts what the same model given as a path predicts."""
    by_path = MitraEngine(bin_model, task="regression", split=None)
    engine = MitraEngine(bin_session, task="regression")
    assert engine.n_bins == by_path.n_bins == N_BINS
    assert engine.shape == by_path.shape
    X, y, Xq = table(14)
    y01 = (y - y.min()) / (y.max() - y.min())
    for members in (1, 3):
        np.testing.assert_array_equal(
            engine.predict(X, y01, Xq, n_estimators=members, seed=1),
            by_path.predict(X, y01, Xq, n_estimators=members, seed=1))
    regressor = MitraRegressor(onnx=bin_session).fit(X, y)
    np.testing.assert_array_equal(regressor.predict(Xq), MitraRegressor(onnx=bin_model).fit(X, y)
                                  .predict(Xq))
    with pytest.raises(ValidationError, match="1000-bin head, which does not fit task 'classif"):
        MitraEngine(bin_session, task="classification")
    v1 = ort.InferenceSession(str(V1), providers=["CPUExecutionProvider"])
    assert MitraEngine(v1, task="regression").n_bins is None  # no metadata: a scalar head


def test_readouts_of_many_rows_go_block_by_block_with_the_same_answers(bin_model,
                                                                       monkeypatch):
    """Once the support cache holds the support set, predict, predict_quantiles and
    predict_interval take BLOCK_ROWS rows through the model at a time, so the [rows, n_bins]
    probabilities exist for one block only; every row answers as in one call."""
    from wlearn_mitra.estimators import _regressor

    X, y, _ = table(10)
    Xq = np.random.default_rng(11).normal(size=(100, X.shape[1]))
    model = MitraRegressor(onnx=bin_model).fit(X, y)
    whole = (model.predict(Xq), model.predict_quantiles(Xq, [0.1, 0.9]),
             model.predict_interval(Xq, 0.5))
    assert not model._open().engine.graphs.pair_pending  # the pair serves from here on
    seen, progress = [], []
    distribution = MitraRegressor._distribution

    def spy(self, rows, *args):
        seen.append(len(rows))
        return distribution(self, rows, *args)

    monkeypatch.setattr(_regressor, "BLOCK_ROWS", 16)
    monkeypatch.setattr(MitraRegressor, "_distribution", spy)
    model.set_params(progress=lambda done, total: progress.append((done, total)))
    blocked = (model.predict(Xq), model.predict_quantiles(Xq, [0.1, 0.9]),
               model.predict_interval(Xq, 0.5))
    for a, b in zip(blocked, whole):
        np.testing.assert_array_equal(a, b)
    assert max(seen) == 16 and sum(seen) == 3 * len(Xq)
    dones = [done for done, _ in progress[: len(progress) // 3]]
    assert dones == sorted(dones) and progress[len(progress) // 3 - 1] == (100, 100)
