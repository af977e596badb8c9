"""The tables people pass, beyond numpy and pandas' defaults: polars and pyarrow frames keep
their column names, pyarrow-backed and nullable string columns, category precision, inputs
never written to, and the task of ``y`` decided from its values. Every estimator, on the tiny
fixture models and the built-in ones."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest

import wlearn_mitra
from wlearn.errors import ValidationError
from wlearn_mitra import MitraClassifier, MitraModel, MitraRegressor, detect_task

from _paths import fixtures_dir

pd = pytest.importorskip("pandas")

FIXTURES = fixtures_dir()
TINY = {"classification": FIXTURES / "onnx" / "tiny-mitra-classifier.onnx",
        "regression": FIXTURES / "onnx" / "tiny-mitra-regressor.onnx"}
MODELS = ["tiny", "builtin"]
KINDS = ["classifier", "regressor", "model-clf", "model-reg"]


def make(kind: str, model: str = "tiny", **params):
    """A fresh estimator of ``kind`` on the tiny fixture model or the built-in one."""
    task = "classification" if kind in ("classifier", "model-clf") else "regression"
    onnx = TINY[task] if model == "tiny" else None
    if kind == "classifier":
        est = MitraClassifier(onnx=onnx, **params)
    elif kind == "regressor":
        est = MitraRegressor(onnx=onnx, **params)
    else:
        est = MitraModel(task=task, classifier_onnx=onnx if task == "classification" else None,
                         regressor_onnx=onnx if task == "regression" else None, **params)
    return est, task


@pytest.fixture(autouse=True)
def _quiet_builtin():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", wlearn_mitra.BuiltinModelWarning)
        yield


def table(task: str, n: int = 60, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    X[:, 1] *= 5
    y = (X[:, 0] + X[:, 2] > 0).astype(int) if task == "classification" else X @ [1.0, 0.3, 2.0]
    return X, y


def output(model, X):
    return model.predict_proba(X) if hasattr(model, "classes_") else model.predict(X)


# -- polars and pyarrow keep their column names ------------------------------------------------

def _frames(X):
    pl = pytest.importorskip("polars")
    pa = pytest.importorskip("pyarrow")
    cols = {"a": X[:, 0], "b": X[:, 1], "c": X[:, 2]}
    return {"polars": pl.DataFrame(cols), "pyarrow": pa.table(cols)}


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("lib", ["polars", "pyarrow"])
def test_polars_and_pyarrow_frames_follow_the_column_name_rules(kind, model, lib):
    X, y = table("classification" if "clf" in kind or kind == "classifier" else "regression")
    frame = _frames(X)[lib]
    est = make(kind, model)[0].fit(frame, y)
    assert list(est.feature_names_in_) == ["a", "b", "c"]
    # The same answer as the array, by name.
    ref = make(kind, model)[0].fit(X, y)
    np.testing.assert_allclose(output(est, frame), output(ref, X), rtol=1e-6, atol=1e-7)
    with pytest.raises(ValidationError, match="same order as they were in fit"):
        output(est, frame.select(["c", "a", "b"]))
    renamed = (frame.rename({"a": "z"}) if lib == "polars"
               else frame.rename_columns(["z", "b", "c"]))
    with pytest.raises(ValidationError, match="unseen at fit time"):
        output(est, renamed)
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        output(est, X)
    # The names travel with the model.
    again = pickle.loads(pickle.dumps(est))
    assert list(again.feature_names_in_) == ["a", "b", "c"]


def test_polars_and_pyarrow_text_categorical_and_null_columns():
    pl = pytest.importorskip("polars")
    pa = pytest.importorskip("pyarrow")
    rng = np.random.default_rng(3)
    n = 50
    x = rng.normal(size=n)
    colour = rng.choice(["red", "green", "blue"], size=n).tolist()
    colour[3] = None
    size = rng.choice(["S", "M", "L"], size=n).tolist()
    y = (x > 0).astype(int)
    df = pd.DataFrame({"x": x, "colour": pd.Series(colour, dtype=object),
                       "size": pd.Categorical(size, categories=["S", "M", "L"], ordered=True)})
    ref = MitraClassifier(onnx=TINY["classification"]).fit(df, y)
    frames = [
        pl.DataFrame({"x": x, "colour": colour,
                      "size": pl.Series(size, dtype=pl.Enum(["S", "M", "L"]))}),
        pa.table({"x": x, "colour": pa.array(colour),
                  "size": pa.DictionaryArray.from_arrays(
                      pa.array([["S", "M", "L"].index(s) for s in size], pa.int8()),
                      pa.array(["S", "M", "L"]), ordered=True)}),
    ]
    for frame in frames:
        est = MitraClassifier(onnx=TINY["classification"]).fit(frame, y)
        assert list(est.feature_names_in_) == ["x", "colour", "size"]
        assert list(est.categories_[1]) == [None, "blue", "green", "red"]  # row 3: missing
        assert list(est.categories_[2]) == ["S", "M", "L"]  # declared (ordered) order kept
        np.testing.assert_array_equal(est.support_x_, ref.support_x_)
        np.testing.assert_allclose(est.predict_proba(frame), ref.predict_proba(df), atol=1e-6)


def test_polars_dates_are_refused_with_a_type_error():
    pl = pytest.importorskip("polars")
    import datetime

    frame = pl.DataFrame({"when": [datetime.date(2020, 1, d) for d in range(1, 11)]})
    with pytest.raises(TypeError, match="'when' has dtype Date"):
        MitraClassifier(onnx=TINY["classification"]).fit(frame, np.arange(10) % 2)


# -- string[pyarrow], large_string[pyarrow], StringDtype, pyarrow dictionaries -------------------

@pytest.mark.parametrize("dtype", ["string[pyarrow]", "large_string[pyarrow]", "arrow-string",
                                   "string",
                                   "str", "dict[pyarrow]", "pyarrow-backend"])
def test_pyarrow_backed_string_columns_are_category_columns(dtype):
    pa = pytest.importorskip("pyarrow")
    rng = np.random.default_rng(5)
    words = rng.choice(["lo", "mid", "hi"], size=40).astype(object)
    words[2] = None
    x = rng.normal(size=40)
    y = (x > 0).astype(int)
    plain = pd.DataFrame({"x": x, "w": pd.Series(words, dtype=object)})
    if dtype == "arrow-string":  # what dtype_backend="pyarrow" gives
        frame = pd.DataFrame({"x": x, "w": pd.Series(words, dtype=object).astype(
            pd.ArrowDtype(pa.string()))})
    elif dtype == "dict[pyarrow]":
        col = pd.Series(words, dtype=object).astype(
            pd.ArrowDtype(pa.dictionary(pa.int8(), pa.string())))
        frame = pd.DataFrame({"x": x, "w": col})
    elif dtype == "pyarrow-backend":
        frame = plain.convert_dtypes(dtype_backend="pyarrow")
    else:
        if dtype == "str" and pd.__version__ < "3":
            dtype = "string"
        frame = pd.DataFrame({"x": x, "w": pd.Series(words, dtype=object).astype(dtype)})
    ref = MitraClassifier(onnx=TINY["classification"]).fit(plain, y)
    est = MitraClassifier(onnx=TINY["classification"]).fit(frame, y)
    assert list(est.categories_[1]) == [None, "hi", "lo", "mid"]  # row 2: missing
    np.testing.assert_array_equal(est.support_x_, ref.support_x_)
    np.testing.assert_allclose(est.predict_proba(frame), ref.predict_proba(plain), atol=1e-6)


# -- inputs are never written to -----------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_predict_never_writes_into_the_callers_frame(kind):
    """Fitted with an integer category column, predicting on plain floats in that column (which
    spec/mitra.md allows): the frame is left as it was, and a second predict agrees."""
    task = "classification" if kind in ("classifier", "model-clf") else "regression"
    rng = np.random.default_rng(2)
    n = 40
    code = rng.integers(0, 4, size=n) * 10 + 5  # categories 5, 15, 25, 35: codes 0..3 differ
    x = rng.normal(size=n)
    y = (x + code / 10 > 2).astype(int) if task == "classification" else x + code / 10
    fit_frame = pd.DataFrame({"x": x, "k": pd.Series(code, dtype=object).astype("category")})
    est, _ = make(kind)
    est.fit(fit_frame, y)
    query = pd.DataFrame({"x": x, "k": code.astype(np.float64) * 1.0})
    before = query.copy()
    first = output(est, query)
    pd.testing.assert_frame_equal(query, before)
    np.testing.assert_array_equal(output(est, query), first)
    arr = query.to_numpy()
    arr_before = arr.copy()
    output(est, arr)
    np.testing.assert_array_equal(arr, arr_before)
    ro = arr.copy()
    ro.setflags(write=False)  # a read-only array (pandas 3's views are) is read, not written
    np.testing.assert_array_equal(output(est, ro), first)


# -- float categories match at the precision given -----------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_float_categories_match_float32_values(kind):
    task = "classification" if kind in ("classifier", "model-clf") else "regression"
    rng = np.random.default_rng(4)
    n = 60
    cats = np.array([0.1, 2.7, 3.3])
    values = cats[rng.integers(0, 3, size=n)]
    x = rng.normal(size=n)
    y = (x + values > 1.5).astype(int) if task == "classification" else x + values
    frame = pd.DataFrame({"x": x, "k": pd.Series(values).astype("category")})
    est, _ = make(kind)
    est.fit(frame, y)
    ref = output(est, frame)
    as32 = pd.DataFrame({"x": x, "k": values.astype(np.float32)})
    np.testing.assert_allclose(output(est, as32), ref, atol=1e-6)
    cat32 = pd.DataFrame({"x": x, "k": pd.Series(values.astype(np.float32)).astype("category")})
    np.testing.assert_allclose(output(est, cat32), ref, atol=1e-6)
    obj32 = np.empty((n, 2), dtype=object)
    obj32[:, 0] = x
    obj32[:, 1] = list(values.astype(np.float32))
    np.testing.assert_allclose(output(est, obj32), ref, atol=1e-6)
    # float64 values stay exact: 0.1 + 1e-9 is not 0.1.
    near = pd.DataFrame({"x": x, "k": values + 1e-9})
    assert not np.allclose(output(est, near), ref, atol=1e-6)


# -- the task of y from its values ---------------------------------------------------------------

@pytest.mark.parametrize("container", ["object array", "object Series", "float64", "list"])
def test_model_task_comes_from_the_values_not_the_container(container):
    rng = np.random.default_rng(8)
    X = rng.normal(size=(40, 3))
    values = X[:, 0] * 1.7 + 0.25  # non-integral floats
    y = {"object array": values.astype(object),
         "object Series": pd.Series(values, dtype=object),
         "float64": values, "list": values.tolist()}[container]
    assert detect_task(y) == "regression"
    model = MitraModel(classifier_onnx=TINY["classification"],
                       regressor_onnx=TINY["regression"]).fit(X, y)
    assert model.task_ == "regression"
    assert model.predict(X).dtype == np.float64


def test_integral_values_in_an_object_array_are_classes():
    assert detect_task(np.array([1, 2, 1, 2], dtype=object)) == "classification"
    assert detect_task(pd.Series([1.0, 2.0, 1.0], dtype=object)) == "classification"
    assert detect_task(np.array(["a", "b"], dtype=object)) == "classification"


# -- "missing" is a category of its own; declared orders are kept -------------------------------

def test_a_missing_category_carries_its_meaning():
    """Where a missing answer predicts the outcome, the model sees "missing" as a category of
    its own (code 0), not as the column's mean code (which equals the middle category)."""
    rng = np.random.default_rng(9)
    n = 300
    answer = rng.choice(["a", "b", "c", None], size=n, p=[0.25, 0.25, 0.25, 0.25])
    noise = rng.normal(size=n)
    y = np.array([v is None for v in answer]).astype(int)
    frame = pd.DataFrame({"noise": noise, "answer": pd.Series(answer, dtype=object)})
    train, test = slice(0, 200), slice(200, None)
    model = MitraClassifier().fit(frame.iloc[train], y[train])  # the built-in model
    assert list(model.categories_[1]) == [None, "a", "b", "c"]
    assert (model.predict(frame.iloc[test]) == y[test]).mean() >= 0.95


