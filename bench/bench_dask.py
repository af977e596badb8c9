"""Scoring many rows with Mitra on a Dask LocalCluster of worker processes: rows/s and peak RSS
per worker, for each number of workers.

    python bench/bench_dask.py                              # 1,000,000 rows; 1 and 2 workers
    python bench/bench_dask.py --rows 20000 --workers 1     # a smoke run (never timed here)

The model is the tiny Mitra classifier shipped with wlearn-mitra (dim 32, 2 layers: it
measures the machinery around the model, scheduling, pickles, data movement, more than the
model), converted with its support encoder/decoder pair when the ``convert`` extra is there
(``--model PATH`` for another single graph; its pair is used if it sits next to it). The
query rows are generated on the workers, partition by partition (``--partition-rows``), so the
client never holds them; each partition's probabilities are reduced to per-class sums there,
so the result is small and the run measures scoring, not gathering.

Per worker count: a fresh cluster (``threads_per_worker=1``, ``WLEARN_MITRA_THREADS`` =
cores / workers unless ``--ort-threads``), a warm-up partition per worker (the model opened,
the support set encoded: reported as "open"), then the timed run over all rows. Reported:
rows/s, and per worker its peak RSS (VmHWM) and its RSS before the model was opened. One
partition is checked against the serial prediction before anything is timed.

Needs the ``dask`` extra (dask[array,dataframe], distributed) and psutil.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

import numpy as np

from benchlib.mitra import hwm_mb, rss_mb

N_CLASSES = 3


def prepare_model(model: Path | None, folder: Path) -> tuple[Path, bool]:
    """The single graph to use and whether its encoder/decoder pair sits next to it."""
    from wlearn_mitra.graphs._layout import split_paths

    if model is not None:
        return model, all(p.is_file() for p in split_paths(model))
    tiny = folder / "tiny-mitra-classifier.onnx"
    with resources.as_file(
        resources.files("wlearn_mitra").joinpath("data", "tiny-mitra-classifier.onnx")
    ) as shipped:
        shutil.copy(shipped, tiny)
    try:
        from wlearn_mitra.convert.export import convert
    except ImportError:
        print("note: no convert extra (torch): the single graph runs, without support cache")
        return tiny, False
    converted = folder / "tiny-split.onnx"
    convert(tiny, converted, split=True)
    return converted, True


def support_set(n_support: int, n_features: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = np.arange(n_support) % N_CLASSES
    X = y[:, None] + rng.normal(scale=0.8, size=(n_support, n_features))
    return X, y


def query_rows(block_id: int, rows: int, n_features: int) -> np.ndarray:
    """One partition's query rows, made on the worker from its index."""
    rng = np.random.default_rng(1000 + block_id)
    return rng.integers(0, N_CLASSES, rows)[:, None] + rng.normal(scale=0.8, size=(rows, n_features))


def score_partition(model, block_id: int, rows: int, n_features: int) -> np.ndarray:
    """Per-class probability sums and the row count of one partition."""
    proba = model.predict_proba(query_rows(block_id, rows, n_features))
    return np.append(proba.sum(axis=0), len(proba))


def worker_memory() -> dict:
    return {"rss_mb": rss_mb(), "peak_rss_mb": hwm_mb()}


