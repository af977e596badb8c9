"""Scoring on Dask: a LocalCluster of worker processes gives the serial predictions, each worker
opens the model once and encodes the support set once, and dask-ml's ParallelPostFit works."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from wlearn_mitra import MitraClassifier, MitraModel, MitraRegressor

from _paths import fixtures_dir

EXTRA = "needs the dask extra: pip install './plugins/mitra[dask]' (dask, distributed)"
da = pytest.importorskip("dask.array", reason=EXTRA)
dd = pytest.importorskip("dask.dataframe", reason=EXTRA)
distributed = pytest.importorskip("distributed", reason=EXTRA)
pd = pytest.importorskip("pandas", reason=EXTRA)

pytestmark = pytest.mark.slow

FIXTURES = fixtures_dir("onnx")
N_WORKERS = 2


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """The tiny models; with the converter installed, with their support encoder/decoder pair
    next to them (so workers can keep encoded support sets), else the single graphs."""
    try:
        from wlearn_mitra.convert.export import convert
    except ImportError:
        return {"classification": FIXTURES / "tiny-mitra-classifier.onnx",
                "regression": FIXTURES / "tiny-mitra-regressor.onnx"}
    root = tmp_path_factory.mktemp("dask-models")
    return {
        task: convert(FIXTURES / f"tiny-mitra-{variant}", root / f"{variant}.onnx", split=True)
        for task, variant in (("classification", "classifier"), ("regression", "regressor"))
    }


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=N_WORKERS, threads_per_worker=1, processes=True, dashboard_address=None,
        env={"WLEARN_MITRA_THREADS": "1"},
    )
    with distributed.Client(cluster) as client:
        yield client
    cluster.close()


def data(n=900, n_features=5, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = y[:, None] + rng.normal(scale=0.8, size=(n, n_features))
    X[rng.random(X.shape) < 0.03] = np.nan  # imputed with the support means
    return X, y


def _count_opens() -> None:
    """In a worker: count engines opened and support sets encoded from now on."""
    from wlearn_mitra.engine import _encoded as _cache, _shared as _sources

    base = _sources.MitraEngine

    class Counted(base):
        opened = 0
        encoded = 0

        def __init__(self, *args, **kwargs):
            type(self).opened += 1
            super().__init__(*args, **kwargs)

    original_put = _cache.SupportCache.put

    def put(self, key, entry):
        Counted.encoded += 1
        original_put(self, key, entry)

    _sources.MitraEngine = Counted
    _cache.SupportCache.put = put
    _sources._cache.clear()
    _sources._recent.clear()


def _counts() -> tuple[int, int, int | None]:
    from wlearn_mitra.engine import _shared as _sources

    engine = _sources.MitraEngine
    return engine.opened, engine.encoded, _sources.threads()


def test_dask_array_predictions_equal_the_serial_ones(client, models):
    X, y = data()
    model = MitraClassifier(onnx=str(models["classification"]), max_support=200).fit(X, y)
    expected = model.predict_proba(X)
    client.run(_count_opens)
    chunks = da.from_array(X, chunks=(75, X.shape[1]))  # 12 partitions over 2 workers
    proba = chunks.map_blocks(model.predict_proba, chunks=(75, 3), dtype=np.float64)
    labels = chunks.map_blocks(model.predict, drop_axis=1, dtype=y.dtype)
    got_proba, got_labels = client.compute([proba, labels], sync=True)
    np.testing.assert_allclose(got_proba, expected, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(got_labels, model.classes_[expected.argmax(axis=1)])

    counts = client.run(_counts)
    assert len(counts) == N_WORKERS
    for opened, encoded, threads in counts.values():
        assert threads == 1
        # Each worker ran several partitions, but opened the model and encoded the support
        # set (with the split pair) at most once.
        assert opened <= 1
        assert encoded <= (1 if model._open().engine.uses_cache else 0)
    assert sum(opened for opened, _, _ in counts.values()) >= 1


def test_dask_dataframe_predictions_equal_the_serial_ones(client, models):
    X, y = data(seed=1)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    target = np.nan_to_num(X[:, 0]) * 3.0 + np.nan_to_num(X[:, 1])
    model = MitraRegressor(onnx=str(models["regression"])).fit(frame, target)
    expected = model.predict(frame)
    ddf = dd.from_pandas(frame, npartitions=7)
    scores = ddf.map_partitions(
        lambda part: pd.Series(model.predict(part), index=part.index), meta=("score", "f8")
    )
    got = scores.compute()
    np.testing.assert_allclose(got.to_numpy(), expected, rtol=1e-6, atol=1e-6)
    assert (got.index == frame.index).all()


def test_mitra_model_predicts_the_same_on_workers(client, models):
    X, y = data(seed=2)
    model = MitraModel(classifier_onnx=str(models["classification"])).fit(X, y)
    got = da.from_array(X, chunks=(100, X.shape[1])).map_blocks(
        model.predict, drop_axis=1, dtype=y.dtype).compute()
    np.testing.assert_array_equal(got, model.predict(X))


def test_dask_ml_parallel_post_fit(client, models):
    wrappers = pytest.importorskip("dask_ml.wrappers", reason="needs dask-ml: pip install dask-ml")
    X, y = data(seed=3)
    serial = MitraClassifier(onnx=str(models["classification"])).fit(X, y)
    wrapped = wrappers.ParallelPostFit(MitraClassifier(onnx=str(models["classification"])))
    wrapped.fit(X, y)
    chunks = da.from_array(X, chunks=(150, X.shape[1]))
    np.testing.assert_array_equal(wrapped.predict(chunks).compute(), serial.predict(X))
    np.testing.assert_allclose(
        wrapped.predict_proba(chunks).compute(), serial.predict_proba(X), rtol=0, atol=1e-6
    )
    assert wrapped.score(chunks, da.from_array(y, chunks=150)) == pytest.approx(serial.score(X, y))


def test_a_worker_with_another_model_at_the_path_refuses(client, models, tmp_path):
    """The hash travels with the pickle: a worker whose file differs says so."""
    import shutil

    path = tmp_path / "model.onnx"
    shutil.copy(FIXTURES / "tiny-mitra-classifier.onnx", path)
    X, y = data(n=120, seed=4)
    model = MitraClassifier(onnx=str(path)).fit(X, y)
    shutil.copy(models["classification"], path)  # same weights, other file: other hash
    chunks = da.from_array(X, chunks=(60, X.shape[1]))
    with pytest.raises(Exception, match="was fitted with the model"):
        chunks.map_blocks(model.predict, drop_axis=1, dtype=y.dtype).compute()


def test_the_scale_out_benchmark_runs(monkeypatch, capsys):
    """bench/bench_dask.py on a few rows (its figures are read by people, not asserted)."""
    import runpy
    import sys

    bench = Path(__file__).resolve().parents[2] / "bench" / "bench_dask.py"
    monkeypatch.setattr(sys, "argv", [str(bench), "--rows", "3000", "--workers", "1",
                                      "--partition-rows", "1000", "--support", "64"])
    with pytest.raises(SystemExit) as done:
        runpy.run_path(str(bench), run_name="__main__")
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "1 worker(s) x" in out and "rows/s" in out and "peak RSS per worker" in out


def test_a_dask_dataframe_given_whole_is_refused_with_the_way_to_go():
    from wlearn.errors import ValidationError

    reg_onnx = FIXTURES / "tiny-mitra-regressor.onnx"
    frame = pd.DataFrame(np.random.default_rng(0).normal(size=(40, 3)), columns=list("abc"))
    model = MitraRegressor(onnx=reg_onnx).fit(frame, frame["a"])
    lazy = dd.from_pandas(frame, npartitions=2)
    for call in (lambda: model.predict(lazy),
                 lambda: MitraRegressor(onnx=reg_onnx).fit(lazy, frame["a"])):
        with pytest.raises(ValidationError, match=r"Dask DataFrame.*map_partitions"):
            call()
    np.testing.assert_array_equal(  # the documented way: partition by partition
        np.asarray(lazy.map_partitions(model.predict, meta=("p", "f8")).compute()),
        model.predict(frame))
