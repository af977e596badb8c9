"""Prediction intervals of a bin-head Mitra regressor on real tables: are they calibrated?

A bin-head regressor (``wlearn.mitra_onnx.regressor@2``, Mitra-v2's head) predicts a
distribution per row (spec/mitra.md "Predictive distributions"). On the real-table
benchmark's regression tables (``bench/benchlib/realtables.py``: main set 18, held-out 3), each split
50/50 over ``--seeds`` seeds exactly as ``bench_realtables.py`` splits them (the first half is
the support set), this measures for the central 50%, 80% and 90% intervals
(``MitraRegressor.predict_interval``):

- **coverage**: the share of held-out targets inside the interval (a calibrated 80%
  interval covers about 0.80), and the shares below its lower end and above its upper end;
- **width**: the mean interval width divided by the standard deviation of the held-out
  targets (so tables of any unit average together);
- **CRPS** of the whole distribution (exact for the histogram: the CDF is piecewise linear
  between bin edges) and the **pinball loss** at q = 0.1, 0.5, 0.9 (``predict_quantiles``),
  both divided by the held-out targets' standard deviation;
- **R^2 of the mean** (``predict``), next to 0.1.0's scalar built-in regressor's and
  RandomForest's R^2 on the same splits, read from ``--baselines`` (default
  ``bench/results/realtables-builtin.json``).

A reference that knows nothing of the features sits beside it: the **marginal** interval, the
training targets' own empirical quantiles, the same for every row (coverage near nominal by
construction; a useful model's interval is narrower at the same coverage), and its CRPS.

    python bench/bench_intervals.py --model /tmp/reg-bins.onnx [--seeds 5] [--sets main,held-out]
        [--tables a/b,c/d] [--json bench/results/intervals-bins.json]

The model: ``wlearn-mitra pretrain --run spec/pretraining/regressor-bins --steps 0 --no-eval
--onnx /tmp/reg-bins.onnx`` exports the committed bin-head run without training it (it writes
only the run's git-ignored ``checkpoint/``). One thread throughout.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
             "WLEARN_MITRA_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from sklearn.metrics import r2_score  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from benchlib import realtables  # noqa: E402
from benchlib.results import save_results  # noqa: E402

from wlearn_mitra import BuiltinModelWarning, MitraRegressor  # noqa: E402

HERE = Path(__file__).resolve().parent
COVERAGES = (0.5, 0.8, 0.9)
LEVELS = (0.1, 0.5, 0.9)


def crps_histogram(dist, y: np.ndarray) -> np.ndarray:
    """float64 [rows]: CRPS = integral of (F(x) - 1[x >= y])^2 dx for the histogram
    distribution ``dist`` (a BinnedDistribution: CDF piecewise linear between its edges, 0
    left of the first, 1 right of the last), exact."""
    y = np.asarray(y, dtype=np.float64)
    if dist.span == 0:
        return np.abs(y - dist.low)
    e = dist.edges
    p = dist.probabilities
    cum = np.concatenate([np.zeros((len(p), 1)), np.cumsum(p, axis=1)], axis=1)
    cum /= cum[:, -1:]
    a, b = e[:-1], e[1:]
    c0, c1 = cum[:, :-1], cum[:, 1:]
    width = b - a
    below = width * (c0 * c0 + c0 * c1 + c1 * c1) / 3  # bin left of y: integral of F^2
    d0, d1 = 1 - c0, 1 - c1
    above = width * (d0 * d0 + d0 * d1 + d1 * d1) / 3  # bin right of y: of (1 - F)^2
    yy = y[:, None]
    total = np.where(b <= yy, below, 0.0).sum(axis=1) + np.where(a >= yy, above, 0.0).sum(axis=1)
    # the bin holding y, split at y
    inside = (a < yy) & (yy < b)
    rows, bins = np.nonzero(inside)
    if len(rows):
        ya, yb = a[bins], b[bins]
        ca, cb = c0[rows, bins], c1[rows, bins]
        yv = y[rows]
        cy = ca + (cb - ca) * (yv - ya) / (yb - ya)
        left = (yv - ya) * (ca * ca + ca * cy + cy * cy) / 3
        ea, ey = 1 - cy, 1 - cb
        right = (yb - yv) * (ea * ea + ea * ey + ey * ey) / 3
        np.add.at(total, rows, left + right)
    total += np.maximum(e[0] - y, 0.0) + np.maximum(y - e[-1], 0.0)
    return total


def crps_sample(sample: np.ndarray, y: np.ndarray) -> np.ndarray:
    """float64 [rows]: CRPS of the empirical distribution of ``sample`` at each ``y``
    (E|X - y| - E|X - X'| / 2)."""
    s = np.sort(np.asarray(sample, dtype=np.float64))
    n = len(s)
    spread = 2 * np.sum(s * (2 * np.arange(1, n + 1) - n - 1)) / (n * n)  # E|X - X'|
    return np.abs(s[None, :] - y[:, None]).mean(axis=1) - spread / 2


def check_metrics() -> None:
    """The two CRPS formulas against a numerical integral of (F(x) - 1[x >= y])^2 on a fine
    grid (run before scoring; raises AssertionError when either is off)."""
    from wlearn_mitra import BinnedDistribution

    rng = np.random.default_rng(0)
    dist = BinnedDistribution(rng.dirichlet(np.full(50, 0.3), size=4), 2.0, 3.0)
    y = np.array([0.0, 3.3, 4.9, 7.0])  # below, inside, inside and above the bins' range
    x = np.linspace(-5.0, 12.0, 5001)
    cdf = np.stack([dist.cdf(np.full(4, v)) for v in x], axis=1)
    numeric = np.trapezoid((cdf - (x[None, :] >= y[:, None])) ** 2, x, axis=1)
    assert np.allclose(crps_histogram(dist, y), numeric, atol=2e-3), (crps_histogram(dist, y),
                                                                      numeric)
    sample = rng.normal(size=300)
    s = np.sort(sample)
    ecdf = np.searchsorted(s, x, side="right") / len(s)
    numeric = np.trapezoid((ecdf[None, :] - (x[None, :] >= y[:, None])) ** 2, x, axis=1)
    assert np.allclose(crps_sample(sample, y), numeric, atol=2e-3), (crps_sample(sample, y),
                                                                     numeric)


def pinball(y: np.ndarray, q: np.ndarray, level: float) -> float:
    d = y - q
    return float(np.mean(np.maximum(level * d, (level - 1) * d)))


def score_split(model_path, xs, ys, xq, yq) -> dict:
    began = time.perf_counter()
    model = MitraRegressor(onnx=model_path).fit(xs, ys)
    mean = model.predict(xq)
    intervals = {c: model.predict_interval(xq, coverage=c) for c in COVERAGES}
    quantiles = model.predict_quantiles(xq, LEVELS)
    dist = model.predict_distribution(xq)
    seconds = time.perf_counter() - began
    # the three methods answer from one distribution
    assert np.allclose(dist.mean(), mean, rtol=1e-9, atol=1e-9 * np.abs(mean).max())
    assert np.array_equal(dist.interval(0.8), intervals[0.8])
    sd = float(np.std(yq))
    out: dict = {"r2": float(r2_score(yq, mean)), "sd": sd, "seconds": seconds,
                 "crps": float(np.mean(crps_histogram(dist, yq))) / sd,
                 "pinball": {str(lv): pinball(yq, quantiles[:, j], lv) / sd
                             for j, lv in enumerate(LEVELS)},
                 "outside_bins": float(np.mean((yq < dist.edges[0]) | (yq > dist.edges[-1]))),
                 "intervals": {}, "marginal": {}}
    for c, iv in intervals.items():
        lo, hi = iv[:, 0], iv[:, 1]
        out["intervals"][str(c)] = {
            "coverage": float(np.mean((yq >= lo) & (yq <= hi))),
            "below": float(np.mean(yq < lo)), "above": float(np.mean(yq > hi)),
            "width": float(np.mean(hi - lo)) / sd}
        mlo, mhi = np.quantile(ys, [(1 - c) / 2, (1 + c) / 2])
        out["marginal"][str(c)] = {"coverage": float(np.mean((yq >= mlo) & (yq <= mhi))),
                                   "width": float(mhi - mlo) / sd}
    out["marginal"]["crps"] = float(np.mean(crps_sample(ys, yq))) / sd
    out["marginal"]["pinball"] = {str(lv): pinball(yq, np.full(len(yq), np.quantile(ys, lv)),
                                                   lv) / sd for lv in LEVELS}
    return out


def _mean(runs, *path):
    values = []
    for r in runs:
        for key in path:
            r = r[key]
        values.append(r)
    return float(np.mean(values))


def summarise(per_table: dict, baselines: dict) -> dict:
    """Means over tables of each table's mean over seeds."""
    rows = {}
    for name, runs in per_table.items():
        row = {"r2": _mean(runs, "r2"), "crps": _mean(runs, "crps"),
               "marginal_crps": _mean(runs, "marginal", "crps"),
               "outside_bins": _mean(runs, "outside_bins")}
        for lv in LEVELS:
            row[f"pinball_{lv}"] = _mean(runs, "pinball", str(lv))
            row[f"marginal_pinball_{lv}"] = _mean(runs, "marginal", "pinball", str(lv))
        for c in COVERAGES:
            for key in ("coverage", "below", "above", "width"):
                row[f"{key}_{c}"] = _mean(runs, "intervals", str(c), key)
            for key in ("coverage", "width"):
                row[f"marginal_{key}_{c}"] = _mean(runs, "marginal", str(c), key)
        for model in ("Mitra", "RandomForest"):
            old = baselines.get(name, {}).get(model)
            row[f"r2_{model}"] = (float(np.mean([r["r2"] for r in old[:len(runs)]]))
                                  if old and len(old) >= len(runs) else float("nan"))
        rows[name] = row
    keys = next(iter(rows.values())).keys()
    mean = {k: float(np.nanmean([r[k] for r in rows.values()])) for k in keys}
    for c in COVERAGES:
        cov = np.array([r[f"coverage_{c}"] for r in rows.values()])
        mean[f"tables_under_{c}"] = int(np.sum(cov < c - 0.05))
        mean[f"tables_over_{c}"] = int(np.sum(cov > c + 0.05))
        mean[f"min_coverage_{c}"] = float(cov.min())
        mean[f"max_coverage_{c}"] = float(cov.max())
    return {"tables": len(rows), "mean": mean, "per_table": rows}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="bin-head regressor ONNX")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--sets", default="main,held-out")
    parser.add_argument("--tables", help="comma-separated package/item names to run instead")
    parser.add_argument("--baselines", default=str(HERE / "results" / "realtables-builtin.json"))
    parser.add_argument("--json", default=str(HERE / "results" / "intervals-bins.json"))
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", BuiltinModelWarning)
    warnings.filterwarnings("ignore", category=UserWarning)
    check_metrics()
    base = json.loads(Path(args.baselines).read_text()) if args.baselines else {"sets": {}}
    sets = ({"selected": [realtables.load_table(n) for n in args.tables.split(",")]}
            if args.tables else
            {w: realtables.load_tables("regression", w) for w in args.sets.split(",")})
    results = {"model": args.model, "seeds": args.seeds, "baselines": args.baselines,
               "date": time.strftime("%Y-%m-%d %H:%M"),
               "argv": sys.argv[1:] if argv is None else list(argv), "sets": {}}
    for which, tables in sets.items():
        old = base["sets"].get(which, {}).get("regression", {}).get("scores", {})
        per_table = {}
        for table in tables:
            if table.meta["task"] != "regression":
                continue
            runs = []
            for seed in range(args.seeds):
                xs, xq, ys, yq = train_test_split(table.X, table.y, test_size=0.5,
                                                  random_state=seed)
                runs.append(score_split(args.model, xs, np.asarray(ys, float), xq,
                                        np.asarray(yq, float)))
            per_table[table.name] = runs
            print(f"[{which}] {table.name:<28} R2={_mean(runs, 'r2'):.3f} " + " ".join(
                f"cov{int(c * 100)}={_mean(runs, 'intervals', str(c), 'coverage'):.2f}"
                f"/w{_mean(runs, 'intervals', str(c), 'width'):.2f}" for c in COVERAGES)
                + f" crps={_mean(runs, 'crps'):.3f} (marginal "
                f"{_mean(runs, 'marginal', 'crps'):.3f})", flush=True)
        summary = summarise(per_table, old)
        results["sets"][which] = {"tables": {t.name: t.meta for t in tables},
                                  "scores": per_table, "summary": summary}
        m = summary["mean"]
        print(f"\n== {which}: {summary['tables']} tables (means over tables) ==")
        print(f"{'interval':<9}{'coverage':>9}{'below':>7}{'above':>7}{'width/sd':>9}"
              f"{'marg cov':>9}{'marg w/sd':>10}{'<nom-5%':>8}{'>nom+5%':>8}")
        for c in COVERAGES:
            print(f"{int(c * 100):>7}% {m[f'coverage_{c}']:9.3f}{m[f'below_{c}']:7.3f}"
                  f"{m[f'above_{c}']:7.3f}{m[f'width_{c}']:9.2f}"
                  f"{m[f'marginal_coverage_{c}']:9.3f}{m[f'marginal_width_{c}']:10.2f}"
                  f"{m[f'tables_under_{c}']:8d}{m[f'tables_over_{c}']:8d}")
        print(f"CRPS/sd {m['crps']:.3f} (marginal {m['marginal_crps']:.3f}); pinball/sd "
              + ", ".join(f"q{lv}: {m[f'pinball_{lv}']:.3f} (marginal "
                          f"{m[f'marginal_pinball_{lv}']:.3f})" for lv in LEVELS))
        print(f"R^2: bins mean {m['r2']:.3f}, scalar built-in {m['r2_Mitra']:.3f}, "
              f"RandomForest {m['r2_RandomForest']:.3f}; targets outside the bins "
              f"{m['outside_bins']:.4f}")
    save_results(results, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
