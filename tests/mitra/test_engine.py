"""MitraEngine: plain passes against the JS fixtures, upstream preprocessing and ensembles."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from wlearn.errors import ValidationError
from wlearn_mitra.engine._preprocess import TRANSFORMS, MemberTransform
from wlearn_mitra.engine import MitraEngine

from _paths import fixtures_dir

FIXTURES = fixtures_dir()
ONNX = FIXTURES / "onnx"


def data(seed: int, n_support=60, n_query=25, n_features=5, n_classes=3):
    rng = np.random.default_rng(seed)
    xs = rng.normal(size=(n_support, n_features)).astype(np.float32)
    xq = rng.normal(size=(n_query, n_features)).astype(np.float32)
    ys = np.arange(n_support) % n_classes
    rng.shuffle(ys)
    return xs, ys, xq


def softmax64(z):
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# -- plain passes -------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["a_binary_all", "b_3class_strat_s42", "e_regression_all"])
def test_forward_reproduces_js_raw_output(case, bare_forward, cross_cpu_atol):
    root = FIXTURES / "mitra-js" / case
    meta = json.loads((root / "case.json").read_text())
    regression = case.startswith("e_")
    engine = MitraEngine(
        ONNX / ("tiny-mitra-regressor.onnx" if regression else "tiny-mitra-classifier.onnx"),
        task="regression" if regression else "classification",
    )
    idx = np.load(root / "support_indices.npy")
    xs = np.load(root / "X.npy")[idx].astype(np.float32)
    y = np.load(root / "y.npy")[idx]
    xq = np.load(root / "Xq.npy")
    path = ONNX / ("tiny-mitra-regressor.onnx" if regression else "tiny-mitra-classifier.onnx")
    # JS's raw output, up to the float32 kernels of the CPU it ran on; the engine's feed is
    # JS's feed exactly: a bare session on it gives the engine's output bit for bit
    np.testing.assert_allclose(np.load(root / "raw_output.npy")[0],
                               bare := bare_forward(path, xs, y, xq), rtol=0, atol=cross_cpu_atol)
    raw = bare
    assert np.array_equal(engine.forward(xs, y, xq), raw)
    if regression:
        assert np.array_equal(engine.predict(xs, y, xq), raw.astype(np.float64))
    else:
        k = len(meta["bundle"]["meta"]["classes"])
        # the labels of these cases are 0..K-1 already, so JS fed the model class indices
        assert np.array_equal(np.unique(y), np.arange(k))
        np.testing.assert_allclose(
            engine.predict(xs, y, xq, n_classes=k), softmax64(raw[:, :k]), rtol=0, atol=1e-12
        )


def test_onnx_sha256_is_the_file_hash(clf):
    import hashlib

    assert clf.onnx_sha256 == hashlib.sha256(
        (ONNX / "tiny-mitra-classifier.onnx").read_bytes()
    ).hexdigest()
    assert clf.shape.dim == 32


# -- preprocessing ------------------------------------------------------------------------


def test_nan_is_imputed_with_support_column_means(clf):
    xs, ys, xq = data(1)
    rng = np.random.default_rng(2)
    xs_nan, xq_nan = xs.astype(np.float64), xq.astype(np.float64)
    xs_nan[rng.random(xs.shape) < 0.15] = np.nan
    xq_nan[rng.random(xq.shape) < 0.3] = np.nan
    observed = ~np.isnan(xs_nan)
    means = np.where(observed, xs_nan, 0).sum(axis=0) / observed.sum(axis=0)
    xs_fill = np.where(np.isnan(xs_nan), means, xs_nan)
    xq_fill = np.where(np.isnan(xq_nan), means, xq_nan)
    got = clf.predict(xs_nan, ys, xq_nan, n_classes=3)
    want = softmax64(clf.forward(xs_fill, ys, xq_fill)[:, :3])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_constant_and_all_nan_columns_are_dropped(clf, reg):
    xs, ys, xq = data(3, n_features=4)
    base_c = clf.predict(xs, ys, xq, n_classes=3)
    base_r = reg.predict(xs, ys / 2.0, xq)
    wide_s = np.column_stack([xs[:, :2], np.full(len(xs), 7.0), xs[:, 2:], np.full(len(xs), np.nan)])
    wide_q = np.column_stack([xq[:, :2], np.linspace(-5, 5, len(xq)), xq[:, 2:], np.ones(len(xq))])
    np.testing.assert_allclose(clf.predict(wide_s, ys, wide_q, n_classes=3), base_c, atol=1e-12)
    np.testing.assert_allclose(reg.predict(wide_s, ys / 2.0, wide_q), base_r, atol=1e-12)


def test_all_columns_constant_still_predicts(clf):
    xs = np.ones((20, 3))
    ys = np.arange(20) % 2
    out = clf.predict(xs, ys, np.zeros((4, 3)), n_classes=2)
    assert out.shape == (4, 2)
    np.testing.assert_allclose(out.sum(axis=1), 1.0)
    assert np.allclose(out, out[0])  # nothing left to tell the rows apart


def test_infinite_query_values_become_zero(clf):
    xs, ys, xq = data(4)
    xq_inf = xq.astype(np.float64)
    xq_zero = xq_inf.copy()
    xq_inf[0, 1], xq_inf[3, 4] = np.inf, -np.inf
    xq_zero[0, 1] = xq_zero[3, 4] = 0.0
    np.testing.assert_array_equal(
        clf.predict(xs, ys, xq_inf, n_classes=3), clf.predict(xs, ys, xq_zero, n_classes=3)
    )


# -- ensemble members ---------------------------------------------------------------------


def test_member_x_mirrors_after_reordering():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(7, 6))
    order = rng.permutation(6)
    mirror = rng.choice([1.0, -1.0], size=6)
    member = MemberTransform(feature_order=order, mirror=mirror)
    # the same view, built the other way round: mirror in the original column order, then reorder
    signs_by_source = np.empty(6)
    signs_by_source[order] = mirror
    np.testing.assert_array_equal(member.x(x), (x * signs_by_source)[:, order].astype(np.float32))
    # mirroring twice is the identity
    again = MemberTransform(mirror=mirror).x(MemberTransform(mirror=mirror).x(x).astype(np.float64))
    np.testing.assert_array_equal(again, x.astype(np.float32))


def test_member_class_shuffle_reads_back_the_fed_slot():
    perm = np.random.default_rng(6).permutation(3)
    member = MemberTransform(class_perm=perm)
    y = np.array([0, 2, 1, 2, 0])
    fed = member.y(y, classification=True)
    # a model that answers each row with a one-hot at the label it was fed ...
    output = np.eye(10)[fed]
    # ... must be read back as a one-hot at the original class
    np.testing.assert_array_equal(member.logits(output, 3), np.eye(3)[y])


def test_feature_shuffles_do_not_change_the_prediction(clf):
    # Tab2D has no feature positions: a pure feature-order ensemble equals one plain pass
    xs, ys, xq = data(7)
    plain = clf.predict(xs, ys, xq, n_classes=3)
    shuffled = clf.predict(xs, ys, xq, n_classes=3, n_estimators=4, transforms={"shuffle_features"})
    np.testing.assert_allclose(shuffled, plain, atol=1e-5)


def test_member_class_permutations_stay_within_the_classes_used():
    # a model trained on tables whose K classes are labelled 0..K-1 never saw labels K..9
    rng = np.random.default_rng(0)
    for k in (2, 3, 7, 10):
        for _ in range(20):
            member = MemberTransform.draw(rng, n_features=4, n_labels=k, classification=True,
                                          transforms=TRANSFORMS)
            assert sorted(member.class_perm) == list(range(k))


def test_class_shuffle_ensemble_is_an_average_of_relabelled_passes(clf):
    # independent of how permutations are drawn: each member feeds classes 0..2 as some
    # permutation of the labels 0..2, so the ensemble is the mean of two of those 6 passes
    xs, ys, xq = data(8, n_classes=3)
    got = clf.predict(xs, ys, xq, n_classes=3, n_estimators=2, seed=3, transforms={"shuffle_classes"})
    passes = [
        softmax64(clf.forward(xs, np.array(slots)[ys], xq)[:, list(slots)])
        for slots in itertools.permutations(range(3))
    ]
    best = min(
        np.abs((passes[i] + passes[j]) / 2 - got).max()
        for i in range(len(passes))
        for j in range(i, len(passes))
    )
    assert best < 1e-9


def test_target_mirror_ensemble_mixes_plain_and_mirrored_passes(reg):
    xs, _, xq = data(9)
    ys = np.random.default_rng(9).random(len(xs))
    n = 6
    got = reg.predict(xs, ys, xq, n_estimators=n, seed=0, transforms={"mirror_y"})
    plain = reg.forward(xs, ys, xq).astype(np.float64)
    mirrored = 1.0 - reg.forward(xs, 1.0 - ys, xq).astype(np.float64)
    errors = [np.abs((k * plain + (n - k) * mirrored) / n - got).max() for k in range(n + 1)]
    k = int(np.argmin(errors))
    assert errors[k] < 1e-9
    assert 0 < k < n  # this seed mixes both kinds of member


def test_ensembles_are_deterministic_given_seed(clf, reg):
    xs, ys, xq = data(10)
    a = clf.predict(xs, ys, xq, n_classes=3, n_estimators=3, seed=11)
    np.testing.assert_array_equal(a, clf.predict(xs, ys, xq, n_classes=3, n_estimators=3, seed=11))
    assert not np.allclose(a, clf.predict(xs, ys, xq, n_classes=3, n_estimators=3, seed=12))
    np.testing.assert_allclose(a.sum(axis=1), 1.0)
    r = reg.predict(xs, ys / 2, xq, n_estimators=3, seed=11)
    np.testing.assert_array_equal(r, reg.predict(xs, ys / 2, xq, n_estimators=3, seed=11))


def test_ensemble_without_transforms_equals_one_pass(clf):
    xs, ys, xq = data(12)
    np.testing.assert_allclose(
        clf.predict(xs, ys, xq, n_classes=3, n_estimators=3, transforms=()),
        clf.predict(xs, ys, xq, n_classes=3),
        atol=1e-15,
    )


# -- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_classes": 11}, "n_classes"),
        ({"n_classes": 2}, "class indices"),
        ({"n_classes": 3, "n_estimators": 0}, "n_estimators"),
        ({"n_classes": 3, "transforms": {"flip"}}, "unknown transforms"),
        ({"n_classes": 3, "chunk_size": 0}, "chunk_size"),
        ({"n_classes": 3, "max_memory_mb": -1}, "max_memory_mb"),
    ],
)
def test_bad_arguments_raise_validation_errors(clf, kwargs, message):
    xs, ys, xq = data(13)
    with pytest.raises(ValidationError, match=message):
        clf.predict(xs, ys, xq, **kwargs)


def test_bad_shapes_raise_validation_errors(clf):
    xs, ys, xq = data(14)
    with pytest.raises(ValidationError, match="features"):
        clf.predict(xs, ys, xq[:, :3], n_classes=3)
    with pytest.raises(ValidationError, match="y_support"):
        clf.predict(xs, ys[:-1], xq, n_classes=3)
    with pytest.raises(ValidationError, match="2-D"):
        clf.predict(xs[0], ys, xq, n_classes=3)
    with pytest.raises(ValidationError, match="regressor|classifier"):
        MitraEngine(ONNX / "tiny-mitra-regressor.onnx", task="classification")
