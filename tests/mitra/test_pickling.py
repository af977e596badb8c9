"""Pickled Mitra estimators: small (the model's location and hash, never its bytes), checked
against the model when a worker opens it, and validated as the untrusted input they are."""

from __future__ import annotations

import copy
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from wlearn.errors import ValidationError
from wlearn_mitra import MitraClassifier, MitraModel, MitraRegressor
from wlearn_mitra.engine import _shared as _sources

from _paths import fixtures_dir

FIXTURES = fixtures_dir("onnx")
CLF_ONNX = FIXTURES / "tiny-mitra-classifier.onnx"
REG_ONNX = FIXTURES / "tiny-mitra-regressor.onnx"


def data(seed=0, n=60, n_features=4):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    X = y[:, None] + rng.normal(scale=0.7, size=(n, n_features))
    return X, y


def reweighted(source: Path, target: Path) -> None:
    """``source`` with its largest float weight matrix scaled: the same graph, other weights."""
    onnx = pytest.importorskip("onnx")
    from onnx import numpy_helper

    model = onnx.load(str(source))
    init = max(model.graph.initializer, key=lambda t: np.prod(t.dims) if t.data_type == 1 else 0)
    init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) * 3.0 + 0.1, init.name))
    onnx.save(model, str(target))


def test_a_pickle_carries_the_location_and_hash_not_the_model():
    X, y = data()
    model = MitraClassifier(onnx=str(CLF_ONNX), max_support=40).fit(X, y)
    blob = pickle.dumps(model)
    # The support set (40 x 4 float32 = 640 bytes) and a few hundred bytes of parameters.
    assert len(blob) < 4000 < CLF_ONNX.stat().st_size
    assert os.path.abspath(CLF_ONNX).encode() in blob  # absolute, for any working directory
    assert model.onnx_sha256_.encode() in blob
    again = pickle.loads(blob)
    np.testing.assert_array_equal(again.predict_proba(X), model.predict_proba(X))


def test_relative_paths_travel_as_absolute(tmp_path, monkeypatch):
    shutil.copy(CLF_ONNX, tmp_path / "m.onnx")
    monkeypatch.chdir(tmp_path)
    X, y = data()
    model = MitraClassifier(onnx="m.onnx").fit(X, y)
    blob = pickle.dumps(model)
    monkeypatch.chdir(FIXTURES)  # a worker elsewhere
    again = pickle.loads(blob)
    assert again.onnx == str(tmp_path / "m.onnx")
    np.testing.assert_array_equal(again.predict(X), model.predict(X))


@pytest.mark.parametrize("kind", ["bytes", "session"])
def test_a_model_given_in_memory_refuses_to_pickle(kind):
    source = CLF_ONNX.read_bytes()
    if kind == "session":
        ort = pytest.importorskip("onnxruntime")
        source = ort.InferenceSession(str(CLF_ONNX), providers=["CPUExecutionProvider"])
    X, y = data()
    model = MitraClassifier(onnx=source).fit(X, y)
    with pytest.raises(ValidationError, match="pass onnx as the path|Pass onnx as the path"):
        pickle.dumps(model)
    with pytest.raises(ValidationError, match="classifier_onnx"):
        pickle.dumps(MitraModel(classifier_onnx=source))
    # copies in the process share the model instead
    twin = copy.deepcopy(model)
    assert twin.onnx is source and twin.support_x_ is not model.support_x_
    np.testing.assert_array_equal(twin.predict(X), model.predict(X))
    assert copy.copy(model).onnx is source


