"""A support set's first predict runs the single graph; the encoder/decoder pair opens when a
support set comes back (engine/_engine.py, spec/mitra.md "The support cache").

The first predict then holds the weights once and keeps nothing, as a bare session would; its
answers must equal the pair's bit for bit, on every model the package ships, or a user's
second predict would differ from the first.
"""

from __future__ import annotations

import numpy as np
import pytest

from wlearn_mitra.engine import MitraEngine, _graphset, _planning, _runs
from wlearn_mitra.graphs import _builtin

from _paths import fixtures_dir

pytest.importorskip("onnx")  # the pair is cut with it

ONNX = fixtures_dir("onnx")


def _converted(tmp_path_factory, variant):
    pytest.importorskip("torch")
    from wlearn_mitra.convert.export import convert

    out = tmp_path_factory.mktemp("converted") / f"{variant}.onnx"
    return convert(ONNX / f"tiny-mitra-{variant}", out, split=True)  # its pair beside it


MODELS = {
    "tiny-js-classifier": (lambda _: ONNX / "tiny-mitra-classifier.onnx", "classification"),
    "tiny-js-regressor": (lambda _: ONNX / "tiny-mitra-regressor.onnx", "regression"),
    "builtin-classifier": (lambda _: _builtin.path("classification"), "classification"),
    "builtin-regressor-bins": (lambda _: _builtin.path("regression"), "regression"),
    "builtin-regressor-0.1.0": (
        lambda _: next(iter(_builtin.previous("regression").values())), "regression"),
    "converted-classifier": (lambda f: _converted(f, "classifier"), "classification"),
    "converted-regressor": (lambda f: _converted(f, "regressor"), "regression"),
}


@pytest.fixture(autouse=True)
def _every_model_opens_its_pair_lazily(monkeypatch):
    """Only models of 64 MB or more wait with their pair by default (a full-size Mitra, as
    bench_first_answer.py measures); the rule is tested on every shipped model here."""
    monkeypatch.setattr(_graphset, "LAZY_PAIR_MIN_BYTES", 0)


@pytest.fixture(scope="module", params=sorted(MODELS))
def model(request, tmp_path_factory):
    make, task = MODELS[request.param]
    return make(tmp_path_factory), task


def _data(task, seed=0, n_support=90, n_query=70, n_features=7):
    rng = np.random.default_rng(seed)
    xs = rng.normal(size=(n_support, n_features))
    xs[rng.random(xs.shape) < 0.05] = np.nan
    xs[:, 1] = np.round(xs[:, 1])  # ties
    xq = rng.normal(size=(n_query, n_features))
    ys = np.arange(n_support) % 3 if task == "classification" else xs[:, 0] * 0.1
    if task == "regression":
        ys = np.nan_to_num(ys) * 0.5 + 0.5  # in the model's scale ([0, 1] for a bin head)
    return xs, ys, xq


class _Runs:
    """Counts the raw runs of the engine's predicts."""

    def __init__(self, monkeypatch):
        self.single = self.encoder = self.decoder = 0
        for name, field in (("forward", "single"), ("_encoded", "encoder"),
                            ("decode", "decoder")):
            real = getattr(_runs, name)

            def counted(*args, real=real, field=field, **kwargs):
                setattr(self, field, getattr(self, field) + 1)
                return real(*args, **kwargs)

            monkeypatch.setattr(_runs, name, counted)

    def __call__(self):
        return self.single, self.encoder, self.decoder


@pytest.mark.parametrize("n_estimators", [1, 3])
def test_first_predict_runs_the_single_graph_then_the_pair_bit_identically(model, monkeypatch,
                                                                           n_estimators):
    path, task = model
    engine = MitraEngine(path, task=task)
    assert engine.graphs.pair_pending and engine.uses_cache
    xs, ys, xq = _data(task)
    kwargs = {"n_classes": 3} if task == "classification" else {}
    runs = _Runs(monkeypatch)
    first = engine.predict(xs, ys, xq, n_estimators=n_estimators, seed=3, **kwargs)
    # one run of the single graph per member; the pair still closed, nothing kept
    assert runs() == (n_estimators, 0, 0)
    assert engine.graphs.pair_pending and len(engine.cache) == 0
    second = engine.predict(xs, ys, xq, n_estimators=n_estimators, seed=3, **kwargs)
    # the support sets came back: encoded (each member's view), kept, decoded
    assert runs() == (n_estimators, n_estimators, n_estimators)
    assert not engine.graphs.pair_pending and len(engine.cache) == n_estimators
    assert engine.graphs._single is None  # the single graph's weights are let go
    third = engine.predict(xs, ys, xq[:9], n_estimators=n_estimators, seed=3, **kwargs)
    assert runs() == (n_estimators, n_estimators, 2 * n_estimators)
    assert np.array_equal(first, second)
    assert np.array_equal(first[:9], third)
    # and a new support set, once the pair is open, goes through it as before
    other = _data(task, seed=1)
    engine.predict(*other, **kwargs)
    assert runs() == (n_estimators, n_estimators + 1, 2 * n_estimators + 1)
    single = MitraEngine(path, task=task, split=None)
    assert np.array_equal(single.predict(*other, **kwargs), engine.predict(*other, **kwargs))


