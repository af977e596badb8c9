"""ONNX Runtime sessions allocate from one shared CPU arena (runtimes/_ort.shared_arena): a run's
freed working memory serves the next run of any graph, so a predict hands nothing back to the
system between its runs (which made every next run fault its memory in again), and its answers
are bit for bit those of sessions with arenas of their own."""

from __future__ import annotations

import numpy as np
import pytest

from wlearn_mitra.engine import MitraEngine
from wlearn_mitra.graphs import _builtin
from wlearn_mitra.runtimes import _ort

pytest.importorskip("onnx")  # the built-in model's support-cache pair is cut with it


def _engine() -> MitraEngine:
    """The built-in classifier with its pair open, as from a support set's second predict
    on (the first runs the single graph: tests/mitra/test_first_use.py)."""
    engine = MitraEngine(_builtin.path("classification"), task="classification", threads=1)
    engine.graphs.open_pair()
    return engine


def _recorded(monkeypatch) -> list:
    shrinks = []
    run = _ort.run_interruptible

    def recording(session, outputs, feeds, *, shrink_arena=False):
        shrinks.append(shrink_arena)
        return run(session, outputs, feeds, shrink_arena=shrink_arena)

    monkeypatch.setattr(_ort, "run_interruptible", recording)
    return shrinks


def _data(seed: int = 0, n_support: int = 60, n_query: int = 40, n_features: int = 5):
    rng = np.random.default_rng(seed)
    xs = rng.normal(size=(n_support, n_features))
    ys = np.arange(n_support) % 3
    return xs, ys, rng.normal(size=(n_query, n_features))


def test_a_predict_hands_nothing_back_between_its_runs(monkeypatch):
    engine = _engine()
    assert engine.uses_cache and engine.graphs.encoder.shares_arena
    assert engine.graphs.decoder.shares_arena
    shrinks = _recorded(monkeypatch)
    engine.predict(*_data(), n_classes=3, n_estimators=4)
    # four encodes and four decodes, none handing its memory back (7 did before)
    assert len(shrinks) == 8 and not any(shrinks)


def test_a_session_made_elsewhere_keeps_its_own_arena_and_hands_it_back(monkeypatch):
    import onnxruntime as ort

    session = ort.InferenceSession(_builtin.path("classification"),
                                   providers=["CPUExecutionProvider"])
    graph = _ort.OrtGraph(session)
    assert not graph.shares_arena
    shrinks = _recorded(monkeypatch)
    xs, ys, xq = _data()
    feeds = {"x_support": xs[None].astype(np.float32), "y_support": ys[None].astype(np.int64),
             "x_query": xq[None].astype(np.float32),
             "padding_obs_support": np.zeros((1, len(xs)), dtype=bool)}
    graph.run(["output"], feeds, one_off=True)
    assert shrinks == [True]


def _toy_sets():
    from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine

    rows = np.random.default_rng(0).permutation
    for load in (load_iris, load_wine, load_breast_cancer, load_digits):
        X, y = load(return_X_y=True)
        order = rows(len(X))[:240]  # 120 support and 120 query rows of each
        classes, y = np.unique(y[order], return_inverse=True)
        yield load.__name__, X[order], y, len(classes)


def test_answers_are_bit_identical_to_sessions_with_their_own_arenas(monkeypatch):
    pytest.importorskip("sklearn")
    shared = _engine()
    monkeypatch.setattr(_ort, "shared_arena", lambda: False)
    own = _engine()
    assert not own.graphs.encoder.shares_arena and shared.graphs.encoder.shares_arena
    for name, X, y, n_classes in _toy_sets():
        for n_estimators in (1, 4):
            args = (X[:120], y[:120], X[120:])
            a = shared.predict(*args, n_classes=n_classes, n_estimators=n_estimators)
            b = own.predict(*args, n_classes=n_classes, n_estimators=n_estimators)
            assert np.array_equal(a, b), (name, n_estimators)


def test_a_support_pass_over_the_bound_still_hands_its_memory_back(monkeypatch):
    """Only runs whose estimated working memory is over ``_runs.KEEP_MB`` (a long context's
    support pass) give their memory back to the system; the decoder's never need to."""
    from wlearn_mitra.engine import _runs

    engine = _engine()
    monkeypatch.setattr(_runs, "KEEP_MB", 0)
    shrinks = _recorded(monkeypatch)
    engine.predict(*_data(seed=1), n_classes=3, n_estimators=2)
    assert shrinks == [True, False, True, False]  # encode, decode, encode, decode