def test_ordered_categories_keep_their_declared_order():
    levels = ["never", "sometimes", "often", "always"]  # not sorted
    rng = np.random.default_rng(10)
    values = rng.choice(levels, size=40)
    y = (np.array([levels.index(v) for v in values]) >= 2).astype(int)
    frame = pd.DataFrame({"how": pd.Categorical(values, categories=levels, ordered=True)})
    model = MitraClassifier(onnx=TINY["classification"]).fit(frame, y)
    assert list(model.categories_[0]) == levels
    np.testing.assert_array_equal(model.support_x_[:, 0],
                                  [levels.index(v) for v in values])


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_y_as_a_polars_or_pyarrow_column(kind):
    pl = pytest.importorskip("polars")
    pa = pytest.importorskip("pyarrow")
    task = "classification" if kind == "classifier" else "regression"
    X, y = table(task)
    ref = output(make(kind)[0].fit(X, y), X)
    for given in (pl.Series(y), pa.chunked_array([y]), pa.array(y)):
        np.testing.assert_array_equal(output(make(kind)[0].fit(X, given), X), ref)
    with pytest.warns(Warning, match="column-vector y"):
        est = make(kind)[0].fit(X, pl.DataFrame({"y": y}))
    np.testing.assert_array_equal(output(est, X), ref)


