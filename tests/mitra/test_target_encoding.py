"""Target statistics of key columns (``target_encoding``; spec/mitra.md "Target encoding"):
the columns against a row-by-row computation, the key-column rule, the estimators feeding the
engine exactly those columns on every shipped model, the declared default, and bundles and
pickles keeping what the model was fitted with (JS refusing it: tests/js)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import wlrn
from wlearn.errors import BundleError, ValidationError
from wlearn_mitra import MitraClassifier, MitraModel, MitraRegressor
from wlearn_mitra.engine import MitraEngine
from wlearn_mitra.inputs import _target_encoding as te

from _paths import fixtures_dir

ONNX_FIXTURES = fixtures_dir("onnx")
TINY = {"classification": ONNX_FIXTURES / "tiny-mitra-classifier.onnx",
        "regression": ONNX_FIXTURES / "tiny-mitra-regressor.onnx"}
CLASSES = {"classification": MitraClassifier, "regression": MitraRegressor}


def _expected(support_x, y_support, x_query, n_classes):
    """The appended columns, computed row by row from the definition (module docstring)."""
    n = len(support_x)
    if n_classes is None:
        targets = [[float(v)] for v in y_support]
    elif n_classes == 2:
        targets = [[float(v == 1)] for v in y_support]
    else:
        targets = [[float(v == c) for c in range(n_classes)] for v in y_support]
    width = len(targets[0])

    def same(a, b):
        return (np.isnan(a) and np.isnan(b)) or a == b

    def stat(rows, value):
        mean = [sum(targets[r][t] for r in rows) / len(rows) for t in range(width)]
        match = [r for r in rows if same(support_x[r, j], value)]
        return [(sum(targets[r][t] for r in match) + te.SMOOTHING * mean[t])
                / (len(match) + te.SMOOTHING) for t in range(width)]

    extra_s, extra_q = [], []
    room = (te.MAX_WIDTH - support_x.shape[1]) // width
    for j in te.key_columns(support_x)[:max(room, 0)]:
        extra_s.append([stat([r for r in range(n) if r % te.FOLDS != i % te.FOLDS],
                             support_x[i, j]) for i in range(n)])
        extra_q.append([stat(list(range(n)), v) for v in x_query[:, j]])
    return (np.hstack([support_x, *np.asarray(extra_s, dtype=np.float64)]),
            np.hstack([x_query, *np.asarray(extra_q, dtype=np.float64)]))


def _keyed_table(seed=0, n=40, n_query=11):
    rng = np.random.default_rng(seed)
    x = np.column_stack([
        rng.standard_normal(n + n_query),                 # continuous: not a key
        rng.integers(0, 6, n + n_query).astype(float),    # 6 levels: a key
        rng.integers(0, 2, n + n_query).astype(float),    # binary: not a key
        rng.integers(0, 4, n + n_query).astype(float),    # 4 levels, NaN too: a key
    ])
    x[rng.random(n + n_query) < 0.2, 3] = np.nan
    x[n, 1] = 17.0  # a query level the support lacks
    return x[:n], x[n:]


@pytest.mark.parametrize("n_classes", [None, 2, 3, 5])
def test_the_columns_are_the_definition(n_classes):
    support_x, x_query = _keyed_table()
    rng = np.random.default_rng(1)
    y = rng.standard_normal(len(support_x)) if n_classes is None else (
        rng.integers(0, n_classes, len(support_x)))
    before = support_x.copy(), x_query.copy(), y.copy()
    got_s, got_q = te.append(support_x, y, x_query, n_classes)
    want_s, want_q = _expected(support_x, y, x_query, n_classes)
    width = 1 if n_classes in (None, 2) else n_classes
    assert got_s.shape == (len(support_x), 4 + 2 * width)
    np.testing.assert_allclose(got_s, want_s, rtol=1e-12, atol=0)
    np.testing.assert_allclose(got_q, want_q, rtol=1e-12, atol=0)
    # the unseen query level reads the support mean
    mean = (y.mean() if n_classes is None else
            (y == 1).mean() if n_classes == 2 else (y == 0).mean())
    assert got_q[0, 4] == pytest.approx(mean, rel=1e-12)
    for a, b in zip((support_x, x_query, y), before):  # inputs never written to
        np.testing.assert_array_equal(a, b)


def test_key_columns_rule():
    n = 20
    x = np.column_stack([
        np.arange(n) % 3,              # 3 levels: key
        np.arange(n) % 10,             # 10 = n / 2 levels: key
        np.arange(n) % 11,             # 11 > n / 2: not a key
        np.arange(n) % 2,              # 2 levels: not a key
        (np.arange(n) % 3) + 0.5,      # not whole numbers: not a key
        np.where(np.arange(n) < 15, np.arange(n) % 4, np.nan),  # NaN ignored: key
    ]).astype(np.float32)
    assert te.key_columns(x).tolist() == [0, 1, 5]
    assert te.key_columns(np.full((6, 2), np.nan)).tolist() == []


def test_rows_stay_within_the_width():
    """Key columns are taken in column order while the rows stay within MAX_WIDTH features."""
    rng = np.random.default_rng(7)
    n = 40
    for width, n_classes, taken in ((60, 3, 1), (62, None, 2), (64, 2, 0), (70, None, 0)):
        x = rng.integers(0, 4, (n, width)).astype(np.float64)
        y = rng.integers(0, n_classes, n) if n_classes else rng.standard_normal(n)
        per = 1 if n_classes in (None, 2) else n_classes
        s, q = te.append(x, y, x[:3], n_classes)
        assert s.shape[1] == q.shape[1] == width + taken * per <= max(width, te.MAX_WIDTH)
        want_s, _ = _expected(x, y, x[:3], n_classes)
        np.testing.assert_allclose(s, want_s, rtol=1e-12, atol=0)


def test_without_a_key_column_nothing_is_appended():
    x = np.random.default_rng(0).standard_normal((30, 3))
    s, q = te.append(x, np.arange(30) % 2, x[:5], 2)
    assert s is x and q.shape == (5, 3)


def _shipped_models():
    return [("classification", TINY["classification"]), ("regression", TINY["regression"]),
            ("classification", None), ("regression", None)]


@pytest.mark.parametrize("task,onnx", _shipped_models(),
                         ids=["tiny-classifier", "tiny-regressor", "builtin-classifier",
                              "builtin-regressor"])
def test_estimators_feed_the_engine_the_appended_columns(task, onnx):
    """On every model the package ships: with target_encoding=True the estimator's answer is
    the engine's on the appended columns, bit for bit; False, on the columns as they are."""
    rng = np.random.default_rng(3)
    support_x, x_query = _keyed_table(seed=2, n=60, n_query=9)
    if task == "classification":
        y = rng.integers(0, 3, len(support_x))
    else:
        y = support_x[:, 1] * 2.0 + rng.standard_normal(len(support_x))
    on = CLASSES[task](onnx=onnx, target_encoding=True).fit(support_x, y)
    off = CLASSES[task](onnx=onnx, target_encoding=False).fit(support_x, y)
    assert on.target_encoding_ is True and off.target_encoding_ is False
    engine = on._open().engine
    xs = on.support_x_
    if task == "classification":
        index = on._support_index
        s, q = te.append(xs, index, x_query, 3)
        want = engine.predict(s, index, q, n_classes=3, seed=42)
        plain = engine.predict(xs, index, x_query, n_classes=3, seed=42)
        got, got_off = on.predict_proba(x_query), off.predict_proba(x_query)
    else:
        ys = on.support_y_
        scaled = (ys - ys.min()) / (ys.max() - ys.min())
        s, q = te.append(xs, scaled, x_query, None)
        if engine.n_bins:
            got = on.predict_distribution(x_query).probabilities
            got_off = off.predict_distribution(x_query).probabilities
        else:
            got, got_off = on.predict(x_query), off.predict(x_query)
            got, got_off = ((a - ys.min()) / (ys.max() - ys.min()) for a in (got, got_off))
        want = engine.predict(s, scaled, q, seed=42)
        plain = engine.predict(xs, scaled, x_query, seed=42)
    assert s.shape[1] == xs.shape[1] + 2 * (3 if task == "classification" else 1)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got_off, plain, rtol=0, atol=1e-12)
    assert not np.allclose(got, got_off)


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_bundles_and_pickles_keep_it(task):
    support_x, x_query = _keyed_table(seed=4)
    y = np.arange(len(support_x)) % 3 if task == "classification" else support_x[:, 1] + 0.5
    for value in (True, False):
        model = CLASSES[task](onnx=TINY[task], target_encoding=value).fit(support_x, y)
        want = model.predict(x_query)
        bundle = model.save()
        manifest, _, blobs = wlrn.decode_bundle(bundle)
        assert ("targetEncoding" in manifest["params"]) is value  # default bundles: JS's
        assert ("support_y" in blobs) is not value  # nothing JS would feed
        for back in (CLASSES[task].load(bundle, onnx=TINY[task]),
                     pickle.loads(pickle.dumps(model))):
            assert back.target_encoding_ is value
            np.testing.assert_array_equal(back.predict(x_query), want)


