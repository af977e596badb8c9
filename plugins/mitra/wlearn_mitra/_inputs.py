"""Checking what users pass: feature matrices, targets, parameters, and the task of ``y``."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from wlearn.errors import ValidationError

from . import _labels


def as_matrix(X: Any, name: str = "X") -> np.ndarray:
    """``X`` as a float64 [rows, features] array (numpy, nested lists or a DataFrame)."""
    if hasattr(X, "nnz") and hasattr(X, "toarray"):  # scipy.sparse
        raise ValidationError(f"sparse input is not supported; pass {name}.toarray()")
    if hasattr(X, "columns") and hasattr(X, "dtypes"):  # a pandas DataFrame
        bad = [str(c) for c, t in X.dtypes.items() if t.kind not in "biuf"]
        if bad:
            raise ValidationError(f"{name} must hold numbers only; non-numeric columns: {bad}")
        X = X.to_numpy(dtype=np.float64, na_value=np.nan)  # pandas NA: imputed as NaN
    try:
        arr = np.asarray(X)
        if arr.dtype.kind == "c":
            raise ValidationError(f"Complex data not supported: {name} has dtype {arr.dtype}")
        if arr.dtype.kind not in "biuf":
            arr = arr.astype(np.float64)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ValidationError):
            raise
        raise ValidationError(f"{name} must hold numbers only ({exc})") from None
    if arr.ndim != 2:
        hint = (". Reshape your data: X.reshape(-1, 1) for a single feature, X.reshape(1, -1) "
                "for a single row") if arr.ndim == 1 else ""
        raise ValidationError(f"{name} must be 2-D [rows, features], got shape {arr.shape}{hint}")
    for axis, what in ((0, "sample"), (1, "feature")):
        if arr.shape[axis] == 0:
            raise ValidationError(f"{name} has 0 {what}(s) (shape={arr.shape}) while a minimum "
                                  "of 1 is required.")
    return arr.astype(np.float64, copy=False)


def targets(y: Any) -> np.ndarray:
    try:
        arr = _labels.as_vector(y).astype(np.float64)
    except (TypeError, ValueError):
        raise ValidationError("regression targets must be numbers") from None
    if not np.isfinite(arr).all():
        raise ValidationError("y contains NaN or infinite targets")
    return arr


def require_y(y: Any, estimator: str) -> None:
    if y is None:
        raise ValidationError(f"{estimator} requires y to be passed, but the target y is None")


def check_rows(X: np.ndarray, y: np.ndarray) -> None:
    if len(X) != len(y):
        raise ValidationError(f"X has {len(X)} rows but y has {len(y)} elements")


def detect_task(y: Any) -> str:
    """The task wlearn's JS ``detectTask`` infers from ``y``.

    Integer, boolean and string labels mean classification (JS: an ``Int32Array``). Other
    numbers mean classification when all are integral with at most 20 distinct values,
    otherwise regression. A plain list of numbers is judged by its values, as JS judges an
    ``Array``.
    """
    arr = _labels.as_vector(y)
    if arr.dtype.kind in "biuUSO" and not isinstance(y, (list, tuple)):
        return "classification"
    try:
        values = arr.astype(np.float64)
    except (TypeError, ValueError):
        return "classification"  # a list mixing strings and numbers: let the labels complain
    if not np.all(values == np.round(values)):  # NaN compares unequal: regression
        return "regression"
    return "classification" if len(np.unique(values)) <= 20 else "regression"


def check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValidationError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_seed(seed: Any) -> float | int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Real) or not np.isfinite(seed):
        raise ValidationError(f"seed must be a finite number, got {seed!r}")
    return int(seed) if isinstance(seed, numbers.Integral) else float(seed)
