"""Category and text columns: their categories, learned from the support set, the codes the
model is fed, and the ``meta.categories`` bundle extension (``spec/mitra.md``).

A category column's categories are its distinct non-missing values in the support rows: in
the order a pandas ``category`` dtype declares them, otherwise sorted; then, when some support
rows miss a value, "missing" (``None``) as a category of its own, first (code 0, below every
other category, as measured in bench/README.md, "Category columns"). The model sees each
value's position in that list (0, 1, ...) as a number, as AutoGluon's Mitra sees label-encoded
categories (``autogluon.tabular`` feeds category codes). Categories the support set did not
have (and missing values in a column whose support rows had none) are fed as NaN, which the
engine imputes like any missing value.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from wlearn.errors import BundleError, ValidationError

from . import _labels
from ..exceptions import InputTypeError

#: Versions of the ``meta.categories`` extension: this module reads 1 and 2, and writes
#: version 2 only for a model with a "missing" category (other bundles keep their bytes).
CATEGORIES_VERSION = 1
CATEGORIES_VERSIONS = (1, 2)
KINDS = ("string", "integer", "float", "boolean")
#: float32 holds every integer up to 2^24 exactly: codes beyond it would merge.
MAX_CATEGORIES = 2**24


def is_missing(value: Any) -> bool:
    """None, NaN, pandas ``NA`` and ``NaT``."""
    if value is None:
        return True
    if isinstance(value, (float, np.floating)) and math.isnan(value):
        return True
    return type(value).__name__ in ("NAType", "NaTType")


def value_kind(value: Any, where: str) -> str:
    """The kind of one non-missing value: one of :data:`KINDS`."""
    kind = _labels.kind_of(value)
    if kind == "float" and not math.isfinite(value):
        raise ValidationError(f"{where} holds the category {value!r}; categories of a "
                              "category or text column must be finite")
    if kind is not None:
        return kind
    raise InputTypeError(
        f"{where} holds {value!r}: each argument must be a string or a real number (or "
        f"missing), not {type(value).__name__!r}"
    )


def _scalar(value: Any, kind: str) -> Any:
    if kind == "string":
        return str(value)
    if kind == "boolean":
        return bool(value)
    if kind == "integer":
        return int(value)
    return float(value)


def _kind_of(values: list[Any], where: str) -> str | None:
    kinds = {value_kind(v, where) for v in values}
    if not kinds:
        return None
    if len(kinds) == 1:
        return kinds.pop()
    if kinds == {"integer", "float"}:
        return "float"
    raise ValidationError(
        f"{where} mixes {' and '.join(sorted(kinds))} values; a category or text column must "
        "hold one kind of value"
    )


def learn(raw: np.ndarray, where: str, declared: list[Any] | None = None) -> np.ndarray:
    """The categories (object array, in code order) of the support rows' values ``raw``.

    ``declared``: a pandas ``category`` dtype's categories, whose order is kept.
    """
    # Each distinct value once, in the order of first appearance (so a bad value is reported
    # as by a walk over the rows); values are told apart by type as well as value.
    values = _distinct(raw)
    present = [v for v in values if not is_missing(v)]
    has_missing = len(present) < len(values)
    kind = _kind_of(present, where)
    if kind is None:
        return np.empty(1 if has_missing else 0, dtype=object)  # [None]: all rows miss it
    distinct = {_scalar(v, kind) for v in present}
    if declared is not None:
        order = []
        for c in declared:
            c = _scalar(c, kind)
            if c in distinct and c not in order:
                order.append(c)
    else:
        order = sorted(distinct)
    if has_missing:
        order.insert(0, None)
    if len(order) > MAX_CATEGORIES:
        raise ValidationError(f"{where} has {len(order)} categories; at most {MAX_CATEGORIES}")
    out = np.empty(len(order), dtype=object)
    out[:] = order
    return out


def kind_of_categories(categories: np.ndarray) -> str | None:
    """The kind of learned categories (None when there are none but "missing")."""
    return _kind_of([v for v in categories if v is not None], "categories")


def _narrow_lookup(categories: np.ndarray) -> dict[float, int]:
    """Numeric categories by their float32 value; a value two categories share is left out
    (it names neither)."""
    out: dict[float, int] = {}
    shared = set()
    for i, v in enumerate(categories):
        if v is None:
            continue
        key = float(np.float32(v))
        if key in out:
            shared.add(key)
        out[key] = i
    for key in shared:
        del out[key]
    return out


def encode(raw: np.ndarray, categories: np.ndarray, where: str,
           narrow: bool = False) -> np.ndarray:
    """Codes (float64) of values ``raw``: the category's position, NaN for missing values and
    for categories the support set did not have. A string where the categories are numbers, or
    the reverse, is a :class:`ValidationError` (a column given in another form than at fit).

    Numbers match numeric categories by value at the precision they are given in: a value
    given as float32 or float16 (``narrow``: the column's dtype; or a numpy ``float32`` /
    ``float16`` object) matches the category that rounds to it in float32 (0.1 fitted as a
    float64 matches ``np.float32(0.1)``); a float32 value that two categories round to
    matches neither."""
    kind = kind_of_categories(categories)
    lookup = {v: i for i, v in enumerate(categories) if v is not None}
    missing = next((i for i, v in enumerate(categories) if v is None), np.nan)
    narrow_lookup = None

    def code_of(value: Any) -> float:
        nonlocal narrow_lookup
        if is_missing(value):
            return missing
        got = value_kind(value, where)
        if kind is not None and (got == "string") != (kind == "string"):
            raise ValidationError(
                f"{where} holds {value!r} ({got}), but its categories at fit were {kind} "
                f"values ({list(categories[:3])}...)"
            )
        code = lookup.get(value.item() if isinstance(value, np.generic) else value)
        if code is None and got != "string" and kind in ("float", "integer") and (
                narrow or isinstance(value, (np.float32, np.float16))):
            if narrow_lookup is None:
                narrow_lookup = _narrow_lookup(categories)
            code = narrow_lookup.get(float(np.float32(value)))
        return np.nan if code is None else code

    # A value's code depends on its type and value only, so each distinct (type, value) is
    # checked and looked up once, at its first row (the row a bad value is reported from).
    out = np.full(len(raw), np.nan)
    seen: dict = {}
    for i, value in enumerate(raw):
        key = _key(value)
        code = seen.get(key, _UNSEEN) if key is not None else _UNSEEN
        if code is _UNSEEN:
            code = code_of(value)
            if key is not None:
                seen[key] = code
        out[i] = code
    return out


_UNSEEN = object()


def _key(value: Any) -> tuple | None:
    """``(type, value)``, the identity of a value for :func:`encode` and :func:`learn`, or
    None when the value cannot be a dict key (unhashable, or compared as neither equal nor
    unequal, as pandas ``NA``)."""
    key = (type(value), value)
    try:
        hash(key)
    except TypeError:
        return None
    if type(value).__name__ == "NAType":
        return None
    return key


def _distinct(raw: np.ndarray) -> list[Any]:
    """The values of ``raw``, each distinct ``(type, value)`` once, in order of first
    appearance; values without a key (:func:`_key`) are all kept."""
    seen: set = set()
    out = []
    for value in raw:
        key = _key(value)
        if key is None:
            out.append(value)
        elif key not in seen:
            seen.add(key)
            out.append(value)
    return out


# --- the bundle extension -----------------------------------------------------------------------

def to_json(categories: dict[int, np.ndarray]) -> dict[str, Any]:
    """The ``meta.categories`` object of a model's categorical columns."""
    columns = []
    version = CATEGORIES_VERSION
    for index in sorted(categories):
        values = categories[index]
        kind = kind_of_categories(values) or "string"
        if kind == "integer":  # decimal text: exact beyond 2^53
            out: list[Any] = [None if v is None else str(int(v)) for v in values]
        else:
            out = [None if v is None else _scalar(v, kind) for v in values]
        if None in out:
            version = 2  # "missing" is a category: a reader of version 1 must refuse it
        columns.append({"index": int(index), "kind": kind, "values": out})
    return {"version": version, "columns": columns}


