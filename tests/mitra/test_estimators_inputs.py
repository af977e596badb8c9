"""What the estimators make of the tables people pass: column names (scikit-learn's rules),
values float32 cannot hold, and ``random_state`` next to JS's ``seed``. Every estimator, every
input path: arrays, DataFrames, bundles, pickles."""

from __future__ import annotations

import json
import pickle
import warnings

import numpy as np
import pytest

import wlearn
from wlearn.errors import BundleError, NotFittedError, ValidationError
from wlearn_mitra import MitraClassifier, MitraModel, MitraRegressor

from _paths import fixtures_dir

pd = pytest.importorskip("pandas")

FIXTURES = fixtures_dir()
CLF_ONNX = FIXTURES / "onnx" / "tiny-mitra-classifier.onnx"
REG_ONNX = FIXTURES / "onnx" / "tiny-mitra-regressor.onnx"


def data(task: str, n: int = 40, n_features: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_features))
    if task == "classification":
        y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int) + (X[:, 2] > 1)
    else:
        y = X @ np.arange(1, n_features + 1) + rng.normal(scale=0.1, size=n)
    return X, y


def make(kind: str, **params):
    """A fresh estimator of ``kind`` on the tiny fixture models, and its task."""
    if kind == "classifier":
        return MitraClassifier(onnx=CLF_ONNX, **params), "classification"
    if kind == "regressor":
        return MitraRegressor(onnx=REG_ONNX, **params), "regression"
    task = "classification" if kind == "model-clf" else "regression"
    return MitraModel(classifier_onnx=CLF_ONNX, regressor_onnx=REG_ONNX, **params), task


KINDS = ["classifier", "regressor", "model-clf", "model-reg"]


def output(model, X):
    return model.predict_proba(X) if hasattr(model, "classes_") else model.predict(X)


def meta_of(bundle: bytes) -> dict:
    _, _, blobs = wlearn.decode_bundle(bundle)
    return json.loads(bytes(blobs["meta"]))


def rebuild(bundle: bytes, meta: dict | None = None, **artifacts: bytes | None) -> bytes:
    """``bundle`` re-encoded (valid hashes) with ``meta`` and artifacts replaced (None: left
    out)."""
    manifest, toc, blobs = wlearn.decode_bundle(bundle)
    parts = {e["id"]: bytes(blobs[e["id"]]) for e in toc}
    if meta is not None:
        parts["meta"] = wlearn.encode_json(meta)
    parts.update(artifacts)
    manifest = {k: v for k, v in manifest.items() if k != "bundleVersion"}
    return wlearn.encode_bundle(
        manifest, [{"id": k, "data": v} for k, v in parts.items() if v is not None]
    )


def load(model, bundle: bytes):
    onnx = CLF_ONNX if hasattr(model, "classes_") else REG_ONNX
    return type(model).load(bundle, onnx)


# -- feature names ------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_feature_names_are_kept_and_checked_as_scikit_learn(kind):
    model, task = make(kind)
    X, y = data(task)
    frame = pd.DataFrame(X, columns=list("abcd"))
    model.fit(frame, y)
    assert model.feature_names_in_.dtype == object
    assert model.feature_names_in_.tolist() == ["a", "b", "c", "d"]
    reference = output(model, frame)
    # The same columns in another order: refused, not scored by position.
    with pytest.raises(ValidationError, match="must be in the same order as they were in fit"):
        model.predict(frame[list("dcba")])
    with pytest.raises(ValueError, match="unseen at fit time:\n- e\n.*now missing:\n- d\n"):
        model.predict(frame.rename(columns={"d": "e"}))
    with pytest.raises(ValidationError, match="seen at fit time, yet now missing:\n- d\n"):
        model.predict(frame[list("abc")])
    # Names on one side only: scikit-learn's warnings, answers by position.
    with pytest.warns(UserWarning, match="X does not have valid feature names, but "
                                         "Mitra(Classifier|Regressor) was fitted with feature"):
        np.testing.assert_array_equal(output(model, X), reference)
    unnamed, _ = make(kind)
    unnamed.fit(X, y)
    with pytest.warns(UserWarning, match="X has feature names, but Mitra(Classifier|Regressor) "
                                         "was fitted without feature names"):
        unnamed.predict(frame)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(output(model, frame), reference)