def test_a_replaced_model_file_is_refused_not_used(tmp_path):
    path = tmp_path / "model.onnx"
    shutil.copy(CLF_ONNX, path)
    X, y = data()
    model = MitraClassifier(onnx=str(path)).fit(X, y)
    expected = model.predict_proba(X)
    blob = pickle.dumps(model)

    reweighted(CLF_ONNX, path)
    os.utime(path, ns=(1, 1))  # a new modification time, as any rewrite gives
    other = MitraClassifier(onnx=str(path)).fit(X, y).predict_proba(X)
    assert not np.allclose(other, expected)  # the new weights do predict differently

    again = pickle.loads(blob)
    with pytest.raises(ValidationError, match=model.onnx_sha256_):
        again.predict_proba(X)
    # The same estimator reopening its model (another precision would) checks it too.
    model._handle = None
    with pytest.raises(ValidationError, match="was fitted with the model"):
        model.predict(X)

    shutil.copy(CLF_ONNX, path)  # the original model back: the pickle works again
    np.testing.assert_array_equal(pickle.loads(blob).predict_proba(X), expected)


def test_set_params_onnx_adopts_the_new_model_deliberately(tmp_path):
    other = tmp_path / "other.onnx"
    reweighted(CLF_ONNX, other)
    X, y = data()
    model = MitraClassifier(onnx=str(CLF_ONNX)).fit(X, y)
    old = model.onnx_sha256_
    model.set_params(onnx=str(other))
    again = pickle.loads(pickle.dumps(model))  # the change travels with the pickle
    again.predict(X)
    assert again.onnx_sha256_ != old
    model.predict(X)
    assert model.onnx_sha256_ == again.onnx_sha256_


def test_environment_model_is_resolved_and_checked_on_the_worker(tmp_path, monkeypatch):
    monkeypatch.setenv("WLEARN_MITRA_CLASSIFIER_ONNX", str(CLF_ONNX))
    X, y = data()
    model = MitraClassifier().fit(X, y)
    blob = pickle.dumps(model)
    other = tmp_path / "other.onnx"
    reweighted(CLF_ONNX, other)
    monkeypatch.setenv("WLEARN_MITRA_CLASSIFIER_ONNX", str(other))
    with pytest.raises(ValidationError, match="the environment's model file"):
        pickle.loads(blob).predict(X)


def test_unpickled_copies_share_one_engine():
    X, y = data()
    model = MitraRegressor(onnx=str(REG_ONNX)).fit(X, X[:, 0])
    blob = pickle.dumps(model)
    first, second = pickle.loads(blob), pickle.loads(blob)
    assert first._open().engine is second._open().engine is model._open().engine
    np.testing.assert_array_equal(first.predict(X), second.predict(X))


def test_mitra_model_round_trip_for_both_tasks():
    X, y = data()
    for target in (y, X[:, 1] * 2.5):
        model = MitraModel(classifier_onnx=str(CLF_ONNX), regressor_onnx=str(REG_ONNX))
        model.fit(X, target)
        again = pickle.loads(pickle.dumps(model))
        assert again.task_ == model.task_
        np.testing.assert_array_equal(again.predict(X), model.predict(X))
        assert again.save() == model.save()


def test_unfitted_and_disposed_estimators_round_trip():
    model = pickle.loads(pickle.dumps(MitraRegressor(onnx=str(REG_ONNX), max_support=7)))
    assert not model.is_fitted and model.max_support == 7
    X, y = data()
    gone = MitraClassifier(onnx=str(CLF_ONNX)).fit(X, y)
    gone.dispose()
    assert repr(pickle.loads(pickle.dumps(gone))) == "MitraClassifier(<disposed>)"


def test_missing_parameters_of_an_older_pickle_take_their_defaults():
    X, y = data()
    state = MitraClassifier(onnx=str(CLF_ONNX)).fit(X, y).__getstate__()
    del state["n_estimators"]
    model = MitraClassifier.__new__(MitraClassifier)
    model.__setstate__(state)
    assert model.n_estimators == 1 and model.predict(X).shape == (len(X),)


def _fitted_state(cls=MitraClassifier, onnx=CLF_ONNX):
    X, y = data()
    target = y if cls is MitraClassifier else X[:, 0]
    return cls(onnx=str(onnx)).fit(X, target).__getstate__()


def _with(state, **changes):
    state = dict(state)
    for key, value in changes.items():
        if value is KeyError:
            state.pop(key)
        else:
            state[key] = value
    return state


