"""What the engine keeps must leave with the estimator that needed it: encoded support sets of
estimators that no longer exist are not held until cache_mb (2 GB) is full. And the progress
bar counts query rows, not rows x members."""

from __future__ import annotations

import gc
import io
import warnings

import numpy as np
import pytest

from wlearn_mitra import MitraClassifier, MitraRegressor

from _paths import fixtures_dir

ONNX = fixtures_dir("onnx")


@pytest.mark.parametrize(("cls", "model"), [
    (MitraClassifier, ONNX / "tiny-mitra-classifier.onnx"),
    (MitraRegressor, ONNX / "tiny-mitra-regressor.onnx"),
])
def test_the_support_cache_holds_nothing_for_dead_estimators(cls, model):
    pytest.importorskip("onnx")  # the support cache is cut with it
    rng = np.random.default_rng(0)
    # the engine is shared with other tests' live estimators: count only this loop's entries
    X = rng.normal(size=(30, 4))
    probe = cls(onnx=str(model)).fit(X, (X[:, 0] > 0).astype(int) if cls is MitraClassifier
                                     else X[:, 0])
    engine = probe._open().engine
    del probe
    gc.collect()
    before, owners = len(engine.cache), engine.cache.n_owners
    for i in range(60):  # a GridSearchCV-style loop: new, undisposed estimators
        X = rng.normal(size=(30, 4))
        y = (X[:, 0] > 0).astype(int) if cls is MitraClassifier else X[:, 0]
        est = cls(onnx=str(model), n_estimators=1 + i % 2).fit(X, y)
        est.predict(X[:5])
        est.predict(X[5:9])  # a support set is encoded and kept from its second predict on
        engine = est._open().engine
        assert engine.uses_cache
        assert len(engine.cache) >= 1
    alive = len(engine.cache)
    del est
    gc.collect()
    assert len(engine.cache) == before, f"{len(engine.cache) - before} entries of dead estimators"
    assert engine.cache.n_owners == owners
    assert alive <= before + 2  # the last estimator's members only, at any time


def test_a_live_estimator_keeps_its_encoding_and_a_refit_drops_the_old(monkeypatch):
    pytest.importorskip("onnx")
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(30, 3)), np.arange(30) % 2
    est = MitraClassifier(onnx=str(ONNX / "tiny-mitra-classifier.onnx")).fit(X, y)
    engine = est._open().engine
    runs = []
    real = engine.encoder.run
    monkeypatch.setattr(engine.encoder, "run", lambda *a, **k: runs.append(1) or real(*a, **k))
    est.predict(X[:4])
    est.predict(X[4:9])
    assert len(runs) == 1  # encoded once while the estimator lives
    est.fit(X[::-1], y[::-1])
    est.predict(X[:4])
    gc.collect()
    assert len(engine.cache) == 1  # the first support set's encoding left with its array


def test_progress_bar_counts_query_rows_with_members(monkeypatch):
    tqdm = pytest.importorskip("tqdm")
    import tqdm.auto

    bars = []
    real = tqdm.auto.tqdm

    def recording(*args, **kwargs):
        kwargs["file"] = io.StringIO()
        bar = real(*args, **kwargs)
        bars.append(bar)
        return bar

    monkeypatch.setattr(tqdm.auto, "tqdm", recording)
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(40, 3)), np.arange(40) % 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        MitraClassifier(onnx=str(ONNX / "tiny-mitra-classifier.onnx"), n_estimators=4,
                        progress=True).fit(X, y).predict(X[:25])
    (bar,) = bars
    assert bar.total == 25 and bar.n == 25
    assert "4 members" in bar.desc


@pytest.mark.parametrize("n_estimators", [1, 3])
def test_progress_is_one_report_through_a_class_hierarchy(monkeypatch, n_estimators):
    """A hierarchy's nodes are parts of one predict: one bar, and a callback that runs once
    from 0 to its total (a node without support rows included); constant regression
    targets, answered without the model, report every row done."""
    tqdm = pytest.importorskip("tqdm")
    import tqdm.auto

    from wlearn_mitra import MitraRegressor

    bars = []
    real = tqdm.auto.tqdm

    def recording(*args, **kwargs):
        kwargs["file"] = io.StringIO()
        bars.append(real(*args, **kwargs))
        return bars[-1]

    monkeypatch.setattr(tqdm.auto, "tqdm", recording)
    rng = np.random.default_rng(2)
    X, Xq = rng.normal(size=(120, 3)), rng.normal(size=(20, 3))
    onnx = str(ONNX / "tiny-mitra-classifier.onnx")
    for max_support in (512, 5):  # 5 rows of 12 classes: some nodes have no rows
        seen = []
        MitraClassifier(onnx=onnx, n_estimators=n_estimators, max_support=max_support,
                        progress=lambda done, total: seen.append((done, total))).fit(
            X, np.arange(120) % 12).predict(Xq)
        totals = {total for _, total in seen}
        dones = [done for done, _ in seen]
        assert len(totals) == 1 and dones == sorted(dones) and dones[-1] == totals.pop()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        MitraClassifier(onnx=onnx, n_estimators=n_estimators, progress=True).fit(
            X, np.arange(120) % 12).predict(Xq)
    (bar,) = bars
    assert bar.n == bar.total
    seen = []
    MitraRegressor(onnx=str(ONNX / "tiny-mitra-regressor.onnx"),
                   progress=lambda done, total: seen.append((done, total))).fit(
        X, np.full(120, 2.0)).predict(Xq)
    assert seen == [(20, 20)]
