"""MitraClassifier / MitraRegressor / MitraModel: the behaviour @wlearn/mitra's own tests cover,
the Python conventions (scikit-learn protocol, inputs, errors) and the unified model."""

from __future__ import annotations


import numpy as np
import pytest

import wlearn
import wlrn
from wlearn.errors import BundleError, DisposedError, NotFittedError, ValidationError
from wlearn_mitra import MitraClassifier, MitraModel, MitraRegressor, detect_task
from wlearn_mitra.engine._planning import query_row_bytes, support_bytes
from wlearn_mitra.engine import MitraEngine

from _paths import fixtures_dir

FIXTURES = fixtures_dir()
CLF_ONNX = FIXTURES / "onnx" / "tiny-mitra-classifier.onnx"
REG_ONNX = FIXTURES / "onnx" / "tiny-mitra-regressor.onnx"


def classification_data(seed: int, n: int, n_features: int = 3, n_classes: int = 3):
    """As @wlearn/mitra's tests: label i % K, features around 2 * label."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    X = y[:, None] * 2 + (rng.random((n, n_features)) - 0.5) * 0.5
    return X, y


def regression_data(seed: int, n: int, n_features: int = 3):
    rng = np.random.default_rng(seed)
    X = rng.random((n, n_features)) * 4 - 2
    y = X @ np.arange(1, n_features + 1) + (rng.random(n) - 0.5) * 0.1
    return X, y


def softmax64(z):
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.fixture(scope="module")
def clf_engine():
    return MitraEngine(CLF_ONNX, task="classification")


# -- classifier: what the JS tests cover ---------------------------------------------------------

def test_create_returns_unfitted_model_with_js_capabilities():
    model = MitraClassifier.create(CLF_ONNX, {})
    assert not model.is_fitted
    assert model.capabilities == {
        "classifier": True, "regressor": False, "predictProba": True, "decisionFunction": False,
        "sampleWeight": False, "csr": False, "earlyStopping": False,
    }
    reg = MitraRegressor.create(REG_ONNX)
    assert reg.capabilities["regressor"] and not reg.capabilities["classifier"]
    assert not reg.capabilities["predictProba"]


def test_fit_stores_support_set():
    X, y = classification_data(99, 50, 3, 4)
    model = MitraClassifier.create(CLF_ONNX, {"maxSupport": 30, "seed": 7}).fit(X, y)
    assert model.is_fitted and model.n_features_in_ == 3
    assert model.classes_.tolist() == [0, 1, 2, 3]
    assert model.support_x_.shape == (30, 3) and model.support_x_.dtype == np.float32
    np.testing.assert_array_equal(model.support_x_, X[model.support_indices_].astype(np.float32))
    np.testing.assert_array_equal(model.support_y_, y[model.support_indices_])


def test_refit_replaces_the_support_set():
    # @wlearn/mitra refuses a second fit; Python estimators refit (scikit-learn convention).
    X, y = classification_data(1, 20)
    model = MitraClassifier(onnx=CLF_ONNX, max_support=10).fit(X, y)
    model.fit(X[:, :2], y % 2)
    assert model.n_features_in_ == 2 and model.classes_.tolist() == [0, 1]


def test_predict_returns_known_classes_and_matches_argmax(clf_engine):
    X, y = classification_data(10, 40)
    model = MitraClassifier(onnx=CLF_ONNX, max_support=30, seed=42).fit(X, y)
    Xt, _ = classification_data(20, 5)
    pred = model.predict(Xt)
    assert pred.shape == (5,) and set(pred) <= {0, 1, 2}
    logits = clf_engine.forward(model.support_x_, model.support_y_, Xt)[:, :3]
    np.testing.assert_array_equal(pred, np.argmax(logits, axis=1))


def test_predict_proba_rows_are_distributions(clf_engine):
    X, y = classification_data(10, 40)
    model = MitraClassifier(onnx=CLF_ONNX, max_support=30).fit(X, y)
    Xt, _ = classification_data(20, 5)
    proba = model.predict_proba(Xt)
    assert proba.shape == (5, 3) and proba.dtype == np.float64
    assert np.all((proba >= 0) & (proba <= 1))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_array_equal(model.predict_log_proba(Xt), np.log(proba))
    logits = clf_engine.forward(model.support_x_, model.support_y_, Xt)[:, :3]
    np.testing.assert_allclose(proba, softmax64(logits), atol=1e-12)


def test_score_is_accuracy():
    X, y = classification_data(10, 40)
    model = MitraClassifier(onnx=CLF_ONNX, max_support=30).fit(X, y)
    s = model.score(X, y)
    assert isinstance(s, float) and s == np.mean(model.predict(X) == y)
    weights = np.arange(len(y), dtype=float)
    assert model.score(X, y, sample_weight=weights) == pytest.approx(
        np.sum(weights * (model.predict(X) == y)) / weights.sum()
    )


def test_get_and_set_params():
    model = MitraClassifier.create(CLF_ONNX, {"maxSupport": 100})
    assert model.get_params()["max_support"] == 100 and model.get_params()["seed"] == 42
    assert model.set_params(seed=7) is model and model.get_params()["seed"] == 7
    assert set(model.get_params()) == {"onnx", "max_support", "seed", "random_state",
                                       "n_estimators", "max_memory_mb", "progress", "precision",
                                       "runtime", "support_selection", "max_node_classes",
                                       "target_encoding"}
    with pytest.raises(ValidationError, match="no parameter 'maxSupport'"):
        model.set_params(maxSupport=3)
    with pytest.raises(ValidationError, match="unknown parameter 'bogus'"):
        MitraClassifier.create(CLF_ONNX, {"bogus": 1})


def test_predict_before_fit_raises_not_fitted():
    model = MitraClassifier(onnx=CLF_ONNX)
    for call in (lambda: model.predict([[1, 2, 3]]), lambda: model.predict_proba([[1, 2, 3]]),
                 model.save, lambda: model.classes_):
        with pytest.raises(NotFittedError):
            call()
    assert not hasattr(model, "classes_")


def test_save_produces_a_valid_bundle():
    X, y = classification_data(10, 30)
    bundle = MitraClassifier(onnx=CLF_ONNX, max_support=20).fit(X, y).save()
    assert isinstance(bundle, bytes) and bundle[:4] == b"WLRN"
    manifest, toc, blobs = wlearn.validate_bundle(bundle)
    assert manifest["typeId"] == "wlearn.mitra_onnx.classifier@1"
    assert manifest["params"] == {"maxSupport": 20, "seed": 42}
    assert manifest["metadata"] == {"nClasses": 3, "nFeatures": 3}
    assert sorted(e["id"] for e in toc) == ["meta", "support_x", "support_y"]
    assert len(blobs["support_x"]) == 20 * 3 * 4 and len(blobs["support_y"]) == 20 * 4


def test_classifier_round_trip():
    X, y = classification_data(10, 30)
    model = MitraClassifier(onnx=CLF_ONNX, max_support=20).fit(X, y)
    Xt, _ = classification_data(20, 5)
    bundle = model.save()
    model.dispose()
    loaded = MitraClassifier.load(bundle, CLF_ONNX)
    assert loaded.is_fitted and loaded.n_features_in_ == 3 and len(loaded.classes_) == 3
    fresh = MitraClassifier(onnx=CLF_ONNX, max_support=20).fit(X, y)
    np.testing.assert_array_equal(loaded.predict_proba(Xt), fresh.predict_proba(Xt))
    assert loaded.save() == bundle
    assert "support_indices_" not in vars(loaded)  # only fit knows the training rows


def test_load_without_a_model_says_how_to_get_one(unshipped):
    X, y = classification_data(1, 20)
    bundle = MitraClassifier(onnx=unshipped["classification"], max_support=10).fit(X, y).save()
    with pytest.raises(ValidationError) as info:
        MitraClassifier.load(bundle)
    message = str(info.value)
    assert "WLEARN_MITRA_CLASSIFIER_ONNX" in message
    assert "wlearn-mitra convert --checkpoint autogluon/mitra-classifier" in message


def test_model_from_environment(monkeypatch):
    monkeypatch.setenv("WLEARN_MITRA_CLASSIFIER_ONNX", str(CLF_ONNX))
    X, y = classification_data(1, 20)
    model = MitraClassifier().fit(X, y)
    assert model.onnx_sha256_ == "0a1db6dfb4d4be249754b2595b9ff3b7355eddcfb5a131b259a9ad49a244ea31"
    monkeypatch.setenv("WLEARN_MITRA_CLASSIFIER_ONNX", str(CLF_ONNX) + ".missing")
    with pytest.raises(ValidationError, match="not a file"):
        MitraClassifier().fit(X, y)


def test_wrong_kind_of_model_or_bundle():
    X, y = classification_data(1, 20)
    with pytest.raises(ValidationError, match="regressor"):
        MitraClassifier(onnx=REG_ONNX).fit(X, y)
    bundle = MitraClassifier(onnx=CLF_ONNX).fit(X, y).save()
    with pytest.raises(BundleError, match="MitraModel.load"):
        MitraRegressor.load(bundle, REG_ONNX)


# -- regressor ----------------------------------------------------------------------------------

def test_regressor_fit_predict_score():
    X, y = regression_data(10, 40)
    model = MitraRegressor.create(REG_ONNX, {"maxSupport": 30, "seed": 42}).fit(X, y)
    assert model.is_fitted and model.n_features_in_ == 3 and model.support_y_.dtype == np.float64
    Xt, yt = regression_data(20, 5)
    pred = model.predict(Xt)
    assert pred.shape == (5,) and pred.dtype == np.float64 and np.isfinite(pred).all()
    ss_res = np.sum((yt - pred) ** 2)
    ss_tot = np.sum((yt - yt.mean()) ** 2)
    assert model.score(Xt, yt) == pytest.approx(1 - ss_res / ss_tot, rel=1e-12)


def test_regressor_round_trip_and_scaling_setting_is_kept():
    X, y = regression_data(10, 30)
    Xt, _ = regression_data(20, 5)
    for scaling in ("minmax", "none"):
        model = MitraRegressor(onnx=REG_ONNX, max_support=20, target_scaling=scaling).fit(X, y)
        bundle = model.save()
        manifest = wlearn.decode_bundle(bundle)[0]
        assert manifest["typeId"] == "wlearn.mitra_onnx.regressor@1"
        assert ("targetScaling" in manifest["params"]) == (scaling == "none")
        loaded = MitraRegressor.load(bundle, REG_ONNX)
        assert loaded.target_scaling == scaling
        np.testing.assert_array_equal(loaded.predict(Xt), model.predict(Xt))


def test_minmax_scaling_is_affine_invariant():
    # Scaling targets by a and shifting by b must change predictions the same way.
    X, y = regression_data(3, 60)
    Xt, _ = regression_data(4, 10)
    base = MitraRegressor(onnx=REG_ONNX).fit(X, y).predict(Xt)
    moved = MitraRegressor(onnx=REG_ONNX).fit(X, 1000 * y + 5e4).predict(Xt)
    # Up to the float32 rounding of the stored targets.
    np.testing.assert_allclose((moved - 5e4) / 1000, base, rtol=0, atol=1e-5 * np.ptp(y))


def test_constant_targets_predict_the_constant():
    X, _ = regression_data(3, 30)
    model = MitraRegressor(onnx=REG_ONNX).fit(X, np.full(30, 3.25))
    np.testing.assert_array_equal(model.predict(X[:4]), np.full(4, 3.25))
    assert model.score(X[:4], np.full(4, 3.25)) == 1.0


# -- dispose ------------------------------------------------------------------------------------

def test_dispose_is_idempotent_and_everything_after_raises():
    X, y = classification_data(1, 20)
    model = MitraClassifier(onnx=CLF_ONNX, max_support=10).fit(X, y)
    model.dispose()
    model.dispose()
    calls = [lambda: model.predict(X), lambda: model.predict_proba(X), lambda: model.fit(X, y),
             lambda: model.score(X, y), model.save, model.get_params,
             lambda: model.set_params(seed=1), lambda: model.classes_]
    for call in calls:
        with pytest.raises(DisposedError):
            call()
    assert not model.is_fitted and "disposed" in repr(model)
    unfitted = MitraRegressor(onnx=REG_ONNX)
    unfitted.dispose()
    with pytest.raises(DisposedError):
        unfitted.fit(X, y)


# -- inputs and errors ----------------------------------------------------------------------------

def test_inputs_numpy_lists_and_dataframes_agree():
    pd = pytest.importorskip("pandas")
    X, y = classification_data(5, 30)
    ref = MitraClassifier(onnx=CLF_ONNX).fit(X, y).save()
    assert MitraClassifier(onnx=CLF_ONNX).fit(X.tolist(), y.tolist()).save() == ref
    # A frame without string column names has no feature names: JS's bytes exactly.
    unnamed = pd.DataFrame(X)
    model = MitraClassifier(onnx=CLF_ONNX).fit(unnamed, pd.Series(y))
    assert model.save() == ref
    np.testing.assert_array_equal(model.predict(unnamed), model.predict(X))
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    named = MitraClassifier(onnx=CLF_ONNX).fit(frame, pd.Series(y))
    np.testing.assert_array_equal(named.support_x_, model.support_x_)
    assert MitraClassifier(onnx=CLF_ONNX).fit(X, y.astype(np.float32)).save() == ref
    with pytest.warns(UserWarning, match="column-vector y"):
        assert MitraClassifier(onnx=CLF_ONNX).fit(X, y.reshape(-1, 1)).save() == ref
    # Nullable columns: pandas NA is a missing value (NaN, imputed by the engine).
    nullable = frame.astype("Float64")
    nullable.iloc[0, 0] = pd.NA
    fitted = MitraClassifier(onnx=CLF_ONNX).fit(nullable, pd.Series(y, dtype="Int64"))
    assert np.isnan(fitted.support_x_[0, 0]) and fitted.classes_.tolist() == [0, 1, 2]
    with pytest.raises(ValidationError, match="NaN or infinite labels|missing labels"):
        MitraClassifier(onnx=CLF_ONNX).fit(X, pd.Series(y, dtype="Int64").mask(y == 0))
    with pytest.raises(ValidationError, match="missing labels"):
        MitraClassifier(onnx=CLF_ONNX).fit(X[:3], pd.Series(["a", pd.NA, "b"], dtype=object))
    # NaN among strings (a masked str Series, a list) is missing too, not "a mix of types"
    text = pd.Series(["a", "b", "c"])
    for missing in (text.where(text != "b"), ["a", float("nan"), "b"]):
        with pytest.raises(ValidationError, match=r"missing labels \(nan\)"):
            MitraClassifier(onnx=CLF_ONNX).fit(X[:3], missing)


@pytest.mark.parametrize(
    "X, y, message",
    [
        (np.zeros(10), np.zeros(10), "must be 2-D.*Reshape your data"),
        (np.zeros((2, 3, 4)), np.zeros(2), "must be 2-D"),
        (np.zeros((0, 3)), np.zeros(0), "0 sample"),
        (np.zeros((5, 0)), np.zeros(5), "0 feature"),
        (np.zeros((2, 2), dtype=complex), [0, 1], "Complex data not supported"),
        (np.zeros((2, 2)), None, "requires y to be passed"),
        (np.zeros((5, 3)), np.zeros(4), "X has 5 rows but y has 4"),
        (np.zeros((5, 3)), np.zeros((5, 2)), "y must be 1-D"),
        (np.zeros((5, 3)), [], "y is empty"),
        ([[{"a": 1}, 0.0]], [0], "must be a string or a real number"),
        (np.zeros((3, 3)), [0.0, np.nan, 1.0], "NaN or infinite labels"),
        (np.zeros((3, 3)), [0, None, 1], "missing labels"),
        (np.zeros((3, 3)), [0, "a", 1], "mixes label types"),
    ],
)
def test_classifier_input_errors(X, y, message):
    with pytest.raises(ValidationError, match=message):
        MitraClassifier(onnx=CLF_ONNX).fit(X, y)


@pytest.mark.parametrize(
    "y, message",
    [([0.0, np.inf, 1.0], "NaN or infinite targets"), ([0, np.nan, 1], "NaN or infinite"),
     (["a", "b", "c"], "must be numbers"), ([1e39, 0, 1], "beyond float32")],
)
def test_regressor_target_errors(y, message):
    with pytest.raises(ValidationError, match=message):
        MitraRegressor(onnx=REG_ONNX).fit(np.zeros((3, 2)), y)


@pytest.mark.parametrize(
    "params, message",
    [({"max_support": 0}, "max_support"), ({"max_support": 0.5}, "max_support"), ({"max_support": 10**30}, "max_support"),
     ({"seed": "x"}, "seed"), ({"seed": float("nan")}, "seed"), ({"n_estimators": 0}, "n_estimators"),
     ({"target_scaling": "zscore"}, "target_scaling")],
)
def test_parameter_errors_at_fit(params, message):
    X, y = regression_data(1, 10)
    with pytest.raises(ValidationError, match=message):
        MitraRegressor(onnx=REG_ONNX, **params).fit(X, y)


def test_sparse_input_is_refused_plainly():
    sparse = pytest.importorskip("scipy.sparse")
    with pytest.raises(ValidationError, match=r"sparse input is not supported.*sparse_output=False"):
        MitraClassifier(onnx=CLF_ONNX).fit(sparse.csr_matrix(np.eye(3)), [0, 1, 2])


def test_feature_count_mismatch():
    model = MitraClassifier(onnx=CLF_ONNX, max_support=10).fit([[1, 2, 3], [4, 5, 6]], [0, 1])
    with pytest.raises(ValidationError, match="X has 2 features, but MitraClassifier is expecting 3"):
        model.predict([[1, 2]])


def test_too_many_classes_in_a_loaded_bundle_predict_through_a_hierarchy():
    # @wlearn/mitra writes such bundles (it fails only when predicting); they load here, and
    # predict through the class hierarchy max_node_classes gives (spec/mitra.md).
    X = np.random.default_rng(0).normal(size=(24, 2))
    y = np.arange(24) % 12
    small = MitraClassifier(onnx=CLF_ONNX).fit(X[:20], y[:20] % 10)
    manifest, toc, blobs = wlearn.decode_bundle(small.save())
    import json

    meta = json.loads(bytes(blobs["meta"]))
    meta["classes"] = list(range(12))
    bundle = wlrn.encode_bundle(
        {**manifest, "metadata": {"nClasses": 12, "nFeatures": 2}},
        [{"id": "meta", "data": wlearn.encode_json(meta)},
         {"id": "support_x", "data": bytes(blobs["support_x"])},
         {"id": "support_y", "data": bytes(blobs["support_y"])}],
    )
    loaded = MitraClassifier.load(bundle, CLF_ONNX)
    assert len(loaded.classes_) == 12 and loaded.class_hierarchy_ is None
    proba = loaded.predict_proba(X)
    assert proba.shape == (24, 12) and np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert loaded.save() == bundle  # the hierarchy is built at predict, not stored


# -- support set size and determinism (JS tests) ----------------------------------------------------

def test_max_support_limits_the_support_set():
    X, y = classification_data(10, 100)
    bundle = MitraClassifier(onnx=CLF_ONNX, max_support=10).fit(X, y).save()
    toc = wlearn.decode_bundle(bundle)[1]
    assert next(e for e in toc if e["id"] == "support_x")["length"] == 10 * 3 * 4


def test_small_dataset_uses_all_rows():
    X, y = classification_data(10, 8, 3, 2)
    model = MitraClassifier(onnx=CLF_ONNX, max_support=512).fit(X, y)
    np.testing.assert_array_equal(model.support_x_, X.astype(np.float32))


def test_deterministic_with_same_seed():
    X, y = classification_data(10, 30)
    Xt, _ = classification_data(20, 5)

    def run(seed):
        model = MitraClassifier(onnx=CLF_ONNX, max_support=15, seed=seed).fit(X, y)
        return model.save(), model.predict_proba(Xt)

    (b1, p1), (b2, p2), (b3, _) = run(42), run(42), run(43)
    assert b1 == b2 and np.array_equal(p1, p2) and b1 != b3


def test_constructor_is_cheap_and_opens_nothing(monkeypatch):
    # Constructing and cloning open no model (scikit-learn clones a lot); with no model
    # anywhere, fit opens the built-in one.
    from wlearn_mitra import BuiltinModelWarning
    from wlearn_mitra.graphs import _builtin

    monkeypatch.setattr(_builtin, "_noticed", set())
    model = MitraClassifier(max_support=3)
    assert model.get_params()["onnx"] is None and model._handle is None
    with pytest.warns(BuiltinModelWarning, match="built-in"):
        model.fit([[0.0], [1.0]], [0, 1])
    assert model.onnx_sha256_ == _builtin.sha256("classification")


def test_ensembles_and_progress_pass_through():
    X, y = classification_data(2, 40)
    seen = []
    model = MitraClassifier(onnx=CLF_ONNX, n_estimators=3,
                            progress=lambda done, total: seen.append((done, total))).fit(X, y)
    proba = model.predict_proba(X[:7])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert seen and seen[-1][0] == seen[-1][1]
    single = MitraClassifier(onnx=CLF_ONNX).fit(X, y).predict_proba(X[:7])
    assert not np.allclose(proba, single)
    manifest = wlearn.decode_bundle(model.save())[0]
    assert manifest["params"]["nEstimators"] == 3
    # A tiny memory budget splits the query rows into chunks: same probabilities.
    shape = model._open().engine.shape
    tight = (support_bytes(shape, 40, 3) + 2 * query_row_bytes(shape, 40, 3)) / 2**20
    chunked = model.set_params(max_memory_mb=tight, progress=None).predict_proba(X[:7])
    np.testing.assert_allclose(chunked, proba, rtol=0, atol=1e-6)
    assert "maxMemoryMb" not in wlearn.decode_bundle(model.save())[0]["params"]
    assert MitraClassifier.load(model.save(), CLF_ONNX).n_estimators == 3


# -- scikit-learn -----------------------------------------------------------------------------------

def test_sklearn_clone_pipeline_and_cross_validation():
    sklearn = pytest.importorskip("sklearn")
    from sklearn.base import clone, is_classifier, is_regressor
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.utils.validation import check_is_fitted

    assert sklearn.__version__
    X, y = classification_data(0, 90)
    model = MitraClassifier(onnx=CLF_ONNX.read_bytes(), max_support=40, seed=3)
    copy = clone(model)
    assert copy is not model and copy.get_params()["onnx"] is model.onnx
    assert is_classifier(model) and is_regressor(MitraRegressor())
    with pytest.raises(sklearn.exceptions.NotFittedError):
        check_is_fitted(model)
    scores = cross_val_score(model, X, y, cv=3)
    # An independent computation of the same folds (StratifiedKFold, as for classifiers).
    from sklearn.model_selection import StratifiedKFold

    expected = [
        MitraClassifier(onnx=CLF_ONNX, max_support=40, seed=3).fit(X[tr], y[tr]).score(X[te], y[te])
        for tr, te in StratifiedKFold(3).split(X, y)
    ]
    np.testing.assert_allclose(scores, expected)
    pipe = make_pipeline(StandardScaler(), model).fit(X, y)
    check_is_fitted(pipe[-1])
    assert pipe.predict_proba(X[:4]).shape == (4, 3)
    Xr, yr = regression_data(0, 60)
    assert len(cross_val_score(MitraRegressor(onnx=REG_ONNX), Xr, yr, cv=3)) == 3


def test_sklearn_clone_with_a_session():
    ort = pytest.importorskip("onnxruntime")
    from sklearn.base import clone

    session = ort.InferenceSession(str(CLF_ONNX), providers=["CPUExecutionProvider"])
    copy = clone(MitraClassifier(onnx=session))
    assert copy.onnx is session


def test_pickle_round_trip_reopens_the_model():
    import pickle

    X, y = classification_data(0, 30)
    model = MitraClassifier(onnx=str(CLF_ONNX)).fit(X, y)
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.predict_proba(X), model.predict_proba(X))


# -- MitraModel ----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "y, task",
    [
        (np.array([0, 1, 2, 40]), "classification"),       # integer dtype: Int32Array in JS
        (np.array([True, False]), "classification"),
        (np.array(["a", "b"]), "classification"),
        (np.array([0.0, 1.0, 2.0]), "classification"),     # integral, <= 20 distinct
        (np.array([0.0, 1.5, 2.0]), "regression"),
        (np.arange(21, dtype=float), "regression"),        # > 20 distinct values
        (list(range(21)), "regression"),                   # a JS Array is judged by value
        (list(range(20)), "classification"),
        ([0.5, 1.0], "regression"),
    ],
)
def test_detect_task_follows_wlearn_js(y, task):
    assert detect_task(y) == task


def test_mitra_model_detects_and_delegates():
    X, y = classification_data(0, 40)
    model = MitraModel(classifier_onnx=CLF_ONNX, regressor_onnx=REG_ONNX, max_support=30)
    assert model.capabilities == {}
    model.fit(X, y)
    assert model.task_ == "classification" and model.classes_.tolist() == [0, 1, 2]
    assert model.capabilities["classifier"] and model._estimator_type == "classifier"
    direct = MitraClassifier(onnx=CLF_ONNX, max_support=30).fit(X, y)
    np.testing.assert_array_equal(model.predict_proba(X), direct.predict_proba(X))
    np.testing.assert_array_equal(model.predict_log_proba(X), np.log(direct.predict_proba(X)))
    assert model.save() == direct.save()
    Xr, yr = regression_data(0, 40)
    model.fit(Xr, yr)
    assert model.task_ == "regression" and model._estimator_type == "regressor"
    # A regression model has no predict_proba, as MitraRegressor (scikit-learn's available_if).
    assert not hasattr(model, "predict_proba") and not hasattr(model, "predict_log_proba")
    with pytest.raises(AttributeError, match="classification"):
        model.predict_proba(Xr)
    with pytest.raises(AttributeError, match="predict_log_proba is for classification"):
        model.predict_log_proba(Xr)
    loaded = MitraModel.load(model.save(), REG_ONNX)
    np.testing.assert_array_equal(loaded.predict(Xr), model.predict(Xr))
    model.dispose()
    model.dispose()
    with pytest.raises(DisposedError):
        model.predict(Xr)


def test_mitra_model_task_param_and_create():
    X, y = regression_data(0, 30)
    yi = np.round(y).astype(int) % 3
    model = MitraModel.create(REG_ONNX, {"task": "regression", "maxSupport": 20})
    assert model.capabilities["regressor"] and model.regressor_onnx == REG_ONNX
    assert model.fit(X, yi).task_ == "regression"  # the task given wins over the labels
    with pytest.raises(ValidationError, match="task"):
        MitraModel.create(REG_ONNX, {})
    with pytest.raises(ValidationError, match="task must be"):
        MitraModel(task="ranking").fit(X, y)
    with pytest.raises(NotFittedError):
        MitraModel().predict(X)


# -- sharing the opened model ------------------------------------------------------------------------

def test_estimators_share_one_engine_per_model_and_dispose_frees_it():
    import gc
    import weakref

    from sklearn.base import clone

    X, y = classification_data(0, 30)
    source = bytes(CLF_ONNX.read_bytes())  # a bytes object no other test uses
    a = MitraClassifier(onnx=source).fit(X, y)
    b = clone(a).fit(X, y)
    assert a._handle.engine is b._handle.engine
    engine = weakref.ref(a._handle.engine)
    del a, b  # as a finished fold of a cross-validation
    gc.collect()
    c = MitraClassifier(onnx=source).fit(X, y)  # the next fold
    assert c._handle.engine is engine()
    c.dispose()
    gc.collect()
    assert engine() is None


def test_mitra_model_keeps_its_engine_between_predictions():
    X, y = classification_data(0, 30)
    model = MitraModel(classifier_onnx=CLF_ONNX).fit(X, y)
    handle = model._inner._handle
    model.predict(X)
    model.predict_proba(X)
    assert model._inner._handle is handle
    model.set_params(classifier_onnx=REG_ONNX)
    with pytest.raises(ValidationError, match="regressor"):
        model.predict(X)


def test_any_seed_js_accepts_works_for_ensembles():
    X, y = classification_data(2, 40)
    for seed in (-5, 2**40, 42.5):
        model = MitraClassifier(onnx=CLF_ONNX, n_estimators=2, seed=seed, max_support=20)
        assert model.fit(X, y).predict_proba(X[:3]).shape == (3, 3)
    # JS reads seed | 0: 42.5 picks the rows 42 picks.
    a = MitraClassifier(onnx=CLF_ONNX, max_support=20, seed=42.5).fit(X, y)
    b = MitraClassifier(onnx=CLF_ONNX, max_support=20, seed=42).fit(X, y)
    np.testing.assert_array_equal(a.support_indices_, b.support_indices_)
