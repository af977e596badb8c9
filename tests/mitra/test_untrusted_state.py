"""Tampered bundles, tampered pickles and parameters out of range: each is refused with a
wlearn error naming the problem, or gives a valid answer; never NaN, infinity, a silently
different label or a foreign exception. Every case runs on the tiny test model and on the
built-in models (the model is never what decides these)."""

from __future__ import annotations

import json
import pickle
import warnings

import numpy as np
import pytest

pytestmark = pytest.mark.filterwarnings("ignore::wlearn_mitra.BuiltinModelWarning")

import wlearn
import wlrn
from wlearn.errors import BundleError, ValidationError
from wlearn_mitra import MitraClassifier, MitraRegressor

from _paths import fixtures_dir

TINY = {"classifier": fixtures_dir("onnx", "tiny-mitra-classifier.onnx"),
        "regressor": fixtures_dir("onnx", "tiny-mitra-regressor.onnx")}
MODELS = pytest.mark.parametrize("model", ["tiny", "builtin"])


def _onnx(model: str, task: str):
    return TINY[task] if model == "tiny" else None


def _rng_table(rows: int = 12, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(rows, 3)), rng.normal(size=rows)


def _load(data: bytes, onnx):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        options = {} if onnx is None else {"onnx": onnx}
        manifest = wlrn.decode_bundle(data)[0]
        return wlearn.load(data, loader_options={manifest["typeId"]: options})


def _edit(data: bytes, meta=None, artifacts=None) -> bytes:
    """The bundle with its meta edited by ``meta(dict)`` and artifacts replaced by id."""
    manifest, toc, blobs = wlrn.decode_bundle(data)
    parts = {e["id"]: bytes(blobs[e["id"]]) for e in toc}
    if meta is not None:
        value = json.loads(parts["meta"])
        meta(value)
        parts["meta"] = wlrn.encode_json(value)
    parts.update(artifacts or {})
    return wlrn.encode_bundle(manifest, [{"id": k, "data": v} for k, v in parts.items()])


# --- bundles ------------------------------------------------------------------------------------

@MODELS
def test_a_labels_bundle_with_no_support_rows_loads_pickles_and_refuses_predict(model):
    X, _ = _rng_table(8)
    onnx = _onnx(model, "classifier")
    data = MitraClassifier(onnx=onnx).fit(X, ["a", "b"] * 4).save()
    empty = _edit(data, meta=lambda m: m.update(nSupport=0),
                  artifacts={"support_x": b"", "support_y_index": b""})
    loaded = _load(empty, onnx)  # as the meta.classes form of the same bundle: it loads
    assert len(loaded.support_x_) == 0 and list(loaded.classes_) == ["a", "b"]
    again = pickle.loads(pickle.dumps(loaded))  # what loads also pickles and unpickles
    for estimator in (loaded, again):
        with pytest.raises(ValidationError, match="empty support set"):
            estimator.predict(X[:2])


@MODELS
def test_regression_targets_beyond_float32_in_a_bundle_are_refused_at_predict(model):
    X, y = _rng_table()
    onnx = _onnx(model, "regressor")
    with pytest.raises(ValidationError, match="beyond float32"):
        MitraRegressor(onnx=onnx).fit(X, np.where(np.arange(12) % 2, 1.7e308, -1.7e308))
    data = MitraRegressor(onnx=onnx).fit(X, y).save()
    ids = [e["id"] for e in wlrn.decode_bundle(data)[1]]
    assert "support_y_f64" in ids or model == "tiny"
    huge = np.where(np.arange(12) % 2, 1.7e308, -1.7e308)
    edits = {"support_y_f64": huge.astype("<f8").tobytes()}
    if "support_y" in ids:  # regressor@1: the float32 copy must round from it (to infinity)
        with np.errstate(over="ignore"):
            edits["support_y"] = huge.astype("<f4").tobytes()
    loaded = _load(_edit(data, artifacts=edits), onnx)
    with pytest.raises(ValidationError, match="beyond float32's range"):
        loaded.predict(X[:2])


@pytest.mark.parametrize("values", [["+1", "2"], [" 1", "2"], ["1_0", "20"], ["\u0663", "7"],
                                    ["-0", "1"], ["01", "2"]])
def test_integer_labels_must_be_plain_decimal_text(values):
    X, _ = _rng_table(8)
    data = MitraClassifier(onnx=TINY["classifier"]).fit(X, [1, 2 ** 40] * 4).save()
    meta = json.loads(bytes(wlrn.decode_bundle(data)[2]["meta"]))
    assert meta["labels"]["kind"] == "integer"  # beyond int32: the labels extension
    bad = _edit(data, meta=lambda m: m["labels"].update(values=values))
    with pytest.raises(BundleError, match="do not all fit kind 'integer'"):
        _load(bad, TINY["classifier"])


def test_a_label_ending_in_nul_is_refused_not_merged():
    X, _ = _rng_table(8)
    with pytest.raises(ValidationError, match="NUL"):  # numpy would merge "a\0" into "a"
        MitraClassifier(onnx=TINY["classifier"]).fit(X, ["a", "a\x00", "b", "c"] * 2)
    data = MitraClassifier(onnx=TINY["classifier"]).fit(X, ["a", "b"] * 4).save()
    bad = _edit(data, meta=lambda m: m["labels"].update(values=["\x00", "b"]))
    with pytest.raises(BundleError, match="do not all fit kind 'string'"):
        _load(bad, TINY["classifier"])