@pytest.mark.parametrize("kind", KINDS)
def test_feature_names_survive_bundles_and_pickles(kind, tmp_path):
    model, task = make(kind)
    X, y = data(task)
    frame = pd.DataFrame(X, columns=["x 1", "é", "b", "a"])
    model.fit(frame, y)
    bundle = model.save()
    assert meta_of(bundle)["featureNames"] == ["x 1", "é", "b", "a"]
    loaded = load(model, bundle)
    assert loaded.save() == bundle
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(model))
    unpickled = pickle.loads(path.read_bytes())
    for twin in (loaded, unpickled):
        assert twin.feature_names_in_.tolist() == ["x 1", "é", "b", "a"]
        np.testing.assert_array_equal(output(twin, frame), output(model, frame))
        with pytest.raises(ValidationError, match="same order"):
            twin.predict(frame[frame.columns[::-1]])


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_bundles_without_names_stay_those_of_javascript(kind):
    """A DataFrame whose column names are not strings has no feature names (scikit-learn), so
    its bundle is exactly the array's, which the interop tests hold equal to JS's."""
    model, task = make(kind)
    X, y = data(task)
    plain = make(kind)[0].fit(X, y).save()
    assert "featureNames" not in meta_of(plain)
    assert model.fit(pd.DataFrame(X), y).save() == plain
    assert not hasattr(model, "feature_names_in_")


def test_column_names_mixing_strings_and_others_are_refused():
    X, y = data("classification")
    frame = pd.DataFrame(X, columns=["a", "b", 2, 3])
    with pytest.raises(TypeError, match="all input features have string names"):
        MitraClassifier(onnx=CLF_ONNX).fit(frame, y)


def test_bundle_feature_names_are_validated():
    X, y = data("classification")
    bundle = MitraClassifier(onnx=CLF_ONNX).fit(pd.DataFrame(X, columns=list("abcd")), y).save()
    meta = meta_of(bundle)
    for bad in (["a", "b"], ["a", "b", "c", 4], "abcd"):
        with pytest.raises(BundleError, match="featureNames must be a list of 4 strings"):
            MitraClassifier.load(rebuild(bundle, {**meta, "featureNames": bad}), CLF_ONNX)


@pytest.mark.parametrize("kind", KINDS)
def test_missing_attributes_of_a_fitted_model_are_attribute_errors(kind):
    model, task = make(kind)
    with pytest.raises(NotFittedError):
        model.n_features_in_  # noqa: B018
    X, y = data(task)
    model.fit(X, y)
    for name in ("feature_names_in_", "clases_", "made_up_"):
        with pytest.raises(AttributeError) as info:
            getattr(model, name)
        assert not isinstance(info.value, NotFittedError), name
        assert "not fitted" not in str(info.value)
    assert not hasattr(model, "feature_names_in_")


def test_scikit_learns_own_column_name_check_passes():
    from sklearn.utils.estimator_checks import check_dataframe_column_names_consistency

    for kind in KINDS:
        model, _ = make(kind)
        check_dataframe_column_names_consistency(type(model).__name__, model)


# -- values float32 cannot hold -----------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("value", [1e39, -1e39, np.inf, -np.inf])
def test_values_beyond_float32_are_refused_at_fit_and_predict(kind, value):
    model, task = make(kind)
    X, y = data(task)
    bad = X.copy()
    bad[3, 2] = value
    what = "infinite" if np.isinf(value) else "beyond float32's range"
    with pytest.raises(ValidationError, match=f"X column 2 row 3 holds .*{what}"):
        make(kind)[0].fit(bad, y)
    frame = pd.DataFrame(bad, columns=list("abcd"))
    with pytest.raises(ValidationError, match=f"X column 'c' row 3 holds .*{what}"):
        make(kind)[0].fit(frame, y)
    model.fit(X, y)
    # Today's silent answer: 1e39 is fed as 0.0. Refused instead, both signs.
    with pytest.raises(ValidationError, match=f"row 3 holds .*{what}.*replace it with NaN"):
        model.predict(bad)


