"""A classifier graph's declared ``max_node_classes`` (metadata ``wlearn.max_node_classes``,
spec/mitra-onnx.md "Declared defaults"): the default of estimators with
``max_node_classes=None``, never of a bundle or pickle already made, refused when malformed."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import wlrn
from wlearn.errors import ValidationError
from wlearn_mitra import MitraClassifier, MitraModel, MitraRegressor
from wlearn_mitra.engine import MitraEngine
from wlearn_mitra.inputs import _manyclass

from _paths import fixtures_dir

onnx = pytest.importorskip("onnx")

ONNX_FIXTURES = fixtures_dir("onnx")
TINY = ONNX_FIXTURES / "tiny-mitra-classifier.onnx"
TINY_REGRESSOR = ONNX_FIXTURES / "tiny-mitra-regressor.onnx"
KEY = "wlearn.max_node_classes"


def _declaring(tmp_path, value: str, source=TINY):
    """``source`` with ``wlearn.max_node_classes`` set to ``value`` (weights unchanged)."""
    proto = onnx.load(str(source))
    entry = proto.metadata_props.add()
    entry.key, entry.value = KEY, value
    path = tmp_path / f"declares-{len(list(tmp_path.iterdir()))}.onnx"
    onnx.save(proto, str(path))
    return path


def _table(k: int, rows_per_class: int = 6, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(k), rows_per_class)
    X = rng.standard_normal((len(y), 3)) + y[:, None] * 0.3
    return X, y, rng.standard_normal((9, 3))


def test_the_declared_value_is_the_default_and_a_given_value_wins(tmp_path):
    X, y, Xq = _table(5)
    declaring = _declaring(tmp_path, "3")
    assert MitraEngine(declaring, task="classification").declared_max_node_classes == 3
    assert MitraEngine(TINY, task="classification").declared_max_node_classes is None
    by_default = MitraClassifier(onnx=declaring).fit(X, y)
    assert by_default.class_hierarchy_ == _manyclass.build_tree(5, 3) == [[0, 1, 2], [3, 4]]
    assert by_default.get_params()["max_node_classes"] is None  # parameters stay as given
    # the same weights, the value given: the same answers, bit for bit
    given = MitraClassifier(onnx=TINY, max_node_classes=3).fit(X, y)
    np.testing.assert_array_equal(by_default.predict_proba(Xq), given.predict_proba(Xq))
    # a given value overrides the declaration; the undeclared model runs plain up to 10
    override = MitraClassifier(onnx=declaring, max_node_classes=10).fit(X, y)
    assert override.class_hierarchy_ is None
    assert MitraClassifier(onnx=TINY).fit(X, y).class_hierarchy_ is None
    np.testing.assert_array_equal(
        override.predict_proba(Xq), MitraClassifier(onnx=TINY).fit(X, y).predict_proba(Xq))
    # at most the declared number of classes: plain, as without a declaration
    X3, y3, Xq3 = _table(3)
    plain = MitraClassifier(onnx=declaring).fit(X3, y3)
    assert plain.class_hierarchy_ is None
    np.testing.assert_array_equal(plain.predict_proba(Xq3),
                                  MitraClassifier(onnx=TINY).fit(X3, y3).predict_proba(Xq3))


def test_more_rows_are_kept_for_the_declared_tree(tmp_path):
    # the fit keeps max_support * ceil(K / m) rows, m the declared value
    X, y, _ = _table(5, rows_per_class=20)
    clf = MitraClassifier(onnx=_declaring(tmp_path, "2"), max_support=10).fit(X, y)
    assert len(clf.support_indices_) == 10 * 3
    assert len(MitraClassifier(onnx=TINY, max_support=10).fit(X, y).support_indices_) == 10


def test_bundles_and_pickles_keep_the_tree_they_were_fitted_with(tmp_path):
    X, y, Xq = _table(6)
    declaring = _declaring(tmp_path, "4")
    clf = MitraClassifier(onnx=declaring).fit(X, y)
    data = clf.save()
    manifest, _, blobs = wlrn.decode_bundle(data)
    meta = wlrn.decode_json(blobs["meta"])
    assert meta["classHierarchy"]["tree"] == _manyclass.build_tree(6, 4)
    assert "maxNodeClasses" not in manifest["params"]  # the parameter was not set
    for loaded in (MitraClassifier.load(data, onnx=declaring), pickle.loads(pickle.dumps(clf)),
                   MitraModel.load(data, onnx=declaring)):
        assert loaded.class_hierarchy_ == clf.class_hierarchy_
        np.testing.assert_array_equal(loaded.predict_proba(Xq), clf.predict_proba(Xq))
    assert MitraClassifier.load(data, onnx=declaring).save() == data


def test_a_ready_session_declares_as_its_file_does(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    X, y, Xq = _table(5)
    declaring = _declaring(tmp_path, "3")
    session = ort.InferenceSession(str(declaring), providers=["CPUExecutionProvider"])
    clf = MitraClassifier(onnx=session).fit(X, y)
    assert clf.class_hierarchy_ == [[0, 1, 2], [3, 4]]
    np.testing.assert_array_equal(
        clf.predict_proba(Xq), MitraClassifier(onnx=declaring).fit(X, y).predict_proba(Xq))


@pytest.mark.parametrize("value", ["1", "11", "3.0", "x", "", " 3", "-3", "0003", "9" * 40])
def test_a_malformed_declaration_is_refused_naming_it(tmp_path, value):
    X, y, _ = _table(5)
    with pytest.raises(ValidationError, match=KEY):
        MitraClassifier(onnx=_declaring(tmp_path, value)).fit(X, y)
    # also when the given value would not need it: the model itself is malformed
    with pytest.raises(ValidationError, match=KEY):
        MitraClassifier(onnx=_declaring(tmp_path, value), max_node_classes=10).fit(X, y)


def test_a_regressor_ignores_the_entry(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((30, 3)), rng.standard_normal(30)
    plain = MitraRegressor(onnx=TINY_REGRESSOR).fit(X, y)
    path = _declaring(tmp_path, "3", TINY_REGRESSOR)
    assert MitraEngine(path, task="regression").declared_max_node_classes is None
    declaring = MitraRegressor(onnx=path).fit(X, y)
    np.testing.assert_array_equal(plain.predict(X[:5]), declaring.predict(X[:5]))


def test_convert_writes_the_declaration_in_every_graph(tmp_path):
    pytest.importorskip("torch")
    from wlearn_mitra.convert import convert
    from wlearn_mitra.graphs._layout import split_paths

    out = convert(ONNX_FIXTURES / "tiny-mitra-classifier", tmp_path / "c.onnx", split=True,
                  max_node_classes=3)
    for path in (out, *split_paths(out)):
        props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
        assert props[KEY] == "3"
    X, y, _ = _table(5)
    assert MitraClassifier(onnx=out).fit(X, y).class_hierarchy_ == [[0, 1, 2], [3, 4]]
    undeclared = convert(ONNX_FIXTURES / "tiny-mitra-classifier", tmp_path / "u.onnx")
    assert KEY not in {p.key for p in onnx.load(str(undeclared)).metadata_props}
    # a declaring graph converted again keeps its declaration unless another is given
    again = convert(out, tmp_path / "again.onnx", split=True)
    for path in (again, *split_paths(again)):
        assert {p.key: p.value for p in onnx.load(str(path)).metadata_props}[KEY] == "3"
    other = convert(out, tmp_path / "other.onnx", max_node_classes=5)
    assert {p.key: p.value for p in onnx.load(str(other)).metadata_props}[KEY] == "5"
    with pytest.raises(ValidationError, match="classifier"):
        convert(ONNX_FIXTURES / "tiny-mitra-regressor", tmp_path / "r.onnx", max_node_classes=3)
    with pytest.raises(ValidationError, match=KEY):
        convert(ONNX_FIXTURES / "tiny-mitra-classifier", tmp_path / "b.onnx", max_node_classes=11)
