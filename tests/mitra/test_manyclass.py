"""More classes than the head: the class hierarchy (wlearn_mitra._manyclass, spec/mitra.md
"More classes than the head"), its estimator hook and its bundle extension."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import wlrn
from wlearn.errors import BundleError, ValidationError
from wlearn_mitra import MitraClassifier, MitraModel
from wlearn_mitra.inputs import _manyclass
from wlearn_mitra.inputs._support import select_support
from wlearn_mitra.engine import MitraEngine

from _paths import fixtures_dir

TINY = fixtures_dir("onnx", "tiny-mitra-classifier.onnx")


def _table(k: int, rows_per_class: int = 6, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(k), rows_per_class)
    X = rng.standard_normal((len(y), 3)) + y[:, None] * 0.3
    return X, y, rng.standard_normal((9, 3))


# --- the tree ---------------------------------------------------------------------------------

def test_trees_are_the_documented_ones():
    # spec/mitra.md gives these: a third implementation must build the same trees.
    assert _manyclass.build_tree(12, 10) == [[0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11]]
    assert _manyclass.build_tree(32, 10) == [list(range(i, i + 8)) for i in (0, 8, 16, 24)]
    assert _manyclass.build_tree(10, 3) == [[[0, 1], [2, 3]], [4, 5, 6], [7, 8, 9]]
    assert _manyclass.build_tree(10, 2) == [[[[0, 1], 2], [3, 4]], [[[5, 6], 7], [8, 9]]]
    assert _manyclass.build_tree(11, 10) == [[0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10]]


@pytest.mark.parametrize("m", range(2, 11))
def test_every_tree_is_a_valid_balanced_hierarchy(m):
    for k in range(m + 1, 160, 7):
        tree = _manyclass.build_tree(k, m)
        _manyclass.check_tree(tree, k)  # every class once, every node 2..10 groups
        assert _manyclass.classes_of(tree) == list(range(k))  # label order
        assert all(len(node) <= m for node in _manyclass.nodes(tree))
        depth = lambda n: 1 + max((depth(i) for i in n if isinstance(i, list)), default=0)  # noqa
        assert depth(tree) == int(np.ceil(np.log(k) / np.log(m) - 1e-9))


# --- the estimator ----------------------------------------------------------------------------

def test_more_than_ten_classes_fit_and_predict():
    X, y, Xq = _table(23)
    labels = np.array([f"species {i:02d}" for i in range(23)])[y]
    clf = MitraClassifier(onnx=TINY).fit(X, labels)
    assert clf.class_hierarchy_ == _manyclass.build_tree(23, 10)
    proba = clf.predict_proba(Xq)
    assert proba.shape == (9, 23) and proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert (proba > 0).all()
    np.testing.assert_array_equal(clf.predict(Xq), clf.classes_[proba.argmax(1)])
    assert clf.score(X, labels) == np.mean(clf.predict(X) == labels)


@pytest.mark.filterwarnings("ignore::wlearn_mitra.BuiltinModelWarning")
def test_builtin_model_learns_a_fifteen_class_table():
    """Old code refused more than 10 classes; the built-in model separates 15 clusters."""
    rng = np.random.default_rng(1)
    centres = rng.standard_normal((15, 4)) * 4
    y = np.repeat(np.arange(15), 20)
    X = centres[y] + rng.standard_normal((300, 4)) * 0.5
    Xq_y = np.arange(15).repeat(4)
    Xq = centres[Xq_y] + rng.standard_normal((60, 4)) * 0.5
    clf = MitraClassifier(random_state=0).fit(X, y)  # the built-in model
    # the tree of the max_node_classes it declares (4; test_builtin.py)
    assert clf.class_hierarchy_ == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14]]
    assert clf.score(Xq, Xq_y) >= 0.9


def test_hierarchy_is_the_product_of_independent_node_passes():
    """Re-derive a 12-class prediction from plain engine passes, node by node."""
    X, y, Xq = _table(12, rows_per_class=5)
    clf = MitraClassifier(onnx=TINY, max_support=40, random_state=3).fit(X, y)
    # ceil(12 / 10) = 2 leaves' worth of rows: 80 of the 60 rows, so all of them.
    assert len(clf.support_x_) == 60
    engine = MitraEngine(TINY, task="classification")
    xs, ys = clf.support_x_, clf._support_index

    def node(rows, labels, k):
        if len(rows) > 40:  # the node cap: select_support, stratified by class, seed 3
            rows = rows[select_support(len(rows), 40, 3, ys[rows])]
        return engine.predict(xs[rows], labels[rows], Xq, n_classes=k, seed=3)

    everything = np.arange(60)
    root = node(everything, (ys >= 6).astype(np.int64), 2)
    left = node(np.flatnonzero(ys < 6), ys, 6)
    right = node(np.flatnonzero(ys >= 6), ys - 6, 6)
    expected = np.hstack([root[:, :1] * left, root[:, 1:] * right])
    np.testing.assert_allclose(clf.predict_proba(Xq), expected, rtol=1e-12, atol=1e-15)


def test_no_node_sees_more_than_max_support_rows(monkeypatch):
    X, y, Xq = _table(25, rows_per_class=8)
    clf = MitraClassifier(onnx=TINY, max_support=30, max_node_classes=5).fit(X, y)
    # 30 * ceil(25 / 5) = 150 rows kept, stratified: 6 per class.
    assert len(clf.support_x_) == 150
    seen = []
    predict = MitraEngine.predict

    def spy(self, xs, ys, xq, **kw):
        seen.append((len(xs), kw["n_classes"], len(np.unique(ys))))
        return predict(self, xs, ys, xq, **kw)

    monkeypatch.setattr(MitraEngine, "predict", spy)
    clf.predict_proba(Xq)
    assert len(seen) == len(_manyclass.nodes(clf.class_hierarchy_)) == 6
    assert all(rows <= 30 and k <= 5 and present == k for rows, k, present in seen)
    assert seen[0] == (30, 5, 5)  # the root: 150 rows capped to 30


@pytest.mark.parametrize("onnx", [TINY, None], ids=["tiny", "builtin"])
def test_a_node_with_no_support_rows_splits_its_weight_evenly(onnx, monkeypatch):
    """Fewer kept rows than classes: a node whose classes have no kept row is not run (an
    engine pass on no rows has no answer) and its groups share the node's weight."""
    X, y, Xq = _table(30, rows_per_class=10)
    clf = MitraClassifier(onnx=onnx, max_support=2, max_node_classes=10).fit(X, y)
    tree = clf.class_hierarchy_
    kept = set(clf._support_index.tolist())
    empty = [n for n in _manyclass.nodes(tree) if not kept & set(_manyclass.classes_of(n))]
    assert empty, "the table must leave some node without rows"
    seen = []
    predict = MitraEngine.predict

    def spy(self, xs, ys, xq, **kw):
        seen.append(len(xs))
        return predict(self, xs, ys, xq, **kw)

    monkeypatch.setattr(MitraEngine, "predict", spy)
    proba = clf.predict_proba(Xq)
    assert len(seen) == len(_manyclass.nodes(tree)) - len(empty) and min(seen) > 0
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    for node in empty:  # a node's groups share its weight: equal for its single classes
        singles = [g for g in node if not isinstance(g, list)]
        np.testing.assert_array_equal(proba[:, singles], proba[:, singles[:1]].repeat(
            len(singles), axis=1))
    assert (clf.predict(Xq) == clf.classes_[proba.argmax(axis=1)]).all()


