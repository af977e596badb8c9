"""What every runtime must keep, run on each (``conftest.py`` lists them and what differs):
answers as the JS fixtures recorded them and as ONNX Runtime gives them, the precisions it
runs and refuses, reduced precisions really reduced and close, its graph files kept by the
model's identity, the same answers at any thread count, a clear error for a model it cannot
read, bundles and pickles that do not depend on it. Runtime-specific behaviour (OpenVINO's
compilations and memory, ONNX Runtime's int8 graph) stays in ``test_openvino.py`` and
``test_engine_precision.py``."""

from __future__ import annotations

import hashlib
import json
import pickle
import re
import warnings

import numpy as np
import pytest

from wlearn.errors import ValidationError
from wlearn_mitra import MitraClassifier, MitraModel, MitraRegressor
from wlearn_mitra.engine import MitraEngine

MODELS = {"classification": "tiny-mitra-classifier.onnx",
          "regression": "tiny-mitra-regressor.onnx"}
SPLITS = {"pair": {}, "single": {"split": None}}


@pytest.fixture(scope="module")
def onnx(fixtures_dir):
    return {task: fixtures_dir / "onnx" / name for task, name in MODELS.items()}


def softmax64(z):
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def fixture_case(root):
    """A JS fixture case's support rows, class indices, query rows and class count."""
    idx = np.load(root / "support_indices.npy")
    y = np.load(root / "y.npy")
    classes = np.unique(y)
    return (np.load(root / "X.npy")[idx], np.searchsorted(classes, y[idx]),
            np.load(root / "Xq.npy"), len(classes))


# -- answers ------------------------------------------------------------------------------


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("case", ["a_binary_all", "b_3class_strat_s42", "e_regression_all"])
def test_fp32_answers_as_the_js_fixtures_recorded(runtime, case, split, onnx, fixtures_dir,
                                                 cross_cpu_atol):
    root = fixtures_dir / "mitra-js" / case
    meta = json.loads((root / "case.json").read_text())
    task = "regression" if case.startswith("e_") else "classification"
    engine = MitraEngine(onnx[task], task=task, runtime=runtime.name, **SPLITS[split])
    assert engine.uses_cache is (split == "pair")
    idx = np.load(root / "support_indices.npy")
    xs = np.load(root / "X.npy")[idx].astype(np.float32)
    y = np.load(root / "y.npy")[idx]
    xq = np.load(root / "Xq.npy")
    raw = np.load(root / "raw_output.npy")[0]
    # JS ran ONNX Runtime on another CPU (cross_cpu_atol); this runtime is runtime.atol from
    # ONNX Runtime here
    atol = cross_cpu_atol + runtime.atol
    if task == "regression":
        np.testing.assert_allclose(engine.predict(xs, y, xq), raw, rtol=0, atol=atol)
    else:
        k = len(meta["bundle"]["meta"]["classes"])
        np.testing.assert_allclose(engine.predict(xs, y, xq, n_classes=k),
                                   softmax64(raw[:, :k]), rtol=0, atol=atol)


@pytest.mark.parametrize("kwargs", [{}, {"n_estimators": 3, "seed": 2}, {"chunk_size": 4}])
def test_fp32_equals_onnxruntimes_single_graph(runtime, kwargs, onnx, nan_rows):
    xs, ys, xq = nan_rows(0)
    for task, y, extra in (("classification", ys, {"n_classes": 3}),
                           ("regression", ys / 3.0, {})):
        want = MitraEngine(onnx[task], task=task, split=None).predict(xs, y, xq, **extra,
                                                                      **kwargs)
        for split in SPLITS.values():
            engine = MitraEngine(onnx[task], task=task, runtime=runtime.name, precision="fp32",
                                 **split)
            got = engine.predict(xs, y, xq, **extra, **kwargs)
            np.testing.assert_allclose(got, want, rtol=0, atol=max(runtime.atol, 1e-5))


def test_answers_do_not_depend_on_the_thread_count(runtime, onnx, monkeypatch, nan_rows):
    xs, ys, xq = nan_rows(8)
    want = MitraEngine(onnx["classification"], task="classification",
                       runtime=runtime.name).predict(xs, ys, xq, n_classes=3)
    for threads in (1, 2):
        engine = MitraEngine(onnx["classification"], task="classification",
                             runtime=runtime.name, threads=threads)
        np.testing.assert_allclose(engine.predict(xs, ys, xq, n_classes=3), want,
                                   rtol=0, atol=1e-6)
    # the estimators' thread setting (WLEARN_MITRA_THREADS, as joblib's workers set
    # OMP_NUM_THREADS) opens the runtime with it, with the same answers
    monkeypatch.setenv("WLEARN_MITRA_THREADS", "1")
    model = MitraClassifier(onnx=onnx["classification"], runtime=runtime.name,
                            n_estimators=2).fit(xs[:, 1:], ys)
    monkeypatch.setenv("WLEARN_MITRA_THREADS", "2")
    other = MitraClassifier(onnx=onnx["classification"], runtime=runtime.name, n_estimators=2,
                            max_memory_mb=4096).fit(xs[:, 1:], ys)
    np.testing.assert_allclose(model.predict_proba(xq[:, 1:]), other.predict_proba(xq[:, 1:]),
                               rtol=0, atol=1e-6)