def partitions(n_rows: int, size: int) -> list[int]:
    sizes = [size] * (n_rows // size)
    if n_rows % size:
        sizes.append(n_rows % size)
    return sizes


def run_workers(args, n_workers: int, model_path: Path) -> dict:
    import dask
    from distributed import Client, LocalCluster, wait

    from wlearn_mitra import MitraClassifier

    cores = os.cpu_count() or 1
    ort_threads = args.ort_threads or max(1, cores // n_workers)
    X, y = support_set(args.support, args.features)
    model = MitraClassifier(onnx=str(model_path), max_support=args.support,
                            precision=args.precision).fit(X, y)
    sizes = partitions(args.rows, args.partition_rows)

    cluster = LocalCluster(
        n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None,
        env={"WLEARN_MITRA_THREADS": str(ort_threads)}, memory_limit=args.memory_limit,
    )
    try:
        with Client(cluster) as client:
            before = client.run(worker_memory)
            # The same fitted model object everywhere: scattered once, not pickled per task.
            [shared] = client.scatter([model], broadcast=True)
            workers = sorted(client.scheduler_info()["workers"])

            # Warm-up: one partition per worker opens its model and encodes the support set.
            start = time.perf_counter()
            warm = [client.submit(score_partition, shared, -1 - i, args.partition_rows,
                                  args.features, workers=[w], pure=False)
                    for i, w in enumerate(workers)]
            wait(warm)
            open_seconds = time.perf_counter() - start
            check = client.submit(query_rows, 0, sizes[0], args.features).result()
            got = client.submit(lambda m, x: m.predict_proba(x), shared, check).result()
            np.testing.assert_allclose(got, model.predict_proba(check), rtol=0, atol=1e-6)

            tasks = [dask.delayed(score_partition)(shared, i, rows, args.features)
                     for i, rows in enumerate(sizes)]
            start = time.perf_counter()
            totals = dask.compute(*tasks)
            seconds = time.perf_counter() - start
            total = np.sum(totals, axis=0)
            assert int(total[-1]) == args.rows, "every row scored once"
            assert abs(total[:-1].sum() - args.rows) < 1e-6 * args.rows, "probabilities sum to 1"
            after = client.run(worker_memory)
    finally:
        cluster.close()
    return {
        "workers": n_workers,
        "precision": args.precision,
        "ort_threads_per_worker": ort_threads,
        "rows": args.rows,
        "partitions": len(sizes),
        "open_seconds": open_seconds,
        "seconds": seconds,
        "rows_per_second": args.rows / seconds,
        "rows_per_second_per_core": args.rows / seconds / min(cores, n_workers * ort_threads),
        "worker_rss_before_model_mb": [round(m["rss_mb"]) for m in before.values()],
        "worker_peak_rss_mb": [round(m["peak_rss_mb"]) for m in after.values()],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workers", default="1,2", help="worker counts, comma-separated")
    parser.add_argument("--partition-rows", type=int, default=50_000)
    parser.add_argument("--support", type=int, default=512)
    parser.add_argument("--features", type=int, default=10)
    parser.add_argument("--ort-threads", type=int, default=None,
                        help="ONNX Runtime threads per worker (default: cores / workers)")
    parser.add_argument("--precision", choices=("fp32", "int8"), default="fp32")
    parser.add_argument("--memory-limit", default="auto", help="Dask's memory limit per worker")
    parser.add_argument("--model", type=Path, default=None,
                        help="a Mitra classifier single graph (default: the shipped tiny one)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()

    results = []
    with tempfile.TemporaryDirectory() as folder:
        model, split = prepare_model(args.model, Path(folder))
        print(f"model {model.name} ({'with' if split else 'without'} its encoder/decoder pair), "
              f"support {args.support} x {args.features}, {args.rows:,} rows in partitions of "
              f"{args.partition_rows:,}, {os.cpu_count()} cores")
        for n_workers in (int(n) for n in args.workers.split(",")):
            result = run_workers(args, n_workers, model)
            results.append(result)
            print(f"{n_workers} worker(s) x {result['ort_threads_per_worker']} ORT thread(s): "
                  f"{result['rows_per_second']:,.0f} rows/s "
                  f"({result['rows_per_second_per_core']:,.0f} per core), "
                  f"{result['seconds']:.1f} s for {result['rows']:,} rows in "
                  f"{result['partitions']} partitions; open + first partition "
                  f"{result['open_seconds']:.1f} s; peak RSS per worker "
                  f"{result['worker_peak_rss_mb']} MB (before the model: "
                  f"{result['worker_rss_before_model_mb']} MB)")
    if len(results) > 1:
        base = results[0]["rows_per_second"]
        for result in results[1:]:
            print(f"{result['workers']} / {results[0]['workers']} workers: "
                  f"{result['rows_per_second'] / base:.2f}x the rows/s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
