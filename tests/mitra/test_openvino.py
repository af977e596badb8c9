"""The OpenVINO runtime against ONNX Runtime: same graphs, same cache, same answers (fp32)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from wlearn.errors import ValidationError
from wlearn_mitra import MitraClassifier
from wlearn_mitra.engine import MitraEngine

openvino = pytest.importorskip("openvino")
from wlearn_mitra.runtimes import _openvino  # noqa: E402

ONNX = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "onnx"
CLF, REG = ONNX / "tiny-mitra-classifier.onnx", ONNX / "tiny-mitra-regressor.onnx"


def data(seed, n_support=60, n_query=37, n_features=5):
    rng = np.random.default_rng(seed)
    xs = rng.normal(size=(n_support, n_features))
    xq = rng.normal(size=(n_query, n_features))
    xs[:, 0] = np.round(xs[:, 0])
    xs[rng.random(xs.shape) < 0.05] = np.nan
    return xs, np.arange(n_support) % 3, xq


def has_bf16() -> bool:
    return "BF16" in _openvino.core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


@pytest.fixture(scope="module")
def engines() -> dict:
    """(ONNX Runtime single graph, OpenVINO pair, OpenVINO single graph) per task."""
    out = {}
    for path, task in ((CLF, "classification"), (REG, "regression")):
        pair = MitraEngine(path, task=task, runtime="openvino", precision="fp32")
        single = MitraEngine(path, task=task, runtime="openvino", precision="fp32", split=None)
        assert pair.uses_cache and not single.uses_cache
        out[task] = MitraEngine(path, task=task, split=None), pair, single
    return out


@pytest.mark.parametrize("kwargs", [{}, {"n_estimators": 3, "seed": 2}, {"chunk_size": 4}])
def test_fp32_equals_onnxruntime(engines, kwargs):
    xs, ys, xq = data(0)
    for task, y, extra in (("classification", ys, {"n_classes": 3}),
                           ("regression", ys / 3.0, {})):
        reference, *others = engines[task]
        want = reference.predict(xs, y, xq, **extra, **kwargs)
        for engine in others:
            got = engine.predict(xs, y, xq, **extra, **kwargs)
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)


def test_a_new_query_count_does_not_recompile():
    engine = MitraEngine(CLF, task="classification", runtime="openvino")
    before = _openvino.compilations
    xs, ys, xq = data(1, n_query=50)
    full = engine.predict(xs, ys, xq, n_classes=3)
    for rows, chunk in ((1, None), (7, None), (50, 9), (23, 2)):
        part = engine.predict(xs, ys, xq[:rows], n_classes=3, chunk_size=chunk)
        np.testing.assert_allclose(part, full[:rows], rtol=0, atol=1e-6)
    engine.predict(*data(2, n_support=33, n_features=3), n_classes=3)  # new support shape
    # another engine on the same model shares the compiled graphs
    MitraEngine(CLF, task="classification", runtime="openvino").predict(xs, ys, xq, n_classes=3)
    assert _openvino.compilations == before  # the pair was compiled when the engine opened
    fresh = MitraEngine(CLF, task="classification", runtime="openvino", threads=1)
    assert _openvino.compilations == before + 2  # another thread count: encoder + decoder
    fresh.predict(xs, ys, xq[:3], n_classes=3)
    assert _openvino.compilations == before + 2


def test_bf16_runs_in_bf16_or_says_why_not():
    xs, ys, xq = data(3)
    if not has_bf16():
        with pytest.raises(ValidationError, match="bfloat16"):
            MitraEngine(CLF, task="classification", runtime="openvino", precision="bf16")
        return
    want = MitraEngine(CLF, task="classification", split=None).predict(xs, ys, xq, n_classes=3)
    with pytest.warns() as record:  # AMX or not, nothing else to say
        engine = MitraEngine(CLF, task="classification", runtime="openvino", precision="bf16")
        got = engine.predict(xs, ys, xq, n_classes=3)
    assert all("AMX" in str(w.message) for w in record) or not record
    diff = np.abs(got - want).max()
    assert 1e-5 < diff < 0.1  # really bf16, and close


@pytest.mark.parametrize("runtime, precision", [("openvino", "int8"), ("onnxruntime", "bf16"),
                                                ("openvino", "fp16"), ("tensorrt", "fp32")])
def test_runtime_and_precision_pairs_are_checked(runtime, precision):
    with pytest.raises(ValidationError, match="runtime|precision"):
        MitraEngine(CLF, task="classification", runtime=runtime, precision=precision)
    model = MitraClassifier(onnx=CLF, runtime=runtime, precision=precision)
    with pytest.raises(ValidationError, match="runtime|precision"):
        model.fit(*data(4)[:2])


def test_without_the_extra_the_error_says_how_to_get_it(tmp_path):
    script = f"""
import sys
sys.modules["openvino"] = None
from wlearn.errors import ValidationError
from wlearn_mitra.engine import MitraEngine
try:
    MitraEngine({str(CLF)!r}, task="classification", runtime="openvino")
