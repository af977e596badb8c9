"""Query chunking, the memory budget, progress and interrupts."""

from __future__ import annotations

import _thread
import threading
import time

import numpy as np
import onnxruntime  # noqa: F401  (imported before any timed interrupt below)
import pytest

from wlearn_mitra.engine._planning import bytes_per_query_row
from wlearn_mitra.graphs._onnxinfo import ModelShape
from wlearn_mitra.runtimes._ort import run_interruptible
from wlearn_mitra.engine import MitraEngine
from wlearn_mitra.engine._planning import plan, query_row_bytes, support_bytes


def data(seed, n_support=80, n_query=203, n_features=6):
    rng = np.random.default_rng(seed)
    xs = rng.normal(size=(n_support, n_features)).astype(np.float32)
    xq = rng.normal(size=(n_query, n_features)).astype(np.float32)
    return xs, np.arange(n_support) % 4, xq


@pytest.mark.parametrize("chunk_size", [3, 7, 64, 202, 203, 10_000])
def test_chunked_equals_one_pass(clf, reg, chunk_size):
    xs, ys, xq = data(0)
    whole = clf.forward(xs, ys, xq)[:, :4].astype(np.float64)
    whole = np.exp(whole - whole.max(1, keepdims=True))
    whole /= whole.sum(1, keepdims=True)
    got = clf.predict(xs, ys, xq, n_classes=4, chunk_size=chunk_size)
    np.testing.assert_allclose(got, whole, rtol=0, atol=1e-6)
    yr = ys / 3.0
    np.testing.assert_allclose(
        reg.predict(xs, yr, xq, chunk_size=chunk_size), reg.forward(xs, yr, xq), rtol=0, atol=1e-6
    )


def test_single_row_chunks_agree_to_float32_rounding(clf):
    # ONNX Runtime multiplies a one-row matrix with other kernels, which round differently
    xs, ys, xq = data(0, n_query=40)
    whole = clf.forward(xs, ys, xq)
    rows = np.concatenate([clf.forward(xs, ys, xq[i : i + 1]) for i in range(len(xq))])
    np.testing.assert_allclose(rows, whole, rtol=1e-5, atol=1e-5)
    got = clf.predict(xs, ys, xq, n_classes=4, chunk_size=1)
    want = clf.predict(xs, ys, xq, n_classes=4)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


def test_chunked_ensemble_equals_unchunked_ensemble(clf):
    xs, ys, xq = data(1)
    kwargs = dict(n_classes=4, n_estimators=3, seed=5)
    np.testing.assert_allclose(
        clf.predict(xs, ys, xq, chunk_size=9, **kwargs),
        clf.predict(xs, ys, xq, chunk_size=len(xq), **kwargs),
        rtol=0,
        atol=1e-6,
    )


def test_memory_budget_sets_the_chunk_rows():
    shape = ModelShape(dim=512, n_heads=4, n_slots=10)
    fixed, per_row = support_bytes(shape, 512, 10), query_row_bytes(shape, 512, 10)
    rows = plan(shape, 512, 10, max_memory_mb=512).rows
    assert rows == (512 * 2**20 - fixed) // per_row
    # a bigger support set or more features cost more per row
    assert bytes_per_query_row(shape, 1024, 10) > bytes_per_query_row(shape, 512, 10)
    assert bytes_per_query_row(shape, 512, 30) > bytes_per_query_row(shape, 512, 10)
    assert plan(shape, 512, 10, max_memory_mb=512, chunk_size=33).rows == 33


def test_budget_controls_how_many_runs_happen(clf):
    # the single graph's budget arithmetic (the cut pair's is planned with its cache)
    clf = MitraEngine(clf._source, task="classification", split=None)
    xs, ys, xq = data(2)
    calls = []
    fixed = support_bytes(clf.shape, len(xs), xs.shape[1])
    per_row = query_row_bytes(clf.shape, len(xs), xs.shape[1])
    budget_mb = (fixed + 50 * per_row) / 2**20  # the support side and room for 50 rows
    clf.predict(xs, ys, xq, n_classes=4, max_memory_mb=budget_mb, progress=lambda d, t: calls.append((d, t)))
    done = [d for d, _ in calls]
    assert len(done) == 5 and done[-1] == 203  # 203 rows need 5 runs of at most 50
    assert max(np.diff([0, *done])) <= 50
    assert {t for _, t in calls} == {203}


def test_progress_counts_every_member(clf):
    xs, ys, xq = data(3, n_query=30)
    calls = []
    clf.predict(xs, ys, xq, n_classes=4, n_estimators=2, chunk_size=16, progress=lambda d, t: calls.append(d))
    assert calls == [15, 30, 45, 60]  # two even chunks per member


def test_interrupt_from_progress_leaves_the_engine_usable(clf):
    xs, ys, xq = data(4)
    before = clf.predict(xs, ys, xq, n_classes=4)

    def stop(done, total):
        if done >= 40:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        clf.predict(xs, ys, xq, n_classes=4, chunk_size=20, progress=stop)
    np.testing.assert_array_equal(clf.predict(xs, ys, xq, n_classes=4), before)


class _SlowSession:
    """Stands in for an InferenceSession whose run only ends when told to terminate."""

    def __init__(self):
        self.terminated = threading.Event()

    def run(self, outputs, feeds, options):
        deadline = time.monotonic() + 60  # generous: a loaded machine delays the Timer
        while not options.terminate:
            if time.monotonic() > deadline:
                return ["finished"]
            time.sleep(0.01)
        self.terminated.set()
        raise RuntimeError("Exiting due to terminate flag being set to true.")


def test_ctrl_c_terminates_the_running_graph(request):
    import signal

    # Ctrl-C as Python handles it by default, whatever handler an earlier test left installed
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    request.addfinalizer(lambda: signal.signal(signal.SIGINT, previous))
    session = _SlowSession()
    timer = threading.Timer(0.2, _thread.interrupt_main)
    timer.start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run_interruptible(session, None, {})
    assert time.monotonic() - started < 5
    assert session.terminated.is_set()
    time.sleep(0.05)
    assert not any(t.name == "mitra-run" for t in threading.enumerate())