def test_a_bundle_claiming_it_in_a_js_layout_or_malformed_is_refused():
    support_x, _ = _keyed_table()
    y = np.arange(len(support_x)) % 2
    plain = MitraClassifier(onnx=TINY["classification"]).fit(support_x, y).save()
    manifest, toc, blobs = wlrn.decode_bundle(plain)
    for value, match in ((True, "meta.labels and support_y_index"), ("yes", "targetEncoding")):
        manifest["params"]["targetEncoding"] = value
        forged = wlrn.encode_bundle(manifest, [{"id": k, "data": v} for k, v in blobs.items()])
        with pytest.raises(BundleError, match=match):
            MitraClassifier.load(forged, onnx=TINY["classification"])


def test_target_scaling_js_refuses_it():
    support_x, x_query = _keyed_table()
    model = MitraRegressor(onnx=TINY["regression"], target_encoding=True,
                           target_scaling="js").fit(support_x, support_x[:, 1])
    with pytest.raises(ValidationError, match="target_scaling='js'"):
        model.predict(x_query)


@pytest.mark.parametrize("value", [1, "true", 0.0])
def test_the_parameter_is_checked(value):
    support_x, _ = _keyed_table()
    with pytest.raises(ValidationError, match="target_encoding must be None, True or False"):
        MitraClassifier(onnx=TINY["classification"], target_encoding=value).fit(
            support_x, np.arange(len(support_x)) % 2)