except ValidationError as exc:
    print(exc)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert "pip install openvino (wlearn-mitra's openvino extra)" in result.stdout, result.stderr


def test_estimator_on_openvino_saves_the_same_bundle():
    xs, ys, xq = data(5)
    xs = np.nan_to_num(xs)
    on_ort = MitraClassifier(onnx=CLF).fit(xs, ys)
    on_ov = MitraClassifier(onnx=CLF, runtime="openvino").fit(xs, ys)
    assert on_ov.get_params()["runtime"] == "openvino"
    np.testing.assert_allclose(on_ov.predict_proba(xq), on_ort.predict_proba(xq), atol=1e-4)
    assert on_ov.save() == on_ort.save()  # the runtime is not written to the bundle
    loaded = MitraClassifier.load(on_ov.save(), onnx=CLF, runtime="openvino")
    assert loaded.runtime == "openvino"
    np.testing.assert_allclose(loaded.predict_proba(xq), on_ort.predict_proba(xq), atol=1e-4)


def test_graphs_are_compiled_from_openvinos_own_format_kept_by_hash(tmp_path):
    # The process maps the saved weights instead of holding the float32 ones it read
    # (bench/README.md): one file per model identity and precision, whole or not at all.
    from wlearn_mitra.graphs._modelfile import sha256_of

    xs, ys, xq = data(6)
    want = MitraEngine(CLF, task="classification", split=None).predict(xs, ys, xq, n_classes=3)
    engine = MitraEngine(CLF, task="classification", runtime="openvino", split=None,
                         optimized_dir=tmp_path, threads=1)
    np.testing.assert_allclose(engine.predict(xs, ys, xq, n_classes=3), want, atol=1e-4)
    ir = _openvino.ir_path(tmp_path, sha256_of(CLF), "fp32")
    assert ir.is_file() and ir.with_suffix(".bin").stat().st_size > 0
    assert sorted(p.name for p in ir.parent.iterdir()) == [ir.with_suffix(".bin").name, ir.name]
    if has_bf16():
        MitraEngine(CLF, task="classification", runtime="openvino", precision="bf16",
                    split=None, optimized_dir=tmp_path, threads=1)
        half = _openvino.ir_path(tmp_path, sha256_of(CLF), "bf16").with_suffix(".bin")
        # float16 weights: about half the float32 file
        assert half.stat().st_size < 0.6 * ir.with_suffix(".bin").stat().st_size
    # a lost weights file is saved again, not read half
    ir.with_suffix(".bin").unlink()
    again = MitraEngine(CLF, task="classification", runtime="openvino", split=None,
                        optimized_dir=tmp_path, threads=2)
    np.testing.assert_allclose(again.predict(xs, ys, xq, n_classes=3), want, atol=1e-4)
    assert ir.with_suffix(".bin").is_file()


def test_encoding_hands_the_compiled_models_working_memory_back():
    # OpenVINO keeps a run's working memory with the compiled model, sized to the largest run
    # so far (measured at W3: 0.6 GB more than ONNX Runtime); after encoding a support set,
    # which is done once, it is released unless another run is in flight.
    class Counting:
        def __init__(self, compiled):
            self.compiled, self.released = compiled, 0

        def create_infer_request(self):
            return self.compiled.create_infer_request()

        def release_memory(self):
            self.released += 1
            self.compiled.release_memory()

    xs, ys, xq = data(7)
    engine = MitraEngine(CLF, task="classification", runtime="openvino", threads=1,
                         split="derive")
    want = engine.predict(xs, ys, xq, n_classes=3)
    engine.cache.clear()
    encoder, decoder = engine.encoder, engine.decoder
    encoder.compiled, decoder.compiled = Counting(encoder.compiled), Counting(decoder.compiled)
    try:
        np.testing.assert_array_equal(engine.predict(xs, ys, xq, n_classes=3), want)
        assert (encoder.compiled.released, decoder.compiled.released) == (1, 0)
        encoder._running += 1  # another thread's run in flight: nothing is released
        engine.cache.clear()
        engine.predict(xs, ys, xq, n_classes=3)
        assert encoder.compiled.released == 1
    finally:
        encoder._running = 0
        encoder.compiled, decoder.compiled = encoder.compiled.compiled, decoder.compiled.compiled


def test_threads_encoding_at_once_get_the_serial_answers():
    # Releasing an encoder's memory while another thread runs on it must neither fail nor
    # change answers (a Dask worker runs tasks on threads sharing one engine).
    from concurrent.futures import ThreadPoolExecutor

    engine = MitraEngine(CLF, task="classification", runtime="openvino", precision="fp32",
                         split="derive", cache_mb=1)
    sets = [data(20 + i, n_support=40 + 7 * i) for i in range(6)]
    want = [engine.predict(xs, ys, xq, n_classes=3) for xs, ys, xq in sets]
    with ThreadPoolExecutor(4) as pool:
        for _ in range(3):
            got = list(pool.map(lambda s: engine.predict(*s, n_classes=3), sets))
            for g, w in zip(got, want):
                np.testing.assert_array_equal(g, w)