@pytest.mark.parametrize("sha", ["g" * 64, "A" * 64])
def test_the_model_hash_must_be_lowercase_hex(sha):
    X, _ = _rng_table(8)
    data = MitraClassifier(onnx=TINY["classifier"]).fit(X, [0, 1] * 4).save()
    bad = _edit(data, meta=lambda m: m.update(onnxSha256=sha))
    with pytest.raises(BundleError, match="64 lowercase hex"):
        MitraClassifier.load(bad, onnx=TINY["classifier"], check_onnx_hash=False)


# --- parameters ---------------------------------------------------------------------------------

@MODELS
@pytest.mark.parametrize("params, message", [
    ({"seed": 10 ** 400}, "not exactly a double"),
    ({"seed": "\u0664\u0662"}, "seed must be a finite number"),  # JS reads "٤٢" | 0 as 0
    ({"max_memory_mb": "x"}, "max_memory_mb must be a positive finite number"),
    ({"max_memory_mb": float("inf")}, "max_memory_mb must be a positive finite number"),
    ({"max_memory_mb": True}, "max_memory_mb must be a positive finite number"),
])
def test_parameters_out_of_range_are_validation_errors(model, params, message):
    X, _ = _rng_table(8)
    with pytest.raises(ValidationError, match=message):
        MitraClassifier(onnx=_onnx(model, "classifier"), **params).fit(X, [0, 1] * 4).predict(X)


# --- pickles ------------------------------------------------------------------------------------

def _tampered(estimator, **changes):
    state = estimator.__getstate__()
    state.update(changes)
    twin = type(estimator).__new__(type(estimator))
    twin.__setstate__(state)
    return twin


@MODELS
@pytest.mark.parametrize("changes, message", [
    ({"classes_": np.array([3, 3, 1, 0])}, "classes_ must be sorted and distinct"),
    ({"classes_": np.array([3, 2, 1, 0])}, "classes_ must be sorted and distinct"),
    ({"classes_": np.array([0, "a", 2, 3], dtype=object)}, "classes_ must be sorted"),
    ({"support_y_": np.array([0, 1, 2, 3] * 3)[::-1].copy()}, "support_y_ must be classes_"),
    ({"seed_": 10 ** 400}, "seed_"),
])
def test_a_tampered_pickle_state_is_refused(model, changes, message):
    X, _ = _rng_table()
    fitted = MitraClassifier(onnx=_onnx(model, "classifier")).fit(X, [0, 1, 2, 3] * 3)
    assert _tampered(fitted).predict(X).tolist() == fitted.predict(X).tolist()
    with pytest.raises(ValidationError, match=message):
        _tampered(fitted, **changes)


@MODELS
def test_artifacts_no_mitra_bundle_has_are_ignored_and_said_so(model, tmp_path, capsys,
                                                               monkeypatch):
    from wlearn.cli import main

    X, _ = _rng_table(8)
    onnx = _onnx(model, "classifier")
    fitted = MitraClassifier(onnx=onnx).fit(X, [0, 1] * 4)
    data = fitted.save()
    extra = _edit(data, artifacts={"notes.txt": b"kept by nobody"})
    loaded = _load(extra, onnx)
    np.testing.assert_array_equal(loaded.predict_proba(X), fitted.predict_proba(X))
    assert loaded.save() == data  # not written back, as the note says
    path = tmp_path / "extra.wlrn"
    path.write_bytes(extra)
    if onnx is not None:
        monkeypatch.setenv("WLEARN_MITRA_CLASSIFIER_ONNX", str(onnx))
    assert main(["inspect", "--json", str(path)]) == 0
    notes = json.loads(capsys.readouterr().out)["notes"]
    assert any("'notes.txt'" in n and "save does not write them back" in n for n in notes)
    tmp_path.joinpath("plain.wlrn").write_bytes(data)
    assert main(["inspect", "--json", str(tmp_path / "plain.wlrn")]) == 0
    assert not any("write them back" in n for n in json.loads(capsys.readouterr().out)["notes"])


def test_a_bundle_without_a_model_hash_says_its_model_is_unchecked(tmp_path, capsys):
    """A model given as an InferenceSession has no known bytes, so its bundle records no
    hash: load warns that nothing checks the model it runs, unless one is given, and inspect
    says so."""
    import onnxruntime as ort

    from wlearn.cli import main

    X, _ = _rng_table(8)
    session = ort.InferenceSession(str(TINY["classifier"]), providers=["CPUExecutionProvider"])
    data = MitraClassifier(onnx=session).fit(X, [0, 1] * 4).save()
    assert json.loads(bytes(wlrn.decode_bundle(data)[2]["meta"]))["onnxSha256"] is None
    with pytest.warns(UserWarning, match="records no model hash.*pass onnx= that model"):
        wlearn.load(data)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        MitraClassifier.load(data, onnx=TINY["classifier"])  # the model given: no warning
    path = tmp_path / "session.wlrn"
    path.write_bytes(data)
    main(["inspect", "--json", str(path)])
    notes = json.loads(capsys.readouterr().out)["notes"]
    assert any("records no model hash" in n for n in notes)