onnx = pytest.importorskip("onnx")


def _declaring(tmp_path, source, value):
    proto = onnx.load(str(source))
    entry = proto.metadata_props.add()
    entry.key, entry.value = "wlearn.target_encoding", value
    path = tmp_path / f"declares-{len(list(tmp_path.iterdir()))}.onnx"
    onnx.save(proto, str(path))
    return path


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_the_declared_value_is_the_default_and_a_given_value_wins(tmp_path, task):
    support_x, x_query = _keyed_table(seed=5)
    y = np.arange(len(support_x)) % 3 if task == "classification" else support_x[:, 1]
    declaring = _declaring(tmp_path, TINY[task], "true")
    assert MitraEngine(declaring, task=task).declared_target_encoding is True
    assert MitraEngine(TINY[task], task=task).declared_target_encoding is None
    by_default = CLASSES[task](onnx=declaring).fit(support_x, y)
    assert by_default.target_encoding_ is True and by_default.target_encoding is None
    given = CLASSES[task](onnx=TINY[task], target_encoding=True).fit(support_x, y)
    np.testing.assert_array_equal(by_default.predict(x_query), given.predict(x_query))
    assert CLASSES[task](onnx=declaring, target_encoding=False).fit(
        support_x, y).target_encoding_ is False
    assert CLASSES[task](onnx=TINY[task]).fit(support_x, y).target_encoding_ is False
    model = MitraModel(task=task, **{f"{'classifier' if task == 'classification' else 'regressor'}"
                                     "_onnx": declaring}).fit(support_x, y)
    np.testing.assert_array_equal(model.predict(x_query), given.predict(x_query))


@pytest.mark.parametrize("value", ["True", "1", "", "true "])
def test_a_malformed_declaration_is_refused_naming_it(tmp_path, value):
    with pytest.raises(ValidationError, match="wlearn.target_encoding"):
        MitraEngine(_declaring(tmp_path, TINY["classification"], value), task="classification")


def test_convert_writes_and_keeps_the_declaration(tmp_path):
    pytest.importorskip("torch")
    from wlearn_mitra.convert import convert
    from wlearn_mitra.graphs._layout import split_paths

    key = "wlearn.target_encoding"

    def props(path):
        return {p.key: p.value for p in onnx.load(str(path)).metadata_props}

    out = convert(ONNX_FIXTURES / "tiny-mitra-regressor", tmp_path / "r.onnx", split=True,
                  target_encoding=True)
    for path in (out, *split_paths(out)):
        assert props(path)[key] == "true"
    support_x, _ = _keyed_table()
    assert MitraRegressor(onnx=out).fit(support_x, support_x[:, 1]).target_encoding_ is True
    assert key not in props(convert(ONNX_FIXTURES / "tiny-mitra-regressor", tmp_path / "u.onnx"))
    # a declaring graph converted again keeps it unless another is given
    assert props(convert(out, tmp_path / "again.onnx"))[key] == "true"
    assert props(convert(out, tmp_path / "off.onnx", target_encoding=False))[key] == "false"
    both = convert(ONNX_FIXTURES / "tiny-mitra-classifier", tmp_path / "c.onnx",
                   max_node_classes=4, target_encoding=True)
    assert props(both)[key] == "true" and props(both)["wlearn.max_node_classes"] == "4"
    kept = props(convert(both, tmp_path / "c2.onnx"))
    assert kept[key] == "true" and kept["wlearn.max_node_classes"] == "4"


def test_a_pickle_with_a_malformed_target_encoding_is_refused():
    support_x, _ = _keyed_table()
    model = MitraClassifier(onnx=TINY["classification"], target_encoding=True).fit(
        support_x, np.arange(len(support_x)) % 2)
    state = model.__getstate__()
    learned = state.get("learned", state)
    learned["target_encoding_"] = "yes"
    with pytest.raises(ValidationError, match="target_encoding_ must be a bool"):
        MitraClassifier.__new__(MitraClassifier).__setstate__(state)
