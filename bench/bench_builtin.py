"""Accuracy of the built-in Mitra models against classical baselines on real tables.

Each data set (scikit-learn's iris, wine, breast_cancer, digits; diabetes for regression) is
split 50/50 over ``--seeds`` seeds (stratified for classification); the train half is the
support set (``max_support=512``: a stratified 512 of digits' 898), the other half is scored.
Baselines on the same splits: RandomForest, LogisticRegression / Ridge (standardised), k-NN
(k=5, standardised). Mitra runs with ``n_estimators`` 1 and 4. Also: accuracy on digits
restricted to its first K classes, and the pretraining curves from the runs' logs.

    python bench/bench_builtin.py [--seeds 5] [--json out.json]
    python bench/bench_builtin.py --onnx other.onnx --regressor-onnx other-reg.onnx
    python bench/bench_builtin.py --param precision=int8      # any estimator parameter

Scores are accuracy and R^2 (mean and standard deviation over the seeds); "vs RF" is Mitra's
mean score over RandomForest's.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn import datasets
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from wlearn_mitra import BuiltinModelWarning, MitraClassifier, MitraRegressor

CLASSIFICATION = ("iris", "wine", "breast_cancer", "digits")
REGRESSION = ("diabetes",)
RUNS = Path(__file__).resolve().parents[1] / "spec" / "pretraining"


def _value(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def baselines(classification: bool) -> dict:
    scaled = lambda model: make_pipeline(StandardScaler(), model)  # noqa: E731
    if classification:
        return {"RandomForest": lambda: RandomForestClassifier(random_state=0),
                "LogisticRegression": lambda: scaled(LogisticRegression(max_iter=5000)),
                "kNN": lambda: scaled(KNeighborsClassifier(5))}
    return {"RandomForest": lambda: RandomForestRegressor(random_state=0),
            "Ridge": lambda: scaled(Ridge()),
            "kNN": lambda: scaled(KNeighborsRegressor(5))}


def score_table(name: str, seeds: int, mitra_kwargs: dict, x=None, y=None) -> dict:
    classification = name not in REGRESSION
    if x is None:
        x, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    models = dict(baselines(classification))
    estimator = MitraClassifier if classification else MitraRegressor
    for n in (1, 4):
        models[f"Mitra n_estimators={n}"] = (
            lambda n=n: estimator(n_estimators=n, **mitra_kwargs[estimator]))
    scores = {model: [] for model in models}
    seconds = {model: 0.0 for model in models}
    for seed in range(seeds):
        xs, xq, ys, yq = train_test_split(x, y, test_size=0.5, random_state=seed,
                                          stratify=y if classification else None)
        for model, make in models.items():
            began = time.perf_counter()
            scores[model].append(float(make().fit(xs, ys).score(xq, yq)))
            seconds[model] += time.perf_counter() - began
    return {model: {"mean": float(np.mean(v)), "std": float(np.std(v)),
                    "seconds": seconds[model] / seeds} for model, v in scores.items()}


def curves() -> dict:
    out = {}
    for log in sorted(RUNS.glob("*/log.jsonl")):
        out[log.parent.name] = [json.loads(line) for line in log.read_text().splitlines()]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--onnx", help="classifier model (default: the built-in one)")
    parser.add_argument("--regressor-onnx", help="regressor model (default: the built-in one)")
    parser.add_argument("--param", action="append", default=[],
                        help="estimator parameter NAME=VALUE, for each estimator that has it")
    parser.add_argument("--tables", default=",".join(CLASSIFICATION + REGRESSION),
                        help="comma-separated data sets to score (default: all)")
    parser.add_argument("--skip-classes", action="store_true",
                        help="skip the accuracy-by-number-of-classes table")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    warnings.simplefilter("ignore", BuiltinModelWarning)
    malformed = [p for p in args.param if "=" not in p]
    if malformed:
        parser.error(f"--param takes NAME=VALUE, not {malformed[0]!r}")
    extra = dict(p.split("=", 1) for p in args.param)
    if "n_estimators" in extra:
        parser.error("--param n_estimators: every Mitra model already runs with n_estimators "
                     "1 and 4 (the rows 'Mitra n_estimators=N')")
    extra = {k: _value(v) for k, v in extra.items()}
    models = {MitraClassifier: args.onnx, MitraRegressor: args.regressor_onnx}
    names = {estimator: set(estimator().get_params()) for estimator in models}
    unknown = [k for k in extra if not any(k in n for n in names.values())]
    if unknown:
        parser.error(f"--param {unknown[0]}: neither Mitra estimator has that parameter")
    kwargs = {estimator: {"onnx": onnx, **{k: v for k, v in extra.items() if k in names[estimator]}}
              for estimator, onnx in models.items()}

    results = {"tables": {}, "by_classes": {}, "curves": curves(), "params": extra}
    print(f"{'data set':<14} {'model':<24} {'score':>14} {'vs RF':>6} {'s/fit+predict':>14}")
    for name in args.tables.split(","):
        table = score_table(name, args.seeds, kwargs)
        results["tables"][name] = table
        rf = table["RandomForest"]["mean"]
        for model, s in table.items():
            ratio = f"{s['mean'] / rf:6.3f}" if model.startswith("Mitra") else ""
            print(f"{name:<14} {model:<24} {s['mean']:8.4f}±{s['std']:.3f} {ratio:>6} "
                  f"{s['seconds']:14.3f}")
    if not args.skip_classes:
        x, y = datasets.load_digits(return_X_y=True)
        print("\ndigits restricted to its first K classes (accuracy, mean over seeds)")
        for k in (2, 3, 5, 7, 10):
            keep = y < k
            table = score_table("digits", args.seeds, kwargs, x[keep], y[keep])
            results["by_classes"][k] = {m: s["mean"] for m, s in table.items()}
            print(f"K={k:<3} " + "  ".join(f"{m} {s['mean']:.3f}" for m, s in table.items()))
    for run, records in results["curves"].items():
        print(f"\npretraining curve: {run}")
        for r in records:
            print(f"  {r['minutes']:7.1f} min  step {r['step']:6d}  loss {r['loss']:.4f}  "
                  + "  ".join(f"{k} {v:.3f}" for k, v in r.get("scores", {}).items()))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