def test_the_largest_float32_values_are_accepted_and_nan_is_missing():
    X, y = data("regression")
    edge = X.copy()
    edge[0, 0], edge[1, 0], edge[2, 1] = 3.4028235e38, -3.4028235e38, np.nan
    model = MitraRegressor(onnx=REG_ONNX).fit(edge, y)
    assert model.support_x_[0, 0] == np.float32(3.4028235e38)
    assert np.isfinite(model.predict(edge[:5])).all()


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_bundles_holding_infinities_load_and_predict_refuses(kind, value):
    """@wlearn/mitra stores 1e39 as Infinity (Float32Array): such a bundle loads and saves
    back unchanged (Python reads what JS writes), and prediction refuses it."""
    model, task = make(kind)
    X, y = data(task)
    model.fit(X, y)
    support = model.support_x_.copy()
    support[1, 1] = value
    bundle = rebuild(model.save(), support_x=support.astype("<f4").tobytes())
    loaded = load(model, bundle)  # byte-for-byte re-save of JS's own: tests/js/test_mitra.py
    np.testing.assert_array_equal(loaded.support_x_, support.astype(np.float32))
    with pytest.raises(ValidationError, match="support_x holds -?inf at row 1, column 1"):
        loaded.predict(X)


# -- random_state -------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_random_state_none_or_int_is_the_seed(kind):
    X, y = data("classification" if kind == "classifier" else "regression", n=60)
    default = make(kind, max_support=20)[0].fit(X, y).save()
    assert make(kind, max_support=20, random_state=None)[0].fit(X, y).save() == default
    seven = make(kind, max_support=20, seed=7)[0].fit(X, y)
    by_state = make(kind, max_support=20, random_state=7, seed=3)[0].fit(X, y)
    assert by_state.save() == seven.save() and by_state.seed_ == 7
    manifest, _, _ = wlearn.decode_bundle(seven.save())
    assert manifest["params"]["seed"] == 7


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("make_rng", [np.random.default_rng, np.random.RandomState])
def test_random_state_generators_draw_the_seed_kept_in_bundles(kind, make_rng):
    model, task = make(kind, max_support=20, n_estimators=2, random_state=make_rng(5))
    X, y = data(task, n=60)
    model.fit(X, y)
    seed = model.seed_
    assert isinstance(seed, int) and 0 <= seed < 2**31 - 1
    twin = make(kind, max_support=20, n_estimators=2, random_state=make_rng(5))[0].fit(X, y)
    assert twin.seed_ == seed
    np.testing.assert_array_equal(twin.support_indices_, model.support_indices_)
    # The bundle records the seed drawn; the loaded model reproduces the fitted one.
    bundle = model.save()
    manifest, _, _ = wlearn.decode_bundle(bundle)
    assert manifest["params"]["seed"] == seed and meta_of(bundle)["seed"] == seed
    assert bundle == make(kind, max_support=20, n_estimators=2, seed=seed)[0].fit(X, y).save()
    loaded = load(model, bundle)
    assert loaded.random_state is None and loaded.seed == seed
    np.testing.assert_array_equal(output(loaded, X), output(model, X))


@pytest.mark.parametrize("bad", ["1", 1.5, True, [1], np.random])
def test_random_state_refuses_what_scikit_learn_refuses(bad):
    X, y = data("classification")
    with pytest.raises(ValidationError, match="random_state must be None, an int"):
        MitraClassifier(onnx=CLF_ONNX, random_state=bad).fit(X, y)


def test_random_state_is_what_scikit_learn_sets():
    from sklearn.base import clone
    from sklearn.utils.estimator_checks import set_random_state

    model = MitraClassifier(onnx=CLF_ONNX, max_support=20)
    set_random_state(model, random_state=11)
    X, y = data("classification", n=60)
    assert clone(model).fit(X, y).save() == MitraClassifier(
        onnx=CLF_ONNX, max_support=20, seed=11).fit(X, y).save()