# -- precisions ---------------------------------------------------------------------------


def test_reduced_precisions_are_reduced_and_close(runtime, onnx, fixtures_dir, tmp_path,
                                                  nan_rows):
    clf = onnx["classification"]
    for precision, (least, largest) in runtime.reduced.items():
        if not runtime.runs(precision):
            with pytest.raises(ValidationError, match=runtime.unavailable[precision]):
                MitraEngine(clf, task="classification", runtime=runtime.name,
                            precision=precision)
            continue
        fp32 = MitraEngine(clf, task="classification", runtime=runtime.name)
        with warnings.catch_warnings(record=True) as record:  # nothing to say but AMX's
            warnings.simplefilter("always")
            pair = MitraEngine(clf, task="classification", runtime=runtime.name,
                               precision=precision, optimized_dir=tmp_path)
            single = MitraEngine(clf, task="classification", runtime=runtime.name,
                                 precision=precision, split=None, optimized_dir=tmp_path)
            pair.predict(*nan_rows(3), n_classes=3)
        assert all("AMX" in str(w.message) for w in record), [str(w.message) for w in record]
        assert pair.uses_cache and not single.uses_cache
        for case in ("a_binary_all", "b_3class_strat_s42", "d_labels_2_5_7"):
            xs, ys, xq, k = fixture_case(fixtures_dir / "mitra-js" / case)
            a = fp32.predict(xs, ys, xq, n_classes=k)
            b = pair.predict(xs, ys, xq, n_classes=k)
            assert least < np.abs(a - b).max() < largest  # really reduced, and close
            if precision in runtime.pair_atol:
                # the pair is cut from the reduced graph: the same arithmetic
                np.testing.assert_allclose(single.predict(xs, ys, xq, n_classes=k), b, rtol=0,
                                           atol=runtime.pair_atol[precision])
            # The tiny models are near-tied (a fifth of one case's rows have a top-two margin
            # under 0.05), so flips there measure ties: every row float32 decides by a margin
            # of 0.1 keeps its class (an AVX2 CPU's saturating int8 kernel flipped half of them).
            top2 = np.sort(a, axis=1)[:, -2:]
            clear = top2[:, 1] - top2[:, 0] > 0.1
            assert clear.sum() >= len(a) // 2
            np.testing.assert_array_equal(a[clear].argmax(1), b[clear].argmax(1))


@pytest.mark.parametrize("bad", ["fp16", "INT8", None, 8, "fp8", "int8", "bf16"])
def test_precisions_the_runtime_does_not_take_are_refused(runtime, bad, onnx, fixtures_dir):
    if bad in runtime.precisions:
        pytest.skip(f"{runtime.name} runs {bad}")
    case = fixtures_dir / "mitra-js" / "b_3class_strat_s42"
    X, y, Xq = np.load(case / "X.npy"), np.load(case / "y.npy"), np.load(case / "Xq.npy")
    clf, name = onnx["classification"], runtime.name
    pattern = re.escape(f"precision must be one of {runtime.precisions}")
    with pytest.raises(ValidationError, match=pattern):
        MitraEngine(clf, task="classification", runtime=name, precision=bad)
    model = MitraClassifier(onnx=clf, runtime=name, precision=bad)  # __init__ only stores it
    assert model.precision == bad
    with pytest.raises(ValidationError, match=pattern):
        model.fit(X, y)
    with pytest.raises(ValidationError, match=pattern):
        MitraModel(classifier_onnx=clf, runtime=name, precision=bad).fit(X, y)
    fitted = MitraClassifier(onnx=clf, runtime=name).fit(X, y).set_params(precision=bad)
    with pytest.raises(ValidationError, match=pattern):
        fitted.predict(Xq)
    with pytest.raises(ValidationError, match=pattern):
        MitraClassifier.load(case / "model.wlrn", clf, runtime=name, precision=bad)


