"""The disk cache is only a cache, and the model's NaN is never an answer.

Derived split pairs, int8 graphs, ONNX Runtime's optimised graphs and OpenVINO's IR files:
a folder that cannot be written (not a folder, full) leaves the engine running without the
file, with a CacheWarning naming it; a damaged file is removed and made again; nothing
half-written is left. A model that answers NaN or infinity raises ModelOutputError naming
it (and the cache files it was read from), instead of predicting classes_[0].
"""

from __future__ import annotations

import errno
import gc
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from wlearn_mitra import MitraClassifier, MitraRegressor
from wlearn_mitra.exceptions import CacheWarning, ModelOutputError
from wlearn_mitra.engine import MitraEngine

from _paths import fixtures_dir

ONNX = fixtures_dir("onnx")
CLF = ONNX / "tiny-mitra-classifier.onnx"
REG = ONNX / "tiny-mitra-regressor.onnx"


def data(n=40, f=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, f))
    return X, (X[:, 0] > 0).astype(int), rng.normal(size=(9, f))


def _copy(model: Path, folder: Path) -> Path:
    """The model at a path of its own: engines are shared by file, and a test must open its own."""
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(model, folder / model.name))


def _nan_model(model: Path, out: Path) -> Path:
    onnx = pytest.importorskip("onnx")
    from onnx import numpy_helper

    proto = onnx.load_model(str(model))
    biggest = max(proto.graph.initializer, key=lambda t: np.prod(t.dims))
    weights = numpy_helper.to_array(biggest).copy()
    weights.flat[:] = np.nan
    biggest.CopyFrom(numpy_helper.from_array(weights, biggest.name))
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(proto, str(out))
    return out


# -- NaN out of the model ----------------------------------------------------------------------


@pytest.mark.parametrize("split", ["auto", None])
@pytest.mark.parametrize("task", ["classification", "regression"])
def test_nan_weights_raise_naming_the_model(tmp_path, monkeypatch, task, split):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    model = _nan_model(CLF if task == "classification" else REG, tmp_path / "m" / "nan.onnx")
    X, y, Xq = data()
    if task == "classification":
        est = MitraClassifier(onnx=str(model)).fit(X, y)
        calls = [est.predict, est.predict_proba]
    else:
        est = MitraRegressor(onnx=str(model)).fit(X, X[:, 0])
        calls = [est.predict]
    engine = MitraEngine(model, task=task, split=split)
    for call in calls:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CacheWarning)  # the rebuild is tried first
            with pytest.raises(ModelOutputError, match=r"nan\.onnx answered NaN or infinity"):
                call(Xq)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CacheWarning)
        with pytest.raises(ModelOutputError, match="NaN or infinity for 9 of 9"):
            engine.predict(X, y, Xq, n_classes=2 if task == "classification" else None)


def test_nan_weights_given_as_bytes_are_named_by_hash():
    pytest.importorskip("onnx")
    X, y, Xq = data()
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        model = _nan_model(CLF, Path(folder) / "nan.onnx").read_bytes()
    engine = MitraEngine(model, task="classification", split=None)
    with pytest.raises(ModelOutputError, match=f"given as bytes, sha256 {engine.onnx_sha256}"):
        engine.predict(X, y, Xq, n_classes=2)


def test_damaged_openvino_weights_of_the_right_size_are_made_again(tmp_path):
    pytest.importorskip("openvino")
    from wlearn_mitra.runtimes import _openvino

    model = _copy(CLF, tmp_path / "m")
    X, y, Xq = data()
    first = MitraEngine(model, task="classification", runtime="openvino", split=None)
    want = first.predict(X, y, Xq, n_classes=2)
    ir = _openvino.ir_path(first._folder, first.onnx_sha256, "fp32")
    del first
    gc.collect()
    weights = ir.with_suffix(".bin")
    good = weights.read_bytes()
    # The same graph's weights file with its largest weight NaN: the right size, read fine.
    nan = _nan_model(CLF, tmp_path / "nan" / "nan.onnx")
    other = MitraEngine(nan, task="classification", runtime="openvino", split=None)
    damaged = _openvino.ir_path(other._folder, other.onnx_sha256, "fp32").with_suffix(".bin")
    assert damaged.stat().st_size == len(good)
    del other
    gc.collect()
    shutil.copy(damaged, weights)
    engine = MitraEngine(model, task="classification", runtime="openvino", split=None)
    with pytest.warns(CacheWarning, match=rf"answered NaN.*{weights.name}"):
        got = engine.predict(X, y, Xq, n_classes=2)
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert weights.read_bytes() == good  # made again


# -- damaged cache files are made again ------------------------------------------------------


