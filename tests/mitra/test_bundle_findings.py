"""Mitra bundle contents the fuzz campaign (tests/fuzz) found mishandled, minimised by hand."""

from __future__ import annotations

import numpy as np
import pytest

from wlearn.errors import BundleError
from wlearn_mitra.inputs import _categories


def _columns(indices):
    return {"version": 1,
            "columns": [{"index": i, "kind": "string", "values": ["a", "b"]} for i in indices]}


@pytest.mark.parametrize("indices", [[1, 0], [0, 2, 2], [3, 1, 2]])
def test_category_columns_out_of_order_or_repeated_are_refused(indices):
    with pytest.raises(BundleError, match="ascending index order, each column once"):
        _categories.from_json(_columns(indices), 4, 2)


def test_many_category_columns_are_read_in_linear_time():
    # Each column used to be compared with max() of all columns read before it: 16,000
    # columns (a 64 KB support set of one row) took over a CPU second, 50,000 about ten.
    n = 50_000
    categories = _categories.from_json(_columns(range(n)), n, 2)
    assert list(categories) == list(range(n))
    assert all(np.array_equal(v, np.array(["a", "b"], dtype=object)) for v in categories.values())



@pytest.mark.parametrize("task", ["classification", "regression"])
def test_an_ensemble_over_support_columns_that_are_all_constant(task):
    # Found by the fuzz campaign through a one-row bundle with nEstimators 2: constant
    # columns are dropped, and members drew a feature order over one column of none
    # (IndexError at predict).
    from pathlib import Path

    from wlearn_mitra import MitraClassifier, MitraRegressor

    data = Path(_categories.__file__).parents[1] / "data"
    X = np.tile([[1.0, 2.0, 3.0]], (4, 1))
    if task == "classification":
        model = MitraClassifier(onnx=str(data / "tiny-mitra-classifier.onnx"), n_estimators=3)
        proba = model.fit(X, [0, 1, 0, 1]).predict_proba(X[:2])
        assert proba.shape == (2, 2) and np.isfinite(proba).all()
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    else:
        model = MitraRegressor(onnx=str(data / "tiny-mitra-regressor.onnx"), n_estimators=3)
        values = model.fit(X, [0.0, 1.0, 2.0, 3.0]).predict(X[:2])
        assert values.shape == (2,) and np.isfinite(values).all()
        assert 0.0 <= values.min() and values.max() <= 3.0  # within the targets' range


@pytest.mark.parametrize("value", [257, 10**9, 0, -1, 2.5, "4", True, None])
def test_n_estimators_out_of_bounds_is_refused_at_load(value):
    # A bundle asking for 10**9 members made predict build 10**9 member transforms up front
    # (a huge allocation, then unbounded work); now the bundle itself is refused.
    from pathlib import Path

    import wlrn
    from wlearn import load
    from wlearn.errors import ValidationError
    from wlearn_mitra import MitraClassifier
    from wlearn_mitra.inputs._checks import MAX_N_ESTIMATORS

    onnx = str(Path(_categories.__file__).parents[1] / "data" / "tiny-mitra-classifier.onnx")
    X, y = np.arange(8.0).reshape(4, 2), [0, 1, 0, 1]
    good = MitraClassifier(onnx=onnx, n_estimators=MAX_N_ESTIMATORS).fit(X, y).save()
    assert MitraClassifier.load(good, onnx=onnx).n_estimators == MAX_N_ESTIMATORS
    manifest, toc, blobs = wlrn.decode_bundle(good)
    manifest["params"]["nEstimators"] = value
    bad = wlrn.encode_bundle(manifest, [{"id": e["id"], "data": blobs[e["id"]]} for e in toc])
    with pytest.raises(BundleError, match="nEstimators"):
        MitraClassifier.load(bad, onnx=onnx)
    with pytest.raises(BundleError, match="nEstimators"):
        load(bad)
    with pytest.raises(ValidationError, match="n_estimators"):
        MitraClassifier(onnx=onnx, n_estimators=value).fit(X, y)


_BAD_PARAMS = [  # (bundle key, estimator parameter, a value fit refuses)
    ("maxNodeClasses", "max_node_classes", 99),
    ("maxNodeClasses", "max_node_classes", 1),
    ("maxNodeClasses", "max_node_classes", "4"),
    ("maxSupport", "max_support", -5),
    ("maxSupport", "max_support", "512"),
    ("maxSupport", "max_support", None),
    ("seed", "seed", "abc"),
    ("seed", "seed", [1]),
    ("supportSelection", "support_selection", "random"),
    ("targetScaling", "target_scaling", "log"),
    ("task", "task", "ranking"),
    ("nEstimators", "n_estimators", 0),
]


@pytest.mark.parametrize(("key", "name", "value"), _BAD_PARAMS)
def test_every_param_a_bundle_carries_is_checked_at_load_as_at_fit(key, name, value):
    """A bundle is untrusted input: a param out of the estimator's range is refused at load
    with the estimator's own message, in a BundleError naming the manifest key."""
    from pathlib import Path

    import wlrn
    from wlearn import load
    from wlearn.errors import ValidationError
    from wlearn_mitra import MitraClassifier, MitraModel, MitraRegressor
    from wlearn_mitra.bundles import _format

    assert set(_format._PARAM_CHECKS) == set(_format.JS_PARAMS)  # every param has its check
    data = Path(_categories.__file__).parents[1] / "data"
    kind = MitraRegressor if key == "targetScaling" else MitraClassifier
    onnx = str(data / ("tiny-mitra-regressor.onnx" if kind is MitraRegressor
                       else "tiny-mitra-classifier.onnx"))
    X, y = np.arange(8.0).reshape(4, 2), [0, 1, 0, 1]
    good = kind(onnx=onnx).fit(X, y).save()
    manifest, toc, blobs = wlrn.decode_bundle(good)
    manifest["params"][key] = value
    bad = wlrn.encode_bundle(manifest, [{"id": e["id"], "data": blobs[e["id"]]} for e in toc])
    fit_model = MitraModel if key == "task" else kind
    with pytest.raises(ValidationError) as at_fit:
        fit_model(**{name: value}).set_params(**{
            "classifier_onnx" if fit_model is MitraModel else "onnx": onnx}).fit(X, y)
    message = str(at_fit.value)
    for loading in (lambda: kind.load(bad, onnx=onnx), lambda: MitraModel.load(bad, onnx),
                    lambda: load(bad, loader_options={manifest["typeId"]: {"onnx": onnx}})):
        with pytest.raises(BundleError) as at_load:
            loading()
        assert str(at_load.value) == f"manifest.params.{key}: {message}"


def test_a_js_bundle_of_max_support_zero_still_loads():
    """@wlearn/mitra writes maxSupport 0 (no rows; predict refuses it): the one value that
    loads though fit refuses it."""
    from wlearn_mitra.bundles import _format

    _format.check_params({"maxSupport": 0, "maxNodeClasses": None, "seed": "42"})
    with pytest.raises(BundleError, match="maxSupport"):
        _format.check_params({"maxSupport": -1})