BAD_CLASSIFIER_STATES = {
    "not a dict": lambda s: ["support_x_"],
    "version": lambda s: _with(s, _mitra_pickle=KeyError),
    "future version": lambda s: _with(s, _mitra_pickle=99),
    "unknown attribute": lambda s: _with(s, _handle=object()),
    "bytes model": lambda s: _with(s, onnx=CLF_ONNX.read_bytes()),
    "support_x_ float64": lambda s: _with(s, support_x_=s["support_x_"].astype(np.float64)),
    "support_x_ a list": lambda s: _with(s, support_x_=s["support_x_"].tolist()),
    "support_x_ width": lambda s: _with(s, support_x_=s["support_x_"][:, :2]),
    "support_x_ empty": lambda s: _with(s, support_x_=s["support_x_"][:0]),
    "n_features_in_ missing": lambda s: _with(s, n_features_in_=KeyError),
    "n_features_in_ str": lambda s: _with(s, n_features_in_="4"),
    "index out of range": lambda s: _with(s, _support_index=s["_support_index"] + 3),
    "index negative": lambda s: _with(s, _support_index=s["_support_index"] - 1),
    "index length": lambda s: _with(s, _support_index=s["_support_index"][:3]),
    "classes object": lambda s: _with(s, classes_=np.array([object()] * 3, dtype=object)),
    "support_y_ length": lambda s: _with(s, support_y_=s["support_y_"][:2]),
    "sha not hex": lambda s: _with(s, onnx_sha256_="../../etc/passwd"),
    "extra params": lambda s: _with(s, _extra_params={"a": object()}),
    "disposed": lambda s: _with(s, _disposed="yes"),
    "feature names": lambda s: _with(s, feature_names_in_=np.array(["a"], dtype=object)),
}


@pytest.mark.parametrize("case", sorted(BAD_CLASSIFIER_STATES))
def test_bad_classifier_state_raises_a_wlearn_error(case):
    state = BAD_CLASSIFIER_STATES[case](_fitted_state())
    model = MitraClassifier.__new__(MitraClassifier)
    with pytest.raises(ValidationError, match="cannot unpickle MitraClassifier"):
        model.__setstate__(state)


@pytest.mark.parametrize("changes", [
    {"support_y_": np.array([1.0, np.nan] * 30, dtype=np.float32)},
    {"support_y_": np.array([1.0, np.nan] * 30)},
    {"support_y_": np.array([1.0, 1e39] * 30)},
    {"support_y_": np.arange(60)},
    {"classes_": np.array([0, 1])},  # a regressor has none
])
def test_bad_regressor_state_raises_a_wlearn_error(changes):
    state = _with(_fitted_state(MitraRegressor, REG_ONNX), **changes)
    with pytest.raises(ValidationError, match="cannot unpickle MitraRegressor"):
        MitraRegressor.__new__(MitraRegressor).__setstate__(state)


def test_bad_mitra_model_state_raises_a_wlearn_error():
    X, y = data()
    state = MitraModel(classifier_onnx=str(CLF_ONNX)).fit(X, y).__getstate__()
    for bad in (_with(state, task_="regression"), _with(state, _inner="MitraClassifier"),
                _with(state, task_=KeyError)):
        with pytest.raises(ValidationError, match="cannot unpickle MitraModel"):
            MitraModel.__new__(MitraModel).__setstate__(bad)


def test_a_bad_pickle_fails_in_pickle_loads_with_the_wlearn_error():
    X, y = data()
    model = MitraClassifier(onnx=str(CLF_ONNX)).fit(X, y)
    model.support_x_ = model.support_x_[:, :3]
    with pytest.raises(ValidationError, match="support_x_ must be float32"):
        pickle.loads(pickle.dumps(model))


def test_engine_cache_is_keyed_so_a_rewritten_file_opens_anew(tmp_path):
    path = tmp_path / "model.onnx"
    shutil.copy(CLF_ONNX, path)
    first = _sources.open_engine(str(path), "classification")
    reweighted(CLF_ONNX, path)
    os.utime(path, ns=(1, 1))
    assert _sources.open_engine(str(path), "classification").engine is not first.engine