def _only(folder: Path, pattern: str) -> Path:
    found = sorted(folder.rglob(pattern))
    assert found, f"no {pattern} in {folder}"
    return found[0]


@pytest.mark.parametrize(("kind", "pattern", "kwargs"), [
    ("pair", "*.pair1.encoder.onnx", {}),
    ("pair-weights", "*.pair1.encoder.onnx.data", {}),  # the weights kept beside the graph
    ("int8", "*.int8pc2*.onnx", {"precision": "int8", "split": None}),
    ("optimised", "*.opt.onnx", {"split": None}),
    ("optimised-weights", "*.opt.onnx.data", {"split": None}),
    ("openvino-ir", "*.xml", {"runtime": "openvino", "split": None}),
])
def test_a_damaged_cache_file_is_removed_and_made_again(tmp_path, monkeypatch, kind, pattern,
                                                      kwargs):
    if kind == "openvino-ir":
        pytest.importorskip("openvino")
    if kind in ("pair", "pair-weights", "int8"):
        pytest.importorskip("onnx")
    if kind == "pair-weights":  # a full-size model's pair keeps its weights in a .data file
        from wlearn_mitra.graphs import _surgery

        monkeypatch.setattr(_surgery, "EXTERNAL_WEIGHTS_BYTES", 0)
    if kind == "optimised-weights":  # a full-size model's optimised graph: the same
        from wlearn_mitra.runtimes import _ort

        monkeypatch.setattr(_ort, "EXTERNAL_WEIGHTS_BYTES", 0)
    model = _copy(CLF, tmp_path / "m")
    store = tmp_path / "store"
    if kind.startswith("pair"):  # the default folder: no optimised graphs read in its place
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
        store = None
    X, y, Xq = data()
    first = MitraEngine(model, task="classification", optimized_dir=store, **kwargs)
    want = first.predict(X, y, Xq, n_classes=2)
    del first
    gc.collect()
    damaged = _only(store or tmp_path / "xdg", pattern)
    damaged.write_bytes(b"not a model" * 10)
    named = damaged.name.removesuffix(".data")  # a graph is named by its .onnx file
    with pytest.warns(CacheWarning, match=rf"{named}.*deleting it is always safe"):
        engine = MitraEngine(model, task="classification", optimized_dir=store, **kwargs)
        got = engine.predict(X, y, Xq, n_classes=2)
        if kind.startswith("pair"):  # the pair opens when a support set comes back
            got = engine.predict(X, y, Xq, n_classes=2)
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert damaged.read_bytes() != b"not a model" * 10
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheWarning)  # made whole: no warning any more
        engine = MitraEngine(model, task="classification", optimized_dir=store, **kwargs)
        for _ in range(2):
            engine.predict(X, y, Xq, n_classes=2)


# -- an unavailable runtime or precision is not a damaged file ------------------------------


class _NoBf16Core:
    """An OpenVINO core of a CPU without bfloat16 arithmetic."""

    def get_property(self, device, name):
        return ["FP32", "INT8", "EXPORT_IMPORT"]


@pytest.mark.parametrize("refusal", ["openvino-missing", "bf16-missing"])
def test_a_refused_runtime_or_precision_leaves_the_cache_files_alone(tmp_path, monkeypatch,
                                                                     refusal):
    pytest.importorskip("onnx")
    from wlearn_mitra.runtimes import _openvino

    from wlearn.errors import ValidationError

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    model = _copy(CLF, tmp_path / "m")
    X, y, Xq = data()
    MitraClassifier(onnx=str(model)).fit(X, y).predict(Xq)
    files = sorted((tmp_path / "xdg").rglob("*.onnx"))
    assert [f.name.split(".", 1)[1] for f in files] == ["pair1.decoder.onnx",
                                                       "pair1.encoder.onnx"]
    before = {f: f.read_bytes() for f in files}
    if refusal == "openvino-missing":
        monkeypatch.setitem(__import__("sys").modules, "openvino", None)
        monkeypatch.setattr(_openvino, "_core", None)
        kwargs, match = {"runtime": "openvino"}, "needs OpenVINO"
    else:
        monkeypatch.setattr(_openvino, "core", lambda: _NoBf16Core())
        kwargs, match = {"runtime": "openvino", "precision": "bf16"}, "bfloat16"
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheWarning)
        with pytest.raises(ValidationError, match=match):
            MitraClassifier(onnx=str(model), **kwargs).fit(X, y).predict(Xq)
    assert sorted((tmp_path / "xdg").rglob("*.onnx")) == files
    assert {f: f.read_bytes() for f in files} == before


# -- a cache folder that cannot be written ---------------------------------------------------