def test_the_engine_refuses_an_empty_support_set_even_unchecked():
    engine = MitraEngine(TINY, task="classification")
    empty = np.zeros((0, 3), np.float32)
    for check_input in (True, False):
        with pytest.raises(ValidationError, match="support set is empty"):
            engine.predict(empty, np.zeros(0, np.int64), np.zeros((2, 3), np.float32),
                           n_classes=2, check_input=check_input)


def test_small_nodes_below_ten_classes_and_plain_by_default():
    X, y, Xq = _table(5)
    plain = MitraClassifier(onnx=TINY).fit(X, y)
    assert plain.class_hierarchy_ is None
    small = MitraClassifier(onnx=TINY, max_node_classes=3).fit(X, y)
    assert small.class_hierarchy_ == [[0, 1, 2], [3, 4]]
    p = small.predict_proba(Xq)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert not np.allclose(p, plain.predict_proba(Xq))


def test_deterministic_given_random_state_with_ensembles():
    X, y, Xq = _table(14, rows_per_class=9)
    make = lambda rs: MitraClassifier(onnx=TINY, max_support=50, n_estimators=3,  # noqa: E731
                                      random_state=rs).fit(X, y)
    a, b, c = make(7), make(7), make(8)
    np.testing.assert_array_equal(a.predict_proba(Xq), b.predict_proba(Xq))
    assert a.save() == b.save()
    assert not np.array_equal(a.predict_proba(Xq), c.predict_proba(Xq))
    np.testing.assert_allclose(a.predict_proba(Xq).sum(axis=1), 1.0, rtol=0, atol=1e-12)


