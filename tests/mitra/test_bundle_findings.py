"""Mitra bundle contents the fuzz campaign (tests/fuzz) found mishandled, minimised by hand."""

from __future__ import annotations

import numpy as np
import pytest

from wlearn.errors import BundleError
from wlearn_mitra import _categories


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

    data = Path(_categories.__file__).parent / "data"
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
