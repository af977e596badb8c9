"""A query row's answer does not depend on the rows predicted with it: alone, in any subset,
in chunks of any size or under any memory budget it is the same float64, bit for bit.

ONNX Runtime's one-row kernels round differently (up to 4e-5 relative before the fix), which
scikit-learn's check_subset_invariance and check_methods_sample_order_invariance catch.
"""

from __future__ import annotations


import numpy as np
import pytest

from wlearn_mitra import MitraClassifier, MitraRegressor
from wlearn_mitra.engine._planning import plan, query_row_bytes, support_bytes
from wlearn_mitra.engine import MitraEngine

from _paths import fixtures_dir

ONNX = fixtures_dir("onnx")


def data(seed, n_support=90, n_query=24, n_features=7):
    rng = np.random.default_rng(seed)
    xs = rng.normal(size=(n_support, n_features))
    xq = rng.normal(size=(n_query, n_features))
    return xs, rng.integers(0, 4, n_support), rng.random(n_support), xq


@pytest.fixture(scope="module", params=[None, "derive"], ids=["single", "split"])
def engines(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("derived")
    return {
        task: MitraEngine(ONNX / f"tiny-mitra-{name}.onnx", task=task, split=request.param,
                          optimized_dir=folder)
        for task, name in (("classification", "classifier"), ("regression", "regressor"))
    }


@pytest.mark.parametrize("task", ["classification", "regression"])
@pytest.mark.parametrize("n_estimators", [1, 3])
def test_a_row_alone_equals_the_row_in_a_batch(engines, task, n_estimators):
    engine = engines[task]
    xs, labels, targets, xq = data(0)
    ys = labels if task == "classification" else targets
    kwargs = dict(n_estimators=n_estimators, seed=3)
    if task == "classification":
        kwargs["n_classes"] = 4
    whole = engine.predict(xs, ys, xq, **kwargs)
    alone = np.stack([engine.predict(xs, ys, xq[i : i + 1], **kwargs)[0] for i in range(len(xq))])
    np.testing.assert_array_equal(alone, whole)
    rng = np.random.default_rng(1)
    for size in (2, 3, 5, 11):
        rows = rng.permutation(len(xq))[:size]
        np.testing.assert_array_equal(engine.predict(xs, ys, xq[rows], **kwargs), whole[rows])
    for chunk_size in (1, 2, 5):
        np.testing.assert_array_equal(
            engine.predict(xs, ys, xq, chunk_size=chunk_size, **kwargs), whole
        )
    # A budget so small that every chunk is the fewest rows the plan allows (the single
    # graph opened first: a plan counts the weights of a graph it would have to open).
    engine.single
    n_features = xs.shape[1]
    tight = (support_bytes(engine.shape, len(xs), n_features)
             + 2 * query_row_bytes(engine.shape, len(xs), n_features)) / 2**20
    assert plan(engine.shape, len(xs), n_features, max_memory_mb=tight).rows == 2
    batch = engine.predict(xs, ys, xq, max_memory_mb=tight, **kwargs)
    for i in range(0, len(xq), 5):
        np.testing.assert_array_equal(
            engine.predict(xs, ys, xq[i : i + 1], max_memory_mb=tight, **kwargs)[0], batch[i]
        )
    if not engine.uses_cache:  # the same graph, only the chunks differ
        np.testing.assert_array_equal(batch, whole)


def test_estimators_answer_each_row_as_in_the_batch():
    xs, labels, targets, xq = data(2)
    clf = MitraClassifier(onnx=ONNX / "tiny-mitra-classifier.onnx").fit(xs, labels)
    reg = MitraRegressor(onnx=ONNX / "tiny-mitra-regressor.onnx").fit(xs, targets * 50 - 7)
    for method in (clf.predict_proba, reg.predict):
        whole = method(xq)
        alone = np.stack([method(xq[i : i + 1])[0] for i in range(len(xq))])
        np.testing.assert_array_equal(alone, whole)
        order = np.random.default_rng(3).permutation(len(xq))
        np.testing.assert_array_equal(method(xq[order]), whole[order])
