"""Loading a bundle does not open its ONNX model: the model opens when first needed.

What a load checks at once (the bundle, its params, runtime and precision, that the model
file exists) and what waits for the model (its hash, its head) - and that the waiting never
changes an answer, lets a wrong model through, or loses the bundle's check on a save or a
pickle. Runs on the tiny fixture models and the built-in ones.
"""

from __future__ import annotations

import gc
import hashlib
import json
import pickle
import shutil
import warnings

import numpy as np
import pytest
import wlearn
from wlearn.errors import ValidationError

from wlearn_mitra import MitraClassifier, MitraModel, MitraRegressor
from wlearn_mitra.bundles._format import CLASSIFIER_TYPE_ID
from wlearn_mitra.engine import _graphset, _shared


@pytest.fixture
def opened(monkeypatch):
    """The list of models the engine opens (one entry per graph set) while a test runs."""
    calls: list = []
    real = _graphset.GraphSet.__init__

    def counting(self, onnx, **kwargs):
        calls.append(onnx)
        real(self, onnx, **kwargs)

    monkeypatch.setattr(_graphset.GraphSet, "__init__", counting)
    return calls


@pytest.fixture
def copies(tmp_path, fixtures_dir):
    """``copies(name)``: a fresh copy of a fixture model, a file no engine has open."""
    count = iter(range(1000))

    def copy(name: str) -> str:
        target = tmp_path / f"{next(count)}-{name}"
        shutil.copyfile(fixtures_dir / "onnx" / name, target)
        return str(target)

    return copy


CLF = "tiny-mitra-classifier.onnx"
REG = "tiny-mitra-regressor.onnx"


def _another(path: str) -> str:
    """The model at ``path`` made another model: the same weights, another doc string, so
    another hash."""
    onnx = pytest.importorskip("onnx")
    model = onnx.load(path)
    model.doc_string = "another model"
    onnx.save(model, path)
    return path


def _table(seed=0, n=80, classes=3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = np.arange(n) % classes
    return X[:60], y[:60], X[60:]


@pytest.mark.parametrize("cls, name", [(MitraClassifier, CLF), (MitraRegressor, REG)])
def test_load_opens_nothing_and_first_predict_answers_as_before(cls, name, copies, opened):
    X, y, Xq = _table()
    fitted = cls(onnx=copies(name)).fit(X, y)
    bundle = fitted.save()
    expected = fitted.predict(Xq)
    del opened[:]
    model = cls.load(bundle, copies(name))  # the same model, a file nobody has open
    assert opened == [] and model.is_fitted
    assert model.save() == bundle  # passed on without opening
    assert opened == []
    np.testing.assert_array_equal(model.predict(Xq), expected)
    assert len(opened) == 1


def test_wlearn_load_and_mitra_model_load_open_nothing(copies, opened):
    X, y, Xq = _table()
    bundle = MitraClassifier(onnx=copies(CLF)).fit(X, y).save()
    del opened[:]
    path = copies(CLF)
    via_core = wlearn.load(bundle, loader_options={CLASSIFIER_TYPE_ID: {"onnx": path}})
    unified = MitraModel.load(bundle, path)
    assert opened == []
    np.testing.assert_array_equal(via_core.predict_proba(Xq), unified.predict_proba(Xq))


def test_builtin_bundle_loads_without_opening(opened):
    X, y, Xq = _table(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the built-in model's notice, once per session
        fitted = MitraClassifier().fit(X, y)
    bundle = fitted.save()
    expected = fitted.predict_proba(Xq)
    fitted.dispose()
    del fitted
    _shared._recent.clear()  # the built-in model's engine is no longer open
    gc.collect()
    del opened[:]
    model = wlearn.load(bundle)
    assert opened == []
    np.testing.assert_array_equal(model.predict_proba(Xq), expected)


def test_missing_model_file_is_refused_at_load(tmp_path, copies):
    X, y, _ = _table()
    bundle = MitraClassifier(onnx=copies(CLF)).fit(X, y).save()
    with pytest.raises(ValidationError, match="ONNX model file not found"):
        MitraClassifier.load(bundle, tmp_path / "nowhere.onnx")


def test_refused_runtime_or_precision_at_load(copies):
    X, y, _ = _table()
    bundle = MitraClassifier(onnx=copies(CLF)).fit(X, y).save()
    with pytest.raises(ValidationError, match="precision"):
        MitraClassifier.load(bundle, copies(CLF), precision="fp8")


def test_another_model_is_refused_at_first_use_when_not_open(copies, opened):
    X, y, Xq = _table()
    bundle = MitraClassifier(onnx=copies(CLF)).fit(X, y).save()
    wrong = _another(copies(CLF))
    model = MitraClassifier.load(bundle, wrong)  # not open: nothing known about it yet
    with pytest.raises(ValidationError, match="the bundle was made with the ONNX model of"):
        model.predict(Xq)
    with pytest.raises(ValidationError, match="the bundle was made with the ONNX model of"):
        model.predict(Xq)  # refused every time, not only once
    # open in this process now: refused at load
    with pytest.raises(ValidationError, match="the bundle was made with the ONNX model of"):
        MitraClassifier.load(bundle, wrong)


def test_check_onnx_hash_false_adopts_the_model_at_first_use(copies):
    X, y, Xq = _table()
    fitted = MitraClassifier(onnx=copies(CLF)).fit(X, y)
    bundle = fitted.save()
    wrong = _another(copies(CLF))
    model = MitraClassifier.load(bundle, wrong, check_onnx_hash=False)
    assert model.onnx_sha256_ == fitted.onnx_sha256_  # the bundle's, until the model opens
    np.testing.assert_array_equal(model.predict_proba(Xq), fitted.predict_proba(Xq))
    assert model.onnx_sha256_ != fitted.onnx_sha256_  # now the model's own


def test_pickle_of_an_unopened_load_keeps_the_check(copies, opened):
    X, y, Xq = _table()
    bundle = MitraClassifier(onnx=copies(CLF)).fit(X, y).save()
    wrong = _another(copies(CLF))
    del opened[:]
    copy = pickle.loads(pickle.dumps(MitraClassifier.load(bundle, wrong)))
    assert opened == []
    with pytest.raises(ValidationError, match="sha256"):
        copy.predict(Xq)


def test_set_params_onnx_drops_the_bundles_model(copies):
    X, y, Xq = _table()
    fitted = MitraClassifier(onnx=copies(CLF)).fit(X, y)
    bundle = fitted.save()
    wrong = _another(copies(CLF))
    model = MitraClassifier.load(bundle, copies(CLF)).set_params(onnx=wrong)
    # a deliberate change of model, as after fit: its hash is adopted, by save() too
    wrong_sha = hashlib.sha256(open(wrong, "rb").read()).hexdigest()
    assert json.loads(bytes(wlearn.decode_bundle(model.save())[2]["meta"]))["onnxSha256"] \
        == wrong_sha
    np.testing.assert_array_equal(model.predict_proba(Xq), fitted.predict_proba(Xq))
    # and on a fitted model whose model was swapped, save() records the new one, not the old
    fitted.set_params(onnx=wrong)
    assert json.loads(bytes(wlearn.decode_bundle(fitted.save())[2]["meta"]))["onnxSha256"] \
        == wrong_sha
