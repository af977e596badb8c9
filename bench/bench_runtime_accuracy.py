"""Accuracy of each runtime and precision on real tables, against exact fp32.

The built-in Mitra models (or ``--onnx`` / ``--regressor-onnx``) on scikit-learn's iris, wine,
breast_cancer, digits and diabetes, split 50/50 over ``--seeds`` seeds as in
``bench_builtin.py``, predicted by every path on the same splits:

    python bench/bench_runtime_accuracy.py [--seeds 5] [--n-estimators 1,4] [--json out.json]

Per table and path: the mean score (accuracy, R^2 for diabetes), its difference from ONNX
Runtime fp32 in points (score x 100), and against fp32 on the same rows the share of equal
predicted classes and the largest probability (or, for diabetes, value) difference. A path
this machine cannot run (no ``openvino``, no bf16 arithmetic) is listed as not run.
Accuracy only: the figures do not depend on machine load.
"""

from __future__ import annotations

import argparse
import json
import warnings

import numpy as np
from sklearn import datasets
from sklearn.model_selection import train_test_split

from wlearn.errors import ValidationError
from wlearn_mitra import BuiltinModelWarning, MitraClassifier, MitraRegressor

TABLES = ("iris", "wine", "breast_cancer", "digits", "diabetes")
PATHS = {  # name -> estimator parameters
    "onnxruntime fp32": {"runtime": "onnxruntime", "precision": "fp32"},
    "onnxruntime int8": {"runtime": "onnxruntime", "precision": "int8"},
    "openvino fp32": {"runtime": "openvino", "precision": "fp32"},
    "openvino bf16": {"runtime": "openvino", "precision": "bf16"},
}
REFERENCE = "onnxruntime fp32"


def outputs(table: str, path: dict, n_estimators: int, seeds: int, onnx: dict) -> list[tuple]:
    """(score, predictions) per seed: probabilities for a classifier, values for diabetes."""
    regression = table == "diabetes"
    x, y = getattr(datasets, f"load_{table}")(return_X_y=True)
    estimator = MitraRegressor if regression else MitraClassifier
    out = []
    for seed in range(seeds):
        xs, xq, ys, yq = train_test_split(x, y, test_size=0.5, random_state=seed,
                                          stratify=None if regression else y)
        model = estimator(n_estimators=n_estimators, onnx=onnx[estimator], **path).fit(xs, ys)
        predicted = model.predict(xq) if regression else model.predict_proba(xq)
        out.append((float(model.score(xq, yq)), predicted))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--n-estimators", default="1,4")
    parser.add_argument("--tables", default=",".join(TABLES))
    parser.add_argument("--onnx", help="classifier model (default: the built-in one)")
    parser.add_argument("--regressor-onnx", help="regressor model (default: the built-in one)")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    warnings.simplefilter("ignore", BuiltinModelWarning)
    warnings.simplefilter("ignore", RuntimeWarning)  # bf16 without AMX: said once below
    onnx = {MitraClassifier: args.onnx, MitraRegressor: args.regressor_onnx}
    results = []
    print(f"{'table':<14}{'n_est':>6}  {'path':<18}{'score':>8}{'vs fp32 (points)':>18}"
          f"{'same class':>12}{'max diff':>10}")
    for table in args.tables.split(","):
        for n in (int(v) for v in args.n_estimators.split(",")):
            reference = outputs(table, PATHS[REFERENCE], n, args.seeds, onnx)
            ref_score = np.mean([s for s, _ in reference])
            for name, path in PATHS.items():
                try:
                    got = reference if name == REFERENCE else outputs(table, path, n,
                                                                       args.seeds, onnx)
                except ValidationError as exc:
                    print(f"{table:<14}{n:>6}  {name:<18}not run: {exc}")
                    continue
                score = float(np.mean([s for s, _ in got]))
                diff = max(float(np.abs(a - b).max()) for (_, a), (_, b) in zip(got, reference))
                same = None
                if table != "diabetes":
                    agree = [np.mean(a.argmax(1) == b.argmax(1))
                             for (_, a), (_, b) in zip(got, reference)]
                    same = float(np.mean(agree))
                row = {"table": table, "n_estimators": n, "path": name, "score": score,
                       "points_vs_fp32": 100 * (score - ref_score), "same_class": same,
                       "max_diff": diff}
                results.append(row)
                same_text = "-" if same is None else f"{100 * same:.2f}%"
                print(f"{table:<14}{n:>6}  {name:<18}{score:>8.4f}"
                      f"{row['points_vs_fp32']:>+18.2f}{same_text:>12}{diff:>10.4f}", flush=True)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=1)


if __name__ == "__main__":
    main()