def _values_from_json(kind: Any, values: Any, where: str, version: int = 1) -> list[Any]:
    if kind not in KINDS:
        raise BundleError(f"{where}.kind must be one of {KINDS}, got {kind!r}")
    if not isinstance(values, list):
        raise BundleError(f"{where}.values must be a list")
    if version >= 2 and values and values[0] is None:
        # Version 2: "missing" (null) may be a column's first category.
        return [None] + _values_from_json(kind, values[1:], where)
    if kind == "string":
        ok = all(isinstance(v, str) for v in values)
    elif kind == "boolean":
        ok = all(isinstance(v, bool) for v in values)
    elif kind == "float":
        ok = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    else:
        ok = all(isinstance(v, str) and _labels.DECIMAL.fullmatch(v) for v in values)
    if not ok:
        raise BundleError(f"{where}.values do not all fit kind {kind!r}")
    try:
        out = [_scalar(int(v, 10) if kind == "integer" else v, kind) for v in values]
    except ValueError:
        raise BundleError(f"{where}.values do not all fit kind {kind!r}") from None
    if kind == "float" and not all(math.isfinite(v) for v in out):
        raise BundleError(f"{where}.values must be finite")
    if len(set(out)) != len(out):
        raise BundleError(f"{where}.values must be distinct")
    return out