def test_continuous_targets_are_still_refused():
    X = np.zeros((11, 2))
    with pytest.raises(ValidationError, match="continuous target"):
        MitraClassifier(onnx=TINY).fit(X, np.arange(11) + 0.5)
    # integral floats are class labels (scikit-learn's "multiclass"), any number of them
    assert len(MitraClassifier(onnx=TINY).fit(X, np.arange(11.0)).classes_) == 11


@pytest.mark.parametrize("bad", [0, 1, 11, 2.5, True, "3"])
def test_bad_max_node_classes_is_refused_at_fit(bad):
    X, y, _ = _table(3)
    with pytest.raises(ValidationError, match="max_node_classes"):
        MitraClassifier(onnx=TINY, max_node_classes=bad).fit(X, y)


def test_mitra_model_and_clone_carry_the_parameter():
    sklearn = pytest.importorskip("sklearn.base")
    X, y, Xq = _table(13)
    model = MitraModel(classifier_onnx=TINY, max_node_classes=4).fit(X, y)
    assert model.class_hierarchy_ == _manyclass.build_tree(13, 4)
    assert model.predict_proba(Xq).shape == (9, 13)
    twin = sklearn.clone(MitraClassifier(onnx=TINY, max_node_classes=4))
    assert twin.get_params()["max_node_classes"] == 4


# --- bundles and pickles ----------------------------------------------------------------------

def test_bundle_round_trip_and_extension_shape():
    X, y, Xq = _table(12)
    clf = MitraClassifier(onnx=TINY, max_node_classes=4).fit(X, y * 10)
    data = clf.save()
    manifest, _, blobs = wlrn.decode_bundle(data)
    meta = wlrn.decode_json(blobs["meta"])
    assert meta["classHierarchy"] == {"version": 1, "tree": clf.class_hierarchy_}
    assert meta["labels"]["kind"] == "integer" and "classes" not in meta
    assert "support_y_index" in blobs and "support_y" not in blobs  # JS refuses at load
    assert manifest["params"]["maxNodeClasses"] == 4
    loaded = MitraClassifier.load(data, onnx=TINY)
    assert loaded.class_hierarchy_ == clf.class_hierarchy_
    assert loaded.max_node_classes == 4
    np.testing.assert_array_equal(loaded.classes_, clf.classes_)
    np.testing.assert_array_equal(loaded.predict_proba(Xq), clf.predict_proba(Xq))
    assert loaded.save() == data
    assert MitraModel.load(data, onnx=TINY).predict(Xq).tolist() == clf.predict(Xq).tolist()


def test_default_ten_class_bundles_have_no_extension():
    X, y, _ = _table(10)
    clf = MitraClassifier(onnx=TINY).fit(X, y)
    meta = wlrn.decode_json(wlrn.decode_bundle(clf.save())[2]["meta"])
    assert "classHierarchy" not in meta and "classes" in meta


def _rewrite(data: bytes, edit) -> bytes:
    manifest, toc, blobs = wlrn.decode_bundle(data)
    meta = wlrn.decode_json(blobs["meta"])
    edit(meta)
    artifacts = [{"id": e["id"], "data": bytes(blobs[e["id"]])} for e in toc]
    for a in artifacts:
        if a["id"] == "meta":
            a["data"] = wlrn.encode_json(meta)
    return wlrn.encode_bundle(manifest, artifacts)