def test_unreadable_frames_get_a_wlearn_error():
    pa = pytest.importorskip("pyarrow")
    pl = pytest.importorskip("polars")
    dup = pa.Table.from_arrays([pa.array(np.arange(10.0))] * 2, names=["a", "a"])
    with pytest.raises(ValidationError, match="cannot be read: Expected unique column names"):
        MitraClassifier(onnx=TINY["classification"]).fit(dup, np.arange(10) % 2)
    with pytest.raises(TypeError, match="polars LazyFrame; pass X.collect"):
        MitraClassifier(onnx=TINY["classification"]).fit(
            pl.DataFrame({"a": np.arange(10.0)}).lazy(), np.arange(10) % 2)


@pytest.mark.parametrize("column, kind", [
    (lambda n: pd.period_range("2020-01", periods=n, freq="M"), "Period"),
    (lambda n: pd.cut(np.arange(float(n)), 3), "Interval"),
    (lambda n: pd.Series([{"a": 1}] * n, dtype=object), "dict"),
])
def test_a_column_of_unsupported_objects_is_named(column, kind):
    from wlearn_mitra.exceptions import InputTypeError

    X = pd.DataFrame({"a": np.arange(10.0), "when": column(10)})
    with pytest.raises(InputTypeError, match=f"X column 'when' holds .*not '{kind}'"):
        MitraClassifier(onnx=TINY["classification"]).fit(X, [0, 1] * 5)