def _not_a_folder(tmp_path: Path) -> Path:
    blocker = tmp_path / "a-file"
    blocker.write_text("a regular file")
    return blocker / "cache"  # mkdir answers NotADirectoryError, even for root


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_unwritable_default_cache_folder_runs_the_single_graph(tmp_path, monkeypatch, task):
    pytest.importorskip("onnx")
    monkeypatch.setenv("XDG_CACHE_HOME", str(_not_a_folder(tmp_path)))
    model = _copy(CLF if task == "classification" else REG, tmp_path / "m")
    X, y, Xq = data()
    cls = MitraClassifier if task == "classification" else MitraRegressor
    with pytest.warns(CacheWarning,
                      match=r"single graph runs.*a-file/cache/wlearn-mitra.*set XDG_CACHE_HOME"):
        est = cls(onnx=str(model)).fit(X, y if task == "classification" else X[:, 0])
    assert not est._open().engine.uses_cache
    ref = MitraEngine(model, task=task, split=None)
    if task == "classification":
        np.testing.assert_allclose(est.predict_proba(Xq), ref.predict(X, y, Xq, n_classes=2))


@pytest.mark.parametrize("kwargs", [
    {"precision": "int8"}, {"split": None}, {"runtime": "openvino", "split": None}, {},
])
def test_unwritable_optimized_dir_warns_and_runs(tmp_path, kwargs):
    if kwargs.get("runtime") == "openvino":
        pytest.importorskip("openvino")
    pytest.importorskip("onnx")
    model = _copy(CLF, tmp_path / "m")
    X, y, Xq = data()
    with pytest.warns(CacheWarning, match="a-file/cache"):
        engine = MitraEngine(model, task="classification", optimized_dir=_not_a_folder(tmp_path),
                             **kwargs)
        out = engine.predict(X, y, Xq, n_classes=2)
    assert out.shape == (9, 2) and np.isfinite(out).all()


def _full_disk(monkeypatch):
    """Every file the onnx package writes runs out of space half-way (as on a full disk)."""
    import onnx

    real = onnx.save_model

    def full(proto, path, *args, **kwargs):
        real(proto, path, *args, **kwargs)
        data = Path(path).read_bytes()
        Path(path).write_bytes(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(onnx, "save_model", full)


def test_full_disk_cutting_the_pair_runs_the_single_graph(tmp_path, monkeypatch):
    pytest.importorskip("onnx")
    _full_disk(monkeypatch)
    model = _copy(CLF, tmp_path / "m")
    store = tmp_path / "store"
    X, y, Xq = data()
    with pytest.warns(CacheWarning, match="No space left on device"):
        engine = MitraEngine(model, task="classification", optimized_dir=store)
    assert not engine.uses_cache
    assert engine.predict(X, y, Xq, n_classes=2).shape == (9, 2)
    # nothing half-written left (ONNX Runtime's own optimised graph is whole)
    assert not [p for p in store.rglob("*") if p.is_file() and ".opt." not in p.name]


def test_full_disk_with_int8_says_so(tmp_path, monkeypatch):
    pytest.importorskip("onnx")
    from wlearn.errors import ResourceLimitError
    from wlearn_mitra.graphs import _int8 as _precision

    monkeypatch.setattr(_precision, "_private", [])  # no private copy from an earlier test
    _full_disk(monkeypatch)
    model = _copy(CLF, tmp_path / "m")
    store = tmp_path / "store"
    with pytest.raises(ResourceLimitError, match=r"(?s)int8 graph.*No space left on device") as info:
        MitraEngine(model, task="classification", precision="int8", split=None,
                    optimized_dir=store)
    assert "DecodeError" not in str(info.value) and "could not load" not in str(info.value)
    assert not [p for p in store.rglob("*") if p.is_file()]


def test_truncated_write_without_an_error_is_caught(tmp_path, monkeypatch):
    # A write cut short without an exception (what a full disk can leave) used to reach
    # quantize_dynamic as a protobuf DecodeError.
    pytest.importorskip("onnx")
    import onnx

    from wlearn.errors import ResourceLimitError
    from wlearn_mitra.graphs import _int8 as _precision

    monkeypatch.setattr(_precision, "_private", [])
    real = onnx.save_model

    def short(proto, path, *args, **kwargs):
        real(proto, path, *args, **kwargs)
        data = Path(path).read_bytes()
        Path(path).write_bytes(data[: len(data) // 2])

    monkeypatch.setattr(onnx, "save_model", short)
    with pytest.raises(ResourceLimitError, match="cut short"):
        MitraEngine(_copy(CLF, tmp_path / "m"), task="classification", precision="int8",
                    split=None, optimized_dir=tmp_path / "store")