@pytest.mark.parametrize("edit, message", [
    (lambda m: m["classHierarchy"].update(version=2), "version"),
    (lambda m: m["classHierarchy"].update(extra=1), "unknown fields"),
    (lambda m: m["classHierarchy"].update(tree=[[0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 10]]),
     "exactly once"),
    (lambda m: m["classHierarchy"].update(tree=[list(range(12))]), "2..10 groups"),
    (lambda m: m["classHierarchy"].update(tree=[[0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, "11"]]),
     "class index"),
    (lambda m: m.update(classHierarchy=[1]), "must be an object"),
])
def test_malformed_hierarchy_bundles_are_refused(edit, message):
    X, y, _ = _table(12)
    data = MitraClassifier(onnx=TINY).fit(X, y).save()
    with pytest.raises(BundleError, match=message):
        MitraClassifier.load(_rewrite(data, edit), onnx=TINY)


def test_hierarchy_beside_js_classes_is_refused():
    """A tree beside meta.classes / support_y would be loaded by @wlearn/mitra as one pass."""
    X, y, _ = _table(4)
    data = MitraClassifier(onnx=TINY).fit(X, y).save()
    bad = _rewrite(data, lambda m: m.update(
        classHierarchy={"version": 1, "tree": [[0, 1], [2, 3]]}))
    with pytest.raises(BundleError, match="meta.labels and support_y_index"):
        MitraClassifier.load(bad, onnx=TINY)


def test_pickles_keep_the_hierarchy_and_check_it():
    X, y, Xq = _table(11)
    clf = MitraClassifier(onnx=str(TINY)).fit(X, y)
    twin = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(twin.predict_proba(Xq), clf.predict_proba(Xq))
    state = clf.__getstate__()
    state["class_hierarchy_"] = [[0, 1], [2, 3]]
    with pytest.raises(ValidationError, match="class_hierarchy_"):
        MitraClassifier.__new__(MitraClassifier).__setstate__(state)


@pytest.mark.filterwarnings("ignore::wlearn_mitra.BuiltinModelWarning")
@pytest.mark.parametrize("onnx", [TINY, None], ids=["tiny", "builtin"])
def test_many_classes_seen_about_once_are_warned_of(onnx):
    import warnings

    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 3))
    amounts = rng.integers(0, 1000, 100)  # a quantity given as integers: ~96 classes
    with pytest.warns(UserWarning, match=r"y has \d+ numeric classes in 100 rows.*MitraRegressor"):
        MitraClassifier(onnx=onnx).fit(X, amounts)
    with pytest.warns(UserWarning, match="task='regression'"):
        MitraModel(classifier_onnx=onnx).fit(X, amounts)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        MitraClassifier(onnx=onnx).fit(X, np.arange(100) % 30)  # 30 classes, ~3 rows each
        names = np.array([f"customer-{i}" for i in amounts])  # names, not a quantity
        MitraClassifier(onnx=onnx).fit(X, names)


@pytest.mark.filterwarnings("ignore::wlearn_mitra.BuiltinModelWarning")
@pytest.mark.parametrize("onnx", [TINY, None], ids=["tiny", "builtin"])
def test_a_bundle_of_more_than_ten_classes_without_a_hierarchy_predicts(onnx):
    """@wlearn/mitra fits and saves 12 classes but cannot predict from them: here the
    hierarchy max_node_classes gives runs them, built at predict, and the bundle stays as
    loaded."""
    import json

    X, y, Xq = _table(12, rows_per_class=8)
    fitted = MitraClassifier(onnx=onnx, max_node_classes=10).fit(X, y)
    manifest, toc, blobs = wlrn.decode_bundle(fitted.save())
    parts = {e["id"]: bytes(blobs[e["id"]]) for e in toc}
    meta = json.loads(parts["meta"])
    del meta["classHierarchy"]  # as @wlearn/mitra writes a 12-class fit
    parts["meta"] = wlrn.encode_json(meta)
    js_like = wlrn.encode_bundle(manifest, [{"id": k, "data": v} for k, v in parts.items()])
    loaded = MitraClassifier.load(js_like, onnx=onnx)
    assert loaded.class_hierarchy_ is None
    np.testing.assert_array_equal(loaded.predict_proba(Xq), fitted.predict_proba(Xq))
    again = loaded.save()
    assert "classHierarchy" not in json.loads(bytes(wlrn.decode_bundle(again)[2]["meta"]))
    assert again == MitraClassifier.load(again, onnx=onnx).save()  # no hierarchy stored
