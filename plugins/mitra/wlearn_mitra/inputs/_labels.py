"""Class labels: what users pass, what the model is fed, and what a bundle can carry.

Labels are normalised to one of four kinds (booleans, integers, floats, strings), sorted into
``classes`` and fed to the model as class indices 0..K-1. A bundle carries them either the
@wlearn/mitra way (``meta.classes`` and raw int32 ``support_y``; possible when every class
is an integer within int32) or with the label extension described in ``spec/mitra.md``.
"""

from __future__ import annotations

import numbers
import re
from typing import Any

import numpy as np

from wlearn.errors import BundleError, ValidationError

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

#: Version of the ``meta.labels`` extension this module writes and reads.
LABELS_VERSION = 1
LABEL_KINDS = ("integer", "float", "string")
#: An integer as decimal text, the one way Python and JSON writers spell it (no sign on 0,
#: no "+", spaces, leading zeros, underscores or non-ASCII digits: each would read back as
#: the same number and be written differently).
DECIMAL = re.compile(r"0|-?[1-9][0-9]*")


def ascending(classes: Any) -> bool:
    """Whether labels are sorted and distinct, as fit makes ``classes_`` and bundles must hold
    them (False for labels of kinds that do not compare)."""
    try:
        return all(bool(a < b) for a, b in zip(classes[:-1], classes[1:]))
    except TypeError:
        return False


def _nul_ended(values: Any) -> bool:
    """Whether a string ends in NUL, which numpy's str arrays drop ("a\0" becomes "a")."""
    return any(isinstance(v, str) and v.endswith("\x00") for v in values)


def as_vector(y: Any, name: str = "y") -> np.ndarray:
    """``y`` as a 1-D array; a single column (pandas DataFrame, or shape (n, 1)) is accepted."""
    if hasattr(y, "to_numpy") and hasattr(y, "columns"):  # a pandas or polars DataFrame
        if y.shape[1] != 1:
            raise ValidationError(f"{name} must be one column, got a DataFrame of {y.shape[1]}")
        y = y.iloc[:, 0] if hasattr(y, "iloc") else y.to_numpy()[:, 0]
    if isinstance(y, (list, tuple)):
        arr = np.asarray(y, dtype=object)  # numpy would turn [0, "a"] into strings
    else:
        if type(y).__module__.startswith("pyarrow") and hasattr(y, "to_pylist"):
            arr = np.asarray(y.to_pylist(), dtype=object)  # any type, nulls as None
        else:
            arr = y.to_numpy() if hasattr(y, "to_numpy") else np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValidationError(f"{name} must be 1-D, got shape {arr.shape}")
    if len(arr) == 0:
        raise ValidationError(f"{name} is empty")
    return arr


def kind_of(value: Any) -> str | None:
    """The kind of one value: "string", "boolean", "integer", "float", or None for any other
    object (None, dicts, dates)."""
    if isinstance(value, str):
        return "string"
    if isinstance(value, (bool, np.bool_)):
        return "boolean"
    if isinstance(value, numbers.Integral):
        return "integer"
    if isinstance(value, numbers.Real):
        return "float"
    return None


def _kind_of(value: Any) -> str:
    kind = kind_of(value)
    if kind is not None:
        return kind
    if value is None or type(value).__name__ == "NAType":
        raise ValidationError(f"y contains missing labels ({value})")
    raise ValidationError(
        f"labels must be numbers, booleans or strings; got {value!r} ({type(value).__name__})"
    )


def label_array(y: Any, name: str = "y") -> np.ndarray:
    """Normalise class labels to a bool, int64, float64, str or (huge ints) object array."""
    arr = as_vector(y, name)
    code = arr.dtype.kind
    if code == "b":
        return arr
    if code in "iu":
        return arr.astype(np.int64) if code == "i" or arr.max() <= np.iinfo(np.int64).max else arr
    if code == "f":
        if not np.isfinite(arr).all():
            raise ValidationError(f"{name} contains NaN or infinite labels")
        return arr.astype(np.float64)
    if code == "U":
        return arr
    if code == "S":
        return arr.astype(str)
    if code != "O":
        raise ValidationError(f"{name} has unsupported dtype {arr.dtype}")
    kinds = {_kind_of(v) for v in arr}
    if len(kinds) > 1 and "float" in kinds and any(
            isinstance(v, numbers.Real) and v != v for v in arr):  # NaN beside other labels
        raise ValidationError(f"{name} contains missing labels (nan)")
    if kinds == {"string"}:
        if _nul_ended(arr):
            raise ValidationError(f"{name} holds a label ending in a NUL character, which "
                                  "numpy's strings drop (it would become another label)")
        return arr.astype(str)
    if kinds == {"boolean"}:
        return arr.astype(bool)
    if kinds == {"integer"}:
        values = [int(v) for v in arr]
        if INT64_MIN <= min(values) and max(values) <= INT64_MAX:
            return np.array(values, dtype=np.int64)
        return np.array(values, dtype=object)
    if kinds <= {"integer", "float"}:
        out = np.array([float(v) for v in arr], dtype=np.float64)
        if not np.isfinite(out).all():
            raise ValidationError(f"{name} contains NaN or infinite labels")
        return out
    raise ValidationError(f"{name} mixes label types ({', '.join(sorted(kinds))})")