@pytest.mark.filterwarnings("ignore::wlearn_mitra.BuiltinModelWarning")
@pytest.mark.parametrize("model", MODELS)
def test_pyarrow_and_polars_edge_columns_read_as_pandas_reads_them(model):
    """A pyarrow Array as y (strings, bools, nulls), integers past 2**53 in a pyarrow table
    and all-null polars / pyarrow columns: read as the same data from pandas is, never
    pyarrow's own error."""
    pa = pytest.importorskip("pyarrow")
    pl = pytest.importorskip("polars")
    from wlearn.errors import ValidationError

    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 2))
    labels = np.where(X[:, 0] > 0, "a", "b")
    onnx = None if model == "builtin" else TINY["classification"]
    clf = MitraClassifier(onnx=onnx).fit(X, pa.array(labels))
    np.testing.assert_array_equal(
        clf.predict_proba(X), MitraClassifier(onnx=onnx).fit(X, labels).predict_proba(X))
    assert clf.score(X, pa.array(labels)) == clf.score(X, labels)
    assert MitraModel(classifier_onnx=onnx).fit(X, pa.array(X[:, 0] > 0)).classes_.tolist() == [
        False, True]
    with pytest.raises(ValidationError, match="missing labels"):
        MitraClassifier(onnx=onnx).fit(X, pa.array([None] + list(labels[1:])))
    big = np.arange(20, dtype=np.uint64) + np.uint64(2**63)
    reg_onnx = None if model == "builtin" else TINY["regression"]
    from_arrow = MitraRegressor(onnx=reg_onnx).fit(pa.table({"u": pa.array(big)}), X[:, 0])
    from_pandas = MitraRegressor(onnx=reg_onnx).fit(pd.DataFrame({"u": big}), X[:, 0])
    np.testing.assert_array_equal(from_arrow.support_x_, from_pandas.support_x_)
    nulls = {"polars": pl.DataFrame({"x": X[:, 0], "z": [None] * 20}),
             "pyarrow": pa.table({"x": X[:, 0], "z": pa.nulls(20)}),
             "pandas": pd.DataFrame({"x": X[:, 0], "z": pd.Series([None] * 20, dtype=object)})}
    answers = {k: MitraClassifier(onnx=onnx).fit(v, labels).predict_proba(v) for k, v in
               nulls.items()}
    np.testing.assert_array_equal(answers["polars"], answers["pandas"])
    np.testing.assert_array_equal(answers["pyarrow"], answers["pandas"])


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_score_refuses_sample_weights_that_do_not_fit(kind):
    from wlearn.errors import ValidationError

    X = np.random.default_rng(0).normal(size=(20, 2))
    y = (X[:, 0] > 0).astype(int) if kind == "classifier" else X[:, 0]
    model = make(kind)[0].fit(X, y)
    for bad, message in ((np.ones(3), r"shape \(20,\)"), (np.full(20, np.nan), "finite"),
                         (-np.ones(20), "not negative"), (np.zeros(20), "not all 0"),
                         (["a"] * 20, "numbers")):
        with pytest.raises(ValidationError, match=message):
            model.score(X, y, sample_weight=bad)
    weights = np.arange(1.0, 21.0)
    assert model.score(X, y, sample_weight=weights) != model.score(X, y) or kind == "classifier"
