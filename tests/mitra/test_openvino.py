"""What only the OpenVINO runtime does: compiled graphs shared and kept in its own format,
working memory handed back, the extra's install hint. The behaviours every runtime keeps
(answers, precisions, files, bundles) are tests/mitra/runtimes/test_runtime_suite.py."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from wlearn_mitra.engine import MitraEngine

openvino = pytest.importorskip("openvino")
from wlearn_mitra.runtimes import _openvino  # noqa: E402

from _paths import fixtures_dir

ONNX = fixtures_dir("onnx")
CLF, REG = ONNX / "tiny-mitra-classifier.onnx", ONNX / "tiny-mitra-regressor.onnx"


def has_bf16() -> bool:
    return "BF16" in _openvino.core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def test_a_new_query_count_does_not_recompile(nan_rows):
    engine = MitraEngine(CLF, task="classification", runtime="openvino")
    before = _openvino.compilations
    xs, ys, xq = nan_rows(1, n_query=50)
    full = engine.predict(xs, ys, xq, n_classes=3)
    for rows, chunk in ((1, None), (7, None), (50, 9), (23, 2)):
        part = engine.predict(xs, ys, xq[:rows], n_classes=3, chunk_size=chunk)
        np.testing.assert_allclose(part, full[:rows], rtol=0, atol=1e-6)
    engine.predict(*nan_rows(2, n_support=33, n_features=3), n_classes=3)  # new support shape
    # another engine on the same model shares the compiled graphs
    MitraEngine(CLF, task="classification", runtime="openvino").predict(xs, ys, xq, n_classes=3)
    assert _openvino.compilations == before  # the pair was compiled when the engine opened
    fresh = MitraEngine(CLF, task="classification", runtime="openvino", threads=1)
    assert _openvino.compilations == before + 2  # another thread count: encoder + decoder
    fresh.predict(xs, ys, xq[:3], n_classes=3)
    assert _openvino.compilations == before + 2


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


def test_graphs_are_compiled_from_openvinos_own_format_kept_by_hash(tmp_path, nan_rows):
    # The process maps the saved weights instead of holding the float32 ones it read
    # (bench/README.md): one file per model identity and precision, whole or not at all.
    from wlearn_mitra.graphs._modelfile import sha256_of

    xs, ys, xq = nan_rows(6)
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


def test_encoding_hands_the_compiled_models_working_memory_back(nan_rows):
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

    xs, ys, xq = nan_rows(7)
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


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_outputs_kept_from_a_run_outlive_later_runs_and_the_memory_hand_back(
        nan_rows, precision):
    # A run's outputs are the request's tensors, not copies: an encoded support set kept in
    # the cache must not change when the encoder runs again, hands its memory back, or the
    # process allocates more.
    if precision == "bf16" and not has_bf16():
        pytest.skip("no bf16 on this CPU")
    engine = MitraEngine(CLF, task="classification", runtime="openvino", threads=1,
                         split="derive", precision=precision)
    xs, ys, xq = nan_rows(3, n_support=60)
    encoded = engine.encode(xs, ys)
    kept = [np.array(part, copy=True) for part in encoded]
    want = engine.decode(encoded, xq)
    for i in range(3):
        other_xs, other_ys, _ = nan_rows(40 + i, n_support=60 + 25 * i)
        engine.encode(other_xs, other_ys)
        filler = np.ones(2_000_000, np.float32)  # memory handed back may be reused
        assert all(np.array_equal(a, b, equal_nan=True) for a, b in zip(encoded, kept))
        del filler
    np.testing.assert_array_equal(engine.decode(encoded, xq), want)


def test_threads_encoding_at_once_get_the_serial_answers(nan_rows):
    # Releasing an encoder's memory while another thread runs on it must neither fail nor
    # change answers (a Dask worker runs tasks on threads sharing one engine).
    from concurrent.futures import ThreadPoolExecutor

    engine = MitraEngine(CLF, task="classification", runtime="openvino", precision="fp32",
                         split="derive", cache_mb=1)
    sets = [nan_rows(20 + i, n_support=40 + 7 * i) for i in range(6)]
    want = [engine.predict(xs, ys, xq, n_classes=3) for xs, ys, xq in sets]
    with ThreadPoolExecutor(4) as pool:
        for _ in range(3):
            got = list(pool.map(lambda s: engine.predict(*s, n_classes=3), sets))
            for g, w in zip(got, want):
                np.testing.assert_array_equal(g, w)