@pytest.mark.parametrize("runtime_name", ["tensorrt", "OpenVINO", None])
def test_an_unknown_runtime_is_refused(runtime_name, onnx, nan_rows):
    with pytest.raises(ValidationError, match="runtime"):
        MitraEngine(onnx["classification"], task="classification", runtime=runtime_name)
    model = MitraClassifier(onnx=onnx["classification"], runtime=runtime_name)
    with pytest.raises(ValidationError, match="runtime"):
        model.fit(*nan_rows(4)[:2])


# -- files, errors, bundles, pickles ------------------------------------------------------


def test_graph_files_are_kept_by_the_models_identity_and_reused(runtime, onnx, tmp_path,
                                                                nan_rows):
    clf = onnx["classification"]
    sha = hashlib.sha256(clf.read_bytes()).hexdigest()
    xs, ys, xq = nan_rows(6)
    want = MitraEngine(clf, task="classification", split=None).predict(xs, ys, xq, n_classes=3)
    first = MitraEngine(clf, task="classification", runtime=runtime.name, split=None,
                        optimized_dir=tmp_path, threads=1)
    np.testing.assert_allclose(first.predict(xs, ys, xq, n_classes=3), want, rtol=0,
                               atol=runtime.atol)
    made = {p: p.stat().st_mtime_ns for p in tmp_path.glob(runtime.cache_glob)}
    assert len(made) == runtime.cache_files and all(p.name.startswith(sha) for p in made)
    # another engine (another thread count: compiled again) reads the same files back
    second = MitraEngine(clf, task="classification", runtime=runtime.name, split=None,
                         optimized_dir=tmp_path, threads=2)
    np.testing.assert_allclose(second.predict(xs, ys, xq, n_classes=3), want, rtol=0,
                               atol=runtime.atol)
    assert {p: p.stat().st_mtime_ns for p in tmp_path.glob(runtime.cache_glob)} == made


@pytest.mark.parametrize("cls", [MitraClassifier, MitraRegressor])
def test_a_model_the_runtime_cannot_read_is_a_clear_error_without_a_warning_first(runtime, cls):
    X, y = np.random.default_rng(0).normal(size=(10, 2)), np.arange(10) % 2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ValidationError, match="could not load the model"):
            cls(onnx=b"garbage", runtime=runtime.name).fit(X, y)
    assert not [w for w in caught
                if "garbage" in str(w.message) or "single graph" in str(w.message)]


def test_bundles_record_neither_runtime_nor_precision(runtime, onnx, fixtures_dir):
    case = fixtures_dir / "mitra-js" / "b_3class_strat_s42"  # JS: maxSupport 128, seed 42
    X, y, Xq = np.load(case / "X.npy"), np.load(case / "y.npy"), np.load(case / "Xq.npy")
    js = (case / "model.wlrn").read_bytes()
    clf, name = onnx["classification"], runtime.name
    js_pick = {"max_support": 128, "seed": 42, "support_selection": "balanced"}
    reference = MitraClassifier(onnx=clf, **js_pick).fit(X, y)
    for precision in filter(runtime.runs, runtime.precisions):
        model = MitraClassifier(onnx=clf, runtime=name, precision=precision, **js_pick).fit(X, y)
        assert (model.get_params()["runtime"], model.get_params()["precision"]) == (name,
                                                                                    precision)
        if precision == "fp32":
            np.testing.assert_allclose(model.predict_proba(Xq), reference.predict_proba(Xq),
                                       rtol=0, atol=max(runtime.atol, 1e-6))
        assert model.save() == reference.save() == js
        loaded = MitraClassifier.load(js, clf, runtime=name, precision=precision)
        assert (loaded.runtime, loaded.precision) == (name, precision)
        np.testing.assert_array_equal(loaded.predict_proba(Xq), model.predict_proba(Xq))
        assert loaded.save() == js
        unified = MitraModel.load(js, clf, runtime=name, precision=precision)
        assert (unified.runtime, unified.precision) == (name, precision)
        np.testing.assert_array_equal(unified.predict_proba(Xq), model.predict_proba(Xq))
        assert unified.save() == js


def test_a_pickled_estimator_keeps_its_runtime_and_answers(runtime, onnx, nan_rows):
    xs, ys, xq = nan_rows(9)
    for cls, task, y in ((MitraClassifier, "classification", ys),
                         (MitraRegressor, "regression", ys / 3.0)):
        model = cls(onnx=str(onnx[task]), runtime=runtime.name).fit(np.nan_to_num(xs), y)
        again = pickle.loads(pickle.dumps(model))
        assert again.runtime == runtime.name
        np.testing.assert_array_equal(again.predict(xq), model.predict(xq))
