"""Category and text columns: coded from the support set, the same answers as the codes given
by hand, kept in bundles (``meta.categories``, ``support_x_encoded``) that round-trip byte for
byte. That the real @wlearn/mitra refuses these bundles is in ``tests/js/test_mitra.py``."""

from __future__ import annotations

import json
import pickle
import warnings

import numpy as np
import pytest

import wlearn
from wlearn.errors import BundleError, ValidationError
from wlearn_mitra import MitraClassifier, MitraModel, MitraRegressor

from _paths import fixtures_dir

pd = pytest.importorskip("pandas")

FIXTURES = fixtures_dir()
CLF_ONNX = FIXTURES / "onnx" / "tiny-mitra-classifier.onnx"
REG_ONNX = FIXTURES / "onnx" / "tiny-mitra-regressor.onnx"

COLORS = ["red", "green", "blue", "teal"]
SIZES = ["S", "M", "L"]


def table(n: int = 60, seed: int = 0):
    """Two numeric columns, a category column (declared order L < M < S... as given), an
    object column of strings with a missing value, and a pandas string column."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "x": rng.normal(size=n),
        "size": pd.Categorical(rng.choice(SIZES, n), categories=["L", "M", "S", "XL"]),
        "color": pd.Series(rng.choice(COLORS[:3], n), dtype=object),
        "z": rng.normal(size=n),
        "city": pd.Series(rng.choice(["Oslo", "Lima", "Kyiv"], n), dtype="string"),
    })
    frame.loc[4, "color"] = None
    frame.loc[7, "city"] = pd.NA
    y_clf = (frame["x"] > 0).astype(int) + (frame["color"] == "red")
    y_reg = frame["x"] * 2 + (frame["size"] == "L") - frame["z"]
    return frame, y_clf.to_numpy(), y_reg.to_numpy()


def by_hand(frame, support_rows, declared: dict | None = None):
    """The coding the spec describes, computed independently: each text column's categories
    are the distinct values of the support rows (a category dtype's declared order, else
    sorted), preceded by "missing" (None) when a support row misses the value; a value's code
    is its position; unseen values, and missing ones where no support row missed, are NaN."""
    declared = declared or {}
    out = np.empty(frame.shape)
    cats = {}
    for j, name in enumerate(frame.columns):
        col = frame[name]
        if col.dtype.kind == "f":
            out[:, j] = col.to_numpy()
            continue
        seen = {v for v in col.iloc[support_rows] if isinstance(v, str)}
        order = [c for c in declared[name] if c in seen] if name in declared else sorted(seen)
        if col.iloc[support_rows].isna().any():
            order = [None] + order
        cats[j] = order
        out[:, j] = [order.index(v) if isinstance(v, str) and v in order
                     else (order.index(None) if pd.isna(v) and None in order else np.nan)
                     for v in col]
    return out, cats


MODELS = [
    ("classifier", lambda **k: MitraClassifier(onnx=CLF_ONNX, **k), 1),
    ("regressor", lambda **k: MitraRegressor(onnx=REG_ONNX, **k), 2),
    ("model", lambda **k: MitraModel(classifier_onnx=CLF_ONNX, regressor_onnx=REG_ONNX, **k), 1),
]


@pytest.mark.parametrize("name, new, target", MODELS)
def test_categories_are_coded_from_the_support_set(name, new, target):
    frame, *ys = table()
    y = ys[target - 1]
    model = new(max_support=30).fit(frame, y)
    rows = model.support_indices_
    coded, cats = by_hand(frame, rows, {"size": ["L", "M", "S", "XL"]})
    assert {j: list(v) for j, v in model.categories_.items()} == cats
    assert cats[1] == ["L", "M", "S"]  # declared order, XL (absent) left out
    np.testing.assert_array_equal(model.support_x_, coded[rows].astype(np.float32))
    # Same answers as the codes given by hand to a numeric model.
    numeric = new(max_support=30).fit(coded, y)
    np.testing.assert_array_equal(numeric.support_indices_, rows)
    out = model.predict_proba if hasattr(model, "classes_") else model.predict
    ref = numeric.predict_proba if hasattr(model, "classes_") else numeric.predict
    np.testing.assert_array_equal(out(frame), ref(coded))


def test_missing_is_a_category_and_unseen_categories_are_missing_values():
    """A support row missing a category value makes "missing" a category of its own (code 0);
    categories the support set lacked, and missing values in a column no support row missed,
    are fed as NaN (imputed)."""
    frame, y, _ = table()
    model = MitraClassifier(onnx=CLF_ONNX).fit(frame, y)
    assert list(model.categories_[2]) == [None, "blue", "green", "red"]  # row 4 misses it
    assert list(model.categories_[1]) == ["L", "M", "S"]  # no support row misses the size
    query = frame.iloc[:3].copy()
    query["color"] = pd.Series(["purple", None, "red"], dtype=object, index=query.index)
    query["size"] = pd.Categorical(["XL", "L", None], categories=["L", "M", "S", "XL"])
    expected = query.copy()
    expected["color"] = pd.Series(["mauve", None, "red"], dtype=object, index=query.index)
    expected["size"] = pd.Categorical([None, "L", None], categories=["L", "M", "S", "XL"])
    np.testing.assert_array_equal(model.predict_proba(query), model.predict_proba(expected))
    fed = model._query(query)  # the rows as the engine receives them
    assert np.isnan(fed[[0, 2], 1]).all() and fed[1, 1] == 0  # XL unseen, None; L first
    assert np.isnan(fed[0, 2]) and fed[1, 2] == 0 and fed[2, 2] == 3  # purple unseen; missing
    # An object array of the same values is read the same way (names aside).
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        by_array = model.predict_proba(query.to_numpy(dtype=object))
    np.testing.assert_array_equal(by_array, model.predict_proba(query))


def test_text_columns_given_otherwise_than_at_fit_are_refused():
    frame, y, _ = table()
    model = MitraClassifier(onnx=CLF_ONNX).fit(frame, y)
    wrong = frame.assign(color=np.arange(len(frame), dtype=float))
    with pytest.raises(ValidationError, match="X column 'color' holds 0.0 .*were string values"):
        model.predict(wrong)
    numeric = MitraClassifier(onnx=CLF_ONNX).fit(frame[["x", "z"]], y)
    with pytest.raises(ValidationError, match="X column 'x' holds text, but it held numbers"):
        numeric.predict(frame[["x", "z"]].assign(x="a"))
    with pytest.raises(ValidationError, match="mixes integer and string values"):
        MitraClassifier(onnx=CLF_ONNX).fit(frame.assign(color=[1, "a"] * 30), y)
    with pytest.raises(TypeError, match="must be a string or a real number.*not 'dict'"):
        MitraClassifier(onnx=CLF_ONNX).fit(frame.assign(color=[{"a": 1}] * 60), y)
    with pytest.raises(TypeError, match="dtype datetime64"):
        MitraClassifier(onnx=CLF_ONNX).fit(
            frame.assign(when=pd.Timestamp("2020-01-01")), y)


def test_numeric_categories_and_numbers_as_strings():
    frame, y, _ = table()
    ints = frame.assign(size=pd.Categorical(frame["size"].map({"S": 30, "M": 20, "L": 10})))
    model = MitraClassifier(onnx=CLF_ONNX).fit(ints, y)
    assert list(model.categories_[1]) == [10, 20, 30]
    # Numbers are looked up by value when the categories are numbers.
    plain = ints.assign(size=ints["size"].astype(float))
    np.testing.assert_array_equal(model.predict_proba(plain), model.predict_proba(ints))
    # Object columns holding only numbers are numbers, as scikit-learn converts them.
    as_objects = frame[["x", "z"]].astype(object)
    numeric = MitraClassifier(onnx=CLF_ONNX).fit(as_objects, y)
    assert numeric.categories_ == {}
    np.testing.assert_array_equal(numeric.support_x_, frame[["x", "z"]].to_numpy(np.float32))


# -- bundles ------------------------------------------------------------------------------------

def parts(bundle: bytes) -> tuple[dict, dict]:
    manifest, toc, blobs = wlearn.decode_bundle(bundle)
    return manifest, {e["id"]: bytes(blobs[e["id"]]) for e in toc}


@pytest.mark.parametrize("name, new, target", MODELS)
def test_the_bundle_stores_exactly_the_categories_and_round_trips(name, new, target):
    frame, *ys = table()
    model = new(max_support=30).fit(frame, ys[target - 1])
    bundle = model.save()
    _, arts = parts(bundle)
    assert "support_x" not in arts
    np.testing.assert_array_equal(
        np.frombuffer(arts["support_x_encoded"], "<f4").reshape(model.support_x_.shape),
        model.support_x_,
    )
    meta = json.loads(arts["meta"])
    # Version 2 exactly when "missing" is a category (rows 4 and 7 miss color and city).
    missing = any(None in list(v) for v in model.categories_.values())
    assert missing == bool({4, 7} & set(model.support_indices_.tolist()))
    assert meta["categories"] == {
        "version": 2 if missing else 1,
        "columns": [
            {"index": 1, "kind": "string", "values": list(model.categories_[1])},
            {"index": 2, "kind": "string", "values": list(model.categories_[2])},
            {"index": 4, "kind": "string", "values": list(model.categories_[4])},
        ],
    }
    assert meta["featureNames"] == ["x", "size", "color", "z", "city"]
    cls = type(model)
    onnx = CLF_ONNX if target == 1 else REG_ONNX
    loaded = cls.load(bundle, onnx)
    assert loaded.save() == bundle  # byte for byte
    unpickled = pickle.loads(pickle.dumps(model))
    for twin in (loaded, unpickled):
        np.testing.assert_array_equal(twin.predict(frame), model.predict(frame))
        assert {j: list(v) for j, v in twin.categories_.items()} == \
            {j: list(v) for j, v in model.categories_.items()}


def test_categories_of_every_kind_and_the_labels_extension_round_trip_byte_for_byte():
    frame, y, _ = table()
    frame = frame.assign(
        flag=pd.Categorical([True, False] * 30),
        big=pd.Categorical([2**60, -3] * 30),
        ratio=pd.Categorical([0.5, 1e-7] * 30),
    )
    labels = np.array(["no", "yes", "maybe"])[y]  # the labels extension as well
    model = MitraClassifier(onnx=CLF_ONNX).fit(frame, labels)
    bundle = model.save()
    meta = json.loads(parts(bundle)[1]["meta"])
    kinds = {c["index"]: (c["kind"], c["values"]) for c in meta["categories"]["columns"]}
    assert kinds[5] == ("boolean", [False, True])
    assert kinds[6] == ("integer", ["-3", str(2**60)])
    assert kinds[7] == ("float", [1e-7, 0.5])
    assert "labels" in meta and "support_y_index" in parts(bundle)[1]
    loaded = MitraClassifier.load(bundle, CLF_ONNX)
    assert loaded.save() == bundle
    assert loaded.categories_[6].tolist() == [-3, 2**60]
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))


def rebuild(bundle: bytes, meta: dict | None = None, **artifacts) -> bytes:
    manifest, arts = parts(bundle)
    if meta is not None:
        arts["meta"] = wlearn.encode_json(meta)
    arts.update(artifacts)
    manifest = {k: v for k, v in manifest.items() if k != "bundleVersion"}
    return wlearn.encode_bundle(
        manifest, [{"id": k, "data": v} for k, v in arts.items() if v is not None])


def test_malformed_category_extensions_are_refused():
    frame, y, _ = table()
    bundle = MitraClassifier(onnx=CLF_ONNX).fit(frame, y).save()
    _, arts = parts(bundle)
    meta = json.loads(arts["meta"])
    cats = meta["categories"]

    def refused(match, new_meta=None, **artifacts):
        with pytest.raises(BundleError, match=match):
            MitraClassifier.load(rebuild(bundle, new_meta, **artifacts), CLF_ONNX)

    refused("meta.categories has version 3; this wlearn-mitra reads version 1 or 2",
            {**meta, "categories": {**cats, "version": 3}})
    assert cats["version"] == 2  # color and city miss a value in the support rows
    column = cats["columns"][0]
    with_missing = cats["columns"][1]
    assert with_missing["values"][0] is None
    refused("do not all fit kind 'string'",  # "missing" (null) only first, in version 2
            {**meta, "categories": {**cats, "columns": [
                column, {**with_missing, "values": with_missing["values"][1:] + [None]},
                *cats["columns"][2:]]}})
    refused("do not all fit kind 'string'",
            {**meta, "categories": {**cats, "version": 1}})
    for bad, match in [
        ({**column, "index": 9}, "index must be a column number 0..4"),
        ({**column, "kind": "date"}, "kind must be one of"),
        ({**column, "values": ["a", "a"]}, "values must be distinct"),
        ({**column, "values": [1, 2]}, "do not all fit kind 'string'"),
        ({**column, "values": [str(i) for i in range(61)]}, "more than the 60"),
    ]:
        refused(match, {**meta, "categories": {**cats, "columns": [bad] + cats["columns"][1:]}})
    codes = np.frombuffer(arts["support_x_encoded"], "<f4").reshape(60, 5).copy()
    codes[0, 1] = 7  # column 1 has 3 categories
    refused("support_x_encoded column 1 holds codes other than 0..2",
            support_x_encoded=codes.tobytes())
    refused("has a 'support_x' artifact; with meta.categories it must have 'support_x_encoded'",
            support_x=arts["support_x_encoded"])
    no_categories = {k: v for k, v in meta.items() if k != "categories"}
    refused("a 'support_x_encoded' artifact; without meta.categories it must have 'support_x'",
            no_categories)


# -- coding each distinct value once (inputs/_categories) -------------------------------------

MIXED = [None, np.nan, "a", "b", "", 1, 2, True, False, np.True_, 1.0, 2.5, -0.0, 0.0,
         np.float32(0.1), 0.1, np.float16(2.5), np.int64(2), np.float32(1.0), pd.NA, pd.NaT]


def _objects(values):
    values = list(values)
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out


def _outcome(function, *args):
    try:
        return "ok", function(*args)
    except Exception as exc:  # noqa: BLE001 - the error itself is compared
        return "error", type(exc).__name__, str(exc)


def test_a_column_is_coded_as_its_rows_one_by_one():
    """Coding a whole column gives, bit for bit, what each row coded alone gives, and the same
    error for the same first bad row: values equal across types (1, 1.0, True, float32 1.0)
    and NaN, pandas NA and NaT are never taken for one another."""
    from wlearn_mitra.inputs import _categories

    rng = np.random.default_rng(0)
    numeric = _objects([0.0, 1.0, 2.5, 0.1, None])
    for _ in range(300):
        raw = _objects(MIXED[i] for i in rng.integers(0, len(MIXED), rng.integers(1, 15)))
        for categories in (_objects(["a", "b", None]), numeric, _objects([1, 2, 3])):
            for narrow in (False, True):
                whole = _outcome(_categories.encode, raw, categories, "column x", narrow)
                rows = [_outcome(_categories.encode, raw[i:i + 1], categories, "column x",
                                 narrow) for i in range(len(raw))]
                errors = [row for row in rows if row[0] == "error"]
                if errors:
                    assert whole == errors[0]
                else:
                    assert whole[0] == "ok"
                    assert np.array_equal(whole[1], np.concatenate([row[1] for row in rows]),
                                          equal_nan=True)


def test_learned_categories_report_the_first_bad_row():
    from wlearn.errors import ValidationError
    from wlearn_mitra.inputs import _categories

    with pytest.raises(ValidationError, match=r"holds the category inf"):
        _categories.learn(_objects(["x", 1.0, float("inf"), float("-inf")]), "column x")
    learned = _categories.learn(_objects([2, np.nan, 1, np.int64(2), None, 1.0]), "column x")
    assert list(learned) == [None, 1.0, 2.0]
    assert [type(v) for v in learned[1:]] == [float, float]


def test_each_distinct_value_is_checked_once(monkeypatch):
    """A column's values are checked and looked up once per distinct value, not once per row:
    the Python cost of a category column grows with its categories, not its rows."""
    from wlearn_mitra.inputs import _categories

    calls = []
    real = _categories.value_kind
    monkeypatch.setattr(_categories, "value_kind",
                        lambda value, where: calls.append(value) or real(value, where))
    raw = _objects(["red", "green", "blue", None] * 500)
    categories = _categories.learn(raw, "column color")
    assert len(calls) <= 3
    calls.clear()
    codes = _categories.encode(raw, categories, "column color")
    assert len(calls) <= 6  # the categories' kind (3), then each distinct value once
    assert np.array_equal(codes[:4], [3.0, 2.0, 1.0, 0.0])
    assert np.array_equal(codes, np.tile(codes[:4], 500))


@pytest.mark.filterwarnings("ignore::wlearn_mitra.BuiltinModelWarning")
@pytest.mark.parametrize("onnx", [CLF_ONNX, None], ids=["tiny", "builtin"])
def test_text_that_reads_as_numbers_is_text_in_every_container(onnx):
    """"4", " 4 ", "1e1", "inf" are categories whether they come in a pandas string column,
    an object column, a numpy string or object array, or nested lists; numbers beside them in
    nested lists stay numbers."""
    rng = np.random.default_rng(0)
    codes = rng.choice(["4", " 4 ", "1e1", "inf", "10"], 40)
    x = rng.normal(size=40)
    y = (codes == "4") | (x > 0.5)
    containers = {
        "str column": pd.DataFrame({"x": x, "code": pd.Series(codes, dtype="string")}),
        "object column": pd.DataFrame({"x": x, "code": pd.Series(codes, dtype=object)}),
        "object array": np.array([[a, b] for a, b in zip(x, codes)], dtype=object),
        "nested lists": [[float(a), str(b)] for a, b in zip(x, codes)],
    }
    answers = {}
    for label, X in containers.items():
        with pytest.warns(UserWarning, match="'code' holds text that reads as numbers|"
                                             "column 1 holds text that reads as numbers"):
            model = MitraClassifier(onnx=onnx).fit(X, y)
        answers[label] = model.predict_proba(X)
        assert list(model.categories_) == [1], label
        assert sorted(model.categories_[1]) == sorted(set(codes)), label
    first = answers.pop("str column")
    for label, proba in answers.items():
        np.testing.assert_array_equal(proba, first, err_msg=label)
    with pytest.warns(UserWarning, match="reads as numbers.*pd.to_numeric"):
        only_text = MitraClassifier(onnx=onnx).fit(np.array(codes).reshape(-1, 1), y)
    assert sorted(only_text.categories_[0]) == sorted(set(codes))  # a numpy <U array
    with pytest.raises(ValidationError, match="held numbers at fit.*pd.to_numeric"):
        MitraClassifier(onnx=onnx).fit(x.reshape(-1, 1), y).predict(np.array([["4"]]))
    with warnings.catch_warnings():  # text that is not all numbers: no warning
        warnings.simplefilter("error", UserWarning)
        MitraClassifier(onnx=onnx).fit(np.array(["4", "rotary"] * 20).reshape(-1, 1), y)