def from_json(obj: Any, n_features: int, n_support: int) -> dict[int, np.ndarray]:
    """Categories by column index from a ``meta.categories`` object; a :class:`BundleError`
    if it is malformed. At most ``n_support`` categories per column (they come from the support
    rows)."""
    version = _labels.check_extension(obj, "categories", CATEGORIES_VERSIONS)
    if set(obj) != {"version", "columns"}:
        unknown = sorted(set(obj) - {"version", "columns"})
        raise BundleError(f"meta.categories has unknown fields {unknown}")
    columns = obj["columns"]
    if not isinstance(columns, list) or not columns:
        raise BundleError("meta.categories.columns must be a non-empty list")
    out: dict[int, np.ndarray] = {}
    for k, column in enumerate(columns):
        where = f"meta.categories.columns[{k}]"
        if not isinstance(column, dict) or set(column) != {"index", "kind", "values"}:
            raise BundleError(f"{where} must be an object with index, kind and values")
        index = column["index"]
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < n_features:
            raise BundleError(f"{where}.index must be a column number 0..{n_features - 1}, "
                              f"got {index!r}")
        # out's keys ascend, so the last is the largest (max() would make this quadratic)
        if out and index <= next(reversed(out)):
            raise BundleError("meta.categories.columns must be in ascending index order, "
                              "each column once")
        values = column["values"]
        if isinstance(values, list) and len(values) > n_support:
            raise BundleError(f"{where} has {len(values)} categories, more than the "
                              f"{n_support} support rows they come from")
        array = np.empty(len(values) if isinstance(values, list) else 0, dtype=object)
        array[:] = _values_from_json(column["kind"], values, where, version)
        out[index] = array
    return out


def check_codes(support_x: np.ndarray, categories: dict[int, np.ndarray]) -> None:
    """Every stored code of a categorical column is a category's position or NaN."""
    for index, values in categories.items():
        codes = support_x[:, index]
        known = codes[~np.isnan(codes)]
        if len(known) and (
            (known != np.round(known)).any() or known.min() < 0 or known.max() >= len(values)
        ):
            raise BundleError(
                f"support_x_encoded column {index} holds codes other than 0..{len(values) - 1} "
                "and NaN"
            )


def reads_as_numbers(values: np.ndarray) -> bool:
    """Whether every non-missing value of a text column is a string that reads as a number
    ("4", " 4 ", "1e1", "inf"): numbers written as text (a CSV read without types), which
    are categories here, as in a pandas string column."""
    seen = False
    for v in values:
        if is_missing(v):
            continue
        if not isinstance(v, str):
            return False
        try:
            float(v)
        except ValueError:
            return False
        seen = True
    return seen