def encode(y: Any, name: str = "y") -> tuple[np.ndarray, np.ndarray]:
    """``(classes, index)``: the sorted distinct labels and each row's class index."""
    arr = label_array(y, name)
    classes, index = np.unique(arr, return_inverse=True)
    return classes, index.astype(np.int64).reshape(-1)


def js_classes(classes: np.ndarray) -> list[int] | None:
    """``classes`` as the int32 list @wlearn/mitra writes, or None if they are not all
    integers within int32 (booleans count as 0/1, integral floats as integers)."""
    if classes.dtype.kind == "b":
        return [int(c) for c in classes]
    if classes.dtype.kind in "iufO":
        out = []
        for c in classes:
            if isinstance(c, str) or c != int(c) or not INT32_MIN <= int(c) <= INT32_MAX:
                return None
            out.append(int(c))
        return out
    return None


def to_json(classes: np.ndarray) -> dict:
    """The ``meta.labels`` object for classes @wlearn/mitra cannot carry."""
    code = classes.dtype.kind
    if code in "US":
        kind, values = "string", [str(c) for c in classes]
    elif code == "f":
        kind, values = "float", [float(c) for c in classes]
    else:  # integers beyond int32 (or beyond doubles): decimal text keeps them exact
        kind, values = "integer", [str(int(c)) for c in classes]
    return {"version": LABELS_VERSION, "kind": kind, "values": values}


def check_extension(obj: Any, field: str, version: int | tuple[int, ...]) -> int:
    """``obj``'s version, or a :class:`BundleError` unless ``obj`` is the object of a
    versioned extension ``meta.<field>`` at ``version`` (one, or a tuple of those read; the
    labels and categories extensions, spec/mitra.md)."""
    if not isinstance(obj, dict):
        raise BundleError(f"meta.{field} must be an object")
    versions = version if isinstance(version, tuple) else (version,)
    found = obj.get("version")
    if isinstance(found, bool) or found not in versions:
        raise BundleError(
            f"meta.{field} has version {found!r}; this wlearn-mitra reads version "
            f"{' or '.join(str(v) for v in versions)} (a newer wlearn-mitra may read it)"
        )
    return found


def from_json(obj: Any) -> np.ndarray:
    """Classes from a ``meta.labels`` object; a :class:`BundleError` if it is malformed."""
    check_extension(obj, "labels", LABELS_VERSION)
    kind, values = obj.get("kind"), obj.get("values")
    if kind not in LABEL_KINDS:
        raise BundleError(f"meta.labels.kind must be one of {LABEL_KINDS}, got {kind!r}")
    if not isinstance(values, list) or not values:
        raise BundleError("meta.labels.values must be a non-empty list")
    try:
        if kind == "string":
            if not all(isinstance(v, str) for v in values) or _nul_ended(values):
                raise TypeError
            classes = np.array(values, dtype=str)
        elif kind == "float":
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
                raise TypeError
            classes = np.array(values, dtype=np.float64)
        else:
            if not all(isinstance(v, str) and DECIMAL.fullmatch(v) for v in values):
                raise TypeError
            ints = [int(v, 10) for v in values]
            fits = INT64_MIN <= min(ints) and max(ints) <= INT64_MAX
            classes = np.array(ints, dtype=np.int64 if fits else object)
    except (TypeError, ValueError):
        raise BundleError(f"meta.labels.values do not all fit kind {kind!r}") from None
    if not ascending(classes):
        raise BundleError("meta.labels.values must be sorted and distinct")
    return classes
