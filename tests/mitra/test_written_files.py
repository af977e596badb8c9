"""Bundles and pickles written by wlearn-mitra 0.1.0 (``tests/data/written-0.1.0``, made by its
``make.py`` before the package moved into folders) still load and answer as they did.

A pickle names its class by module path (``wlearn_mitra.estimators.MitraClassifier``) and a
bundle names its model by hash; both must outlive any reorganisation of the package. Float
outputs are compared within the float32 kernels' cross-CPU spread, labels exactly.
"""

import importlib.util
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest

import wlearn
from wlearn_mitra import BuiltinModelWarning, MitraClassifier, MitraModel, MitraRegressor

WRITTEN = Path(__file__).resolve().parents[1] / "data" / "written-0.1.0"
TINY_V2 = WRITTEN.parent / "mitra-v2" / "tiny-regressor-2.onnx"
BUNDLES = {"classifier": MitraClassifier, "regressor": MitraRegressor,
           "categories": MitraClassifier, "hierarchy": MitraClassifier, "bins": MitraRegressor}
PICKLES = {"classifier": MitraClassifier, "regressor": MitraRegressor,
           "categories": MitraClassifier, "hierarchy": MitraClassifier, "model": MitraModel}


@pytest.fixture(scope="module")
def queries():
    spec = importlib.util.spec_from_file_location("written_make", WRITTEN / "make.py")
    make = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make)
    X, _, _, frame, _, X_many, _ = make.tables()
    return {"classifier": X[60:], "regressor": X[60:], "bins": X[60:], "model": X[60:],
            "categories": frame.iloc[60:], "hierarchy": X_many[80:]}


@pytest.fixture(scope="module")
def expected():
    with np.load(WRITTEN / "expected.npz") as recorded:
        return dict(recorded)


def _same_answers(name, est, query, expected, atol):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BuiltinModelWarning)
        predicted = np.asarray(est.predict(query))
        if predicted.dtype.kind in "fc":
            np.testing.assert_allclose(predicted, expected[f"{name}_predict"], rtol=1e-5, atol=atol)
        else:
            np.testing.assert_array_equal(predicted, expected[f"{name}_predict"])
        if f"{name}_proba" in expected:
            np.testing.assert_allclose(est.predict_proba(query), expected[f"{name}_proba"],
                                       rtol=1e-5, atol=atol)
        if f"{name}_quantiles" in expected:
            np.testing.assert_allclose(est.predict_quantiles(query, [0.1, 0.5, 0.9]),
                                       expected[f"{name}_quantiles"], rtol=1e-5, atol=atol)


@pytest.mark.parametrize("name", sorted(BUNDLES))
def test_bundles_written_by_0_1_0_load_and_answer_the_same(name, queries, expected,
                                                           cross_cpu_atol):
    data = (WRITTEN / f"{name}.wlrn").read_bytes()
    options = {}
    if name == "bins":
        options = {"wlearn.mitra_onnx.regressor@2": {"onnx": str(TINY_V2)}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BuiltinModelWarning)
        est = wlearn.load(data, loader_options=options)
    assert type(est) is BUNDLES[name]
    _same_answers(name, est, queries[name], expected, cross_cpu_atol)


@pytest.mark.parametrize("name", sorted(PICKLES))
def test_pickles_written_by_0_1_0_load_and_answer_the_same(name, queries, expected,
                                                           cross_cpu_atol):
    est = pickle.loads((WRITTEN / f"{name}.pkl").read_bytes())
    assert type(est) is PICKLES[name]
    _same_answers(name, est, queries[name], expected, cross_cpu_atol)
    # and the estimator pickles again, to the same answers
    _same_answers(name, pickle.loads(pickle.dumps(est)), queries[name], expected,
                  cross_cpu_atol)


def test_a_bin_head_bundle_takes_its_options_under_its_own_type_id():
    data = (WRITTEN / "bins.wlrn").read_bytes()
    with pytest.raises(wlearn.errors.ValidationError,
                       match=r"loader_options=\{'wlearn\.mitra_onnx\.regressor@2'"):
        wlearn.load(data)  # the built-in regressor is another model; the hint names @2