def test_the_first_predict_of_a_lone_query_row_equals_the_pairs(model):
    path, task = model
    xs, ys, xq = _data(task, seed=2)
    kwargs = {"n_classes": 3} if task == "classification" else {}
    engine = MitraEngine(path, task=task)
    lone = [engine.predict(xs, ys, xq[:1], **kwargs) for _ in range(2)]
    assert np.array_equal(*lone) and not engine.graphs.pair_pending


def test_what_keeps_the_pair_on_a_first_predict(monkeypatch):
    """A chunk size or a memory budget asked for, a query side too large for one run, int8,
    OpenVINO or a pair given by the user: the pair as before (opened at once, or at the first
    predict), never the single graph's one run."""
    path = _builtin.path("classification")
    xs, ys, xq = _data("classification")
    runs = _Runs(monkeypatch)
    for kwargs in ({"chunk_size": 16}, {"max_memory_mb": 4000}):
        engine = MitraEngine(path, task="classification")
        engine.predict(xs, ys, xq, n_classes=3, **kwargs)
        assert not engine.graphs.pair_pending
    assert runs() == (0, 2, 6)
    from wlearn_mitra.engine import _engine

    monkeypatch.setattr(_engine, "single_first_fits",
                        lambda *args: False)
    engine = MitraEngine(path, task="classification")
    engine.predict(xs, ys, xq, n_classes=3)
    assert runs() == (0, 3, 7) and not engine.graphs.pair_pending
    assert not MitraEngine(path, task="classification", precision="int8").graphs.pair_pending
    pair = tuple(part.path for part in MitraEngine(path, task="classification").graphs._pending)
    assert not MitraEngine(path, task="classification", split=pair).graphs.pair_pending


def test_the_memory_rule_compares_one_run_with_the_cached_way():
    shape = MitraEngine(_builtin.path("classification"), task="classification").shape
    full = _planning.ModelShape(dim=512, n_heads=4, n_slots=10)
    # W1 and W3 of bench_first_answer.py: one run of every query row
    assert _planning.single_first_fits(full, 512, 10, 256, 12)
    assert _planning.single_first_fits(full, 1024, 30, 512, 12)
    # a query side many times the encoded set is decoded in chunks against it
    assert not _planning.single_first_fits(full, 512, 10, 5_000, 12)
    assert not _planning.single_first_fits(shape, 100, 5, 1_000_000, 3)


def test_two_threads_open_the_pair_once():
    import threading

    engine = MitraEngine(_builtin.path("classification"), task="classification")
    xs, ys, xq = _data("classification")
    engine.predict(xs, ys, xq, n_classes=3)
    opened = []
    real = engine.graphs._open_pair
    engine.graphs._open_pair = lambda sources: opened.append(1) or real(sources)
    results = [None, None]

    def work(i):
        results[i] = engine.predict(xs, ys, xq, n_classes=3)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert opened == [1] and np.array_equal(*results)


def test_a_support_set_comes_back_only_while_its_estimator_lives():
    """Digests noted for an owner (the estimators pass their support array) go with it: a
    new estimator fit on the same rows predicts for the first time again (a GridSearchCV or a
    benchmark's rounds), while the same estimator's second predict opens the pair."""
    import gc

    from wlearn_mitra.engine._encoded import SupportCache

    cache = SupportCache()

    class Owner:
        pass

    first, second = Owner(), Owner()
    assert not cache.seen_before("a", first) and cache.seen_before("a", first)
    assert not cache.seen_before("b", second)
    del second
    gc.collect()
    assert not cache.seen_before("b")  # its owner died: noted anew, unowned
    assert cache.seen_before("b")
    # a key noted, then kept by another way (a chunked predict), is not lost when notes
    # overflow
    assert not cache.seen_before("c")
    cache.put("c", (np.zeros(3),))
    for index in range(4100):
        cache.seen_before(f"k{index}")
    assert cache.get("c") is not None and len(cache._seen) <= 4096


def test_estimators_predicting_once_never_open_the_pair(tmp_path):
    import gc
    import shutil

    from wlearn_mitra import MitraClassifier

    path = tmp_path / "model.onnx"  # an engine of its own (engines are shared by path)
    shutil.copyfile(_builtin.path("classification"), path)
    xs, ys, xq = _data("classification", seed=5)
    xs = np.nan_to_num(xs)
    for _ in range(3):  # refits on the same rows: each a first predict
        model = MitraClassifier(onnx=path).fit(xs, ys)
        engine = model._open().engine
        model.predict_proba(xq)
        del model
        gc.collect()
    assert engine.graphs.pair_pending and len(engine.cache) == 0
    model = MitraClassifier(onnx=path).fit(xs, ys)
    once = model.predict_proba(xq)
    assert np.array_equal(model.predict_proba(xq), once)
    assert not engine.graphs.pair_pending and len(engine.cache) >= 1


def test_only_large_models_wait_with_their_pair(monkeypatch):
    path = _builtin.path("classification")
    monkeypatch.setattr(_graphset, "LAZY_PAIR_MIN_BYTES", 64 * 2**20)
    assert not MitraEngine(path, task="classification").graphs.pair_pending  # 3 MB
    size = len(open(path, "rb").read())
    monkeypatch.setattr(_graphset, "LAZY_PAIR_MIN_BYTES", size)
    assert MitraEngine(path, task="classification").graphs.pair_pending
    monkeypatch.setattr(_graphset, "LAZY_PAIR_MIN_BYTES", size + 1)
    assert not MitraEngine(path, task="classification").graphs.pair_pending
