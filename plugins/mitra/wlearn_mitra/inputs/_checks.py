"""Checking what users pass: feature matrices, targets, parameters, and the task of ``y``."""

from __future__ import annotations

import math
import numbers
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from wlearn.errors import ValidationError

from . import _categories, _labels
from ..exceptions import InputTypeError, user_stacklevel, warn_conversion


@dataclass
class Table:
    """``X`` as read: numbers, column names, and the raw values of category/text columns."""

    #: float64 [rows, features], never a view of the caller's data (it is written to);
    #: NaN in the columns of ``text``.
    values: np.ndarray
    names: np.ndarray | None  # object [features] of str, when every column name is a string
    text: dict[int, np.ndarray] = field(default_factory=dict)  # column -> object [rows]
    declared: dict[int, list] = field(default_factory=dict)  # column -> declared categories
    #: Columns given at float32 (or float16) precision, whose values match float categories
    #: at that precision (see ``_categories.encode``).
    narrow: set[int] = field(default_factory=set)

    def column(self, j: int, name: str = "X") -> str:
        """How messages name column ``j``."""
        label = repr(self.names[j]) if self.names is not None else str(j)
        return f"{name} column {label}"


def feature_names(X: Any) -> np.ndarray | None:
    """``X``'s column names as scikit-learn reads them: an object array when all are strings,
    None when there are none or none are strings; mixing strings with other names is a
    :class:`~wlearn_mitra.exceptions.InputTypeError` (scikit-learn's ``_get_feature_names``)."""
    columns = getattr(X, "columns", None)
    if columns is None or isinstance(X, np.ndarray) or not hasattr(X, "dtypes"):
        return None
    return _checked_names(list(columns))


def _checked_names(columns: list) -> np.ndarray | None:
    names = np.empty(len(columns), dtype=object)
    names[:] = columns
    kinds = sorted({type(n).__qualname__ for n in names})
    if len(kinds) > 1 and "str" in kinds:
        raise InputTypeError(
            "Feature names are only supported if all input features have string names, but "
            f"your input has {kinds} as feature name / column name types. Convert them all to "
            "strings (X.columns = X.columns.astype(str)) to have them stored and checked, or "
            "to another type to have them ignored."
        )
    return names if kinds == ["str"] else None


def _object_column(col: np.ndarray,
                   where: str = "X") -> tuple[np.ndarray | None, np.ndarray | None]:
    """A column of objects as ``(numbers, None)`` when it holds only numbers and missing
    values, else ``(None, raw values)`` when it holds strings too: text, even text that
    reads as a number ("4", "1e1", "inf"), as a pandas string column of the same values."""
    if not _holds_text(col):
        try:
            return col.astype(np.float64), None
        except (TypeError, ValueError):
            pass
    numbers_only = True
    out = np.full(len(col), np.nan)
    for i, v in enumerate(col):
        if _categories.is_missing(v):
            continue
        if isinstance(v, str):
            numbers_only = False
        elif isinstance(v, (numbers.Real, np.bool_)):
            out[i] = float(v)
        else:
            _categories.value_kind(v, where)  # raises InputTypeError naming the object
    if numbers_only:
        return out, None
    raw = np.empty(len(col), dtype=object)
    raw[:] = list(col)
    return None, raw



def _holds_text(values: np.ndarray) -> bool:
    """Whether an object array holds a string anywhere (numpy's float cast would read "4" as 4)."""
    return any(isinstance(v, str) for v in values.flat)


def _put_objects(table: "Table", j: int, col: np.ndarray) -> None:
    """Column ``j`` of ``table`` from a column of objects: numbers when it holds only numbers
    and missing values, else its raw values (text or categories)."""
    values, raw = _object_column(col, table.column(j))
    if raw is None:
        table.values[:, j] = values
    else:
        table.text[j] = raw

def _is_narrow(dtype: Any) -> bool:
    """A float dtype below float64 (numpy's, pandas' or pyarrow's)."""
    pa_type = getattr(dtype, "pyarrow_dtype", None)
    if pa_type is not None:
        return str(pa_type) in ("float", "halffloat")
    return getattr(dtype, "kind", None) == "f" and getattr(dtype, "itemsize", 8) < 8


def _objects(values: Any) -> np.ndarray:
    raw = np.empty(len(values), dtype=object)
    raw[:] = list(values)
    return raw


def _arrow_kind(dtype: Any) -> str | None:
    """What a pandas ``ArrowDtype`` column is: "text", "dictionary", "number" or None."""
    pa_type = getattr(dtype, "pyarrow_dtype", None)
    if pa_type is None:
        return None
    import pyarrow as pa

    if pa.types.is_dictionary(pa_type):
        return "dictionary"
    if (pa.types.is_string(pa_type) or pa.types.is_large_string(pa_type)
            or getattr(pa.types, "is_string_view", lambda t: False)(pa_type)):
        return "text"
    if pa.types.is_decimal(pa_type):
        return "number"
    return None


def _frame_columns(X: Any, table: Table) -> None:
    kinds = [getattr(dtype, "kind", None) for dtype in X.dtypes]
    table.narrow = {j for j, dtype in enumerate(X.dtypes) if _is_narrow(dtype)}
    if all(k in ("b", "i", "u", "f") for k in kinds):  # numbers only: one conversion
        # A copy: the frame's own float64 block may come back as a view (read-only under
        # pandas 3), and category columns are written to.
        table.values = X.to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
        return
    for j, dtype in enumerate(X.dtypes):
        series = X.iloc[:, j]
        where = table.column(j)
        dname = getattr(dtype, "name", str(dtype))
        arrow = _arrow_kind(dtype)
        if dname == "category":
            table.declared[j] = list(dtype.categories)
            if _is_narrow(dtype.categories.dtype):
                table.narrow.add(j)
            table.text[j] = _objects(series.astype(object).to_numpy())
        elif arrow == "dictionary":
            # Declared order only when the dictionary says it is ordered (pyarrow's flag).
            if dtype.pyarrow_dtype.ordered:
                table.declared[j] = _arrow_dictionary(series)
            table.text[j] = _objects(_none_for_na(series.to_numpy(dtype=object)))
        elif (type(dtype).__name__ == "StringDtype" or dname in ("string", "str")
              or arrow == "text" or getattr(dtype, "kind", None) in ("U", "S")):
            table.text[j] = _objects(_none_for_na(series.astype(object).to_numpy()))
        elif getattr(dtype, "kind", None) in ("b", "i", "u", "f") or arrow == "number":
            table.values[:, j] = series.to_numpy(dtype=np.float64, na_value=np.nan)
        elif getattr(dtype, "kind", None) == "O":
            _put_objects(table, j, series.to_numpy(dtype=object))
        else:
            raise InputTypeError(
                f"{where} has dtype {dtype}; Mitra takes numbers, booleans, and category, "
                "object or string columns"
            )


def _none_for_na(values: np.ndarray) -> list:
    return [None if _categories.is_missing(v) else v for v in values]


def _arrow_dictionary(series: Any) -> list:
    """The dictionary (categories, in order) of a pandas column of pyarrow dictionary type."""
    import pyarrow as pa

    chunked = pa.chunked_array(series.array) if not isinstance(
        series.array, pa.ChunkedArray) else series.array
    chunked = chunked.unify_dictionaries()
    return chunked.chunk(0).dictionary.to_pylist() if chunked.num_chunks else []


def _is_foreign_frame(X: Any) -> bool:
    """A dataframe that is neither pandas nor numpy (polars, pyarrow, ...): anything that
    speaks the Arrow PyCapsule or the dataframe interchange protocol, or that narwhals knows."""
    if isinstance(X, (np.ndarray, list, tuple)) or hasattr(X, "iloc"):
        return False
    module = type(X).__module__.split(".")[0]
    return (hasattr(X, "__arrow_c_stream__") or hasattr(X, "__dataframe__")
            or module in ("polars", "pyarrow", "modin", "cudf", "ibis", "duckdb", "pyspark"))


def _narwhals_frame(X: Any, name: str) -> Any:
    """``X`` as an eager narwhals DataFrame, or None when narwhals does not take it."""
    try:
        import narwhals.stable.v2 as nw
    except ImportError:  # pragma: no cover - a dependency; kept for trimmed installs
        raise InputTypeError(
            f"{name} is a {type(X).__module__}.{type(X).__name__}; reading it needs the "
            "narwhals package (pip install narwhals), or pass it as numpy or pandas") from None
    try:
        frame = nw.from_native(X, eager_only=True, pass_through=True)
    except Exception as exc:  # narwhals' own errors (duplicate column names, ...)
        first = str(exc).strip().splitlines()
        raise ValidationError(f"{name} ({type(X).__name__}) cannot be read: "
                              f"{' '.join(line.strip() for line in first)}") from None
    if isinstance(frame, nw.DataFrame):
        return frame
    series = nw.from_native(X, series_only=True, pass_through=True)
    if isinstance(series, nw.Series):
        raise ValidationError(f"{name} must be 2-D [rows, features], got a 1-D "
                              f"{type(X).__name__}. Reshape your data: pass a one-column frame")
    if hasattr(X, "collect") and type(X).__module__.split(".")[0] == "polars":
        raise InputTypeError(f"{name} is a polars LazyFrame; pass {name}.collect()")
    return None


def _narwhals_columns(frame: Any, table: Table, name: str) -> None:
    """Columns of an eager narwhals DataFrame (polars, pyarrow, ...) into ``table``."""
    import narwhals.stable.v2 as nw

    for j, column in enumerate(frame.iter_columns()):
        dtype = column.dtype
        where = table.column(j, name)
        if dtype.is_numeric() or dtype == nw.Boolean:
            if dtype in (nw.Float32,):
                table.narrow.add(j)
            try:
                values = column.cast(nw.Float64).to_numpy()
            except Exception:  # noqa: BLE001 - pyarrow's safe cast refuses integers past 2**53
                values = [np.nan if v is None else float(v) for v in column.to_list()]
            table.values[:, j] = np.asarray(values, dtype=np.float64)
        elif dtype == nw.Enum:  # polars' fixed, ordered categories
            table.declared[j] = list(dtype.categories)
            table.text[j] = _objects(column.to_list())
        elif dtype in (nw.String, nw.Categorical):
            native = column.to_native()
            pa_type = getattr(native, "type", None)
            if getattr(pa_type, "ordered", False):  # a pyarrow dictionary marked ordered
                table.declared[j] = _arrow_dictionary_of(native)
            table.text[j] = _objects(column.to_list())
        elif dtype == nw.Object:
            _put_objects(table, j, _objects(column.to_list()))
        elif column.null_count() == len(column):  # all missing (polars Null, pyarrow null)
            table.values[:, j] = np.nan  # as pandas' all-None column is read
        else:
            raise InputTypeError(
                f"{where} has dtype {dtype}; Mitra takes numbers, booleans, and categorical, "
                "enum or string columns"
            )


def _arrow_dictionary_of(chunked: Any) -> list:
    chunked = chunked.unify_dictionaries()
    return chunked.chunk(0).dictionary.to_pylist() if chunked.num_chunks else []


def _array_columns(arr: np.ndarray, table: Table) -> None:
    """Columns of an object or string array that is not all numbers."""
    for j in range(arr.shape[1]):
        _put_objects(table, j, arr[:, j].astype(object))


def read_table(X: Any, name: str = "X") -> Table:
    """Read ``X`` as a :class:`Table`: numpy, nested lists, a pandas DataFrame, or any other
    dataframe narwhals reads (polars, pyarrow ``Table``, ...), whose column names count as
    pandas' do (``feature_names_in_``).

    Numbers and booleans become float64; NaN, None, null and pandas NA are missing values.
    DataFrame columns of dtype category (pandas ``category``, pyarrow dictionary, polars
    ``Categorical`` / ``Enum``) or string (pandas ``string``/``str``, ``string[pyarrow]``,
    ``large_string[pyarrow]``, polars/pyarrow strings), and object columns (of a DataFrame or
    an object array) holding strings, are category/text columns (see
    :mod:`wlearn_mitra.inputs._categories`). Other objects (dicts, dates) raise
    :class:`~wlearn_mitra.exceptions.InputTypeError` (a ``TypeError``); infinite values and
    finite values beyond float32's range raise a :class:`ValidationError` (see
    :func:`check_float32`). ``X`` itself is never written to.
    """
    if hasattr(X, "__dask_graph__") and hasattr(X, "columns"):  # a Dask DataFrame: lazy
        # (a Dask array is read whole, as numpy reads it: dask-ml's ParallelPostFit.score)
        raise ValidationError(
            f"{name} is a Dask DataFrame: Mitra reads tables in memory. Predict partition by "
            f"partition ({name}.map_partitions(model.predict), docs/dask.md), or pass "
            f"{name}.compute() for a table that fits in memory")
    if hasattr(X, "nnz") and hasattr(X, "toarray"):  # scipy.sparse
        raise ValidationError(
            f"sparse input is not supported; pass {name}.toarray() (in a scikit-learn "
            "pipeline, make its encoders dense: OneHotEncoder(sparse_output=False), "
            "ColumnTransformer(sparse_threshold=0))")
    frame = _narwhals_frame(X, name) if _is_foreign_frame(X) else None
    if frame is not None:
        names = _checked_names(list(frame.columns))
        _check_shape(frame.shape, name)
        table = Table(np.full(frame.shape, np.nan), names)
        _narwhals_columns(frame, table, name)
        check_float32(table, name)
        return table
    names = feature_names(X)
    if hasattr(X, "columns") and hasattr(X, "dtypes") and hasattr(X, "iloc"):  # pandas
        shape = X.shape
        _check_shape(shape, name)
        table = Table(np.full(shape, np.nan), names)
        _frame_columns(X, table)
    else:
        try:
            arr = np.asarray(X)
            if arr.dtype.kind in "US" and isinstance(X, (list, tuple)):
                arr = np.asarray(X, dtype=object)  # numpy would make [1.5, "a"] two strings
        except ValueError as exc:  # ragged nested lists
            raise ValidationError(f"{name} must be a 2-D array of numbers ({exc})") from None
        if arr.dtype.kind == "c":
            raise ValidationError(f"Complex data not supported: {name} has dtype {arr.dtype}")
        if arr.dtype.kind not in "biufUSO":
            raise InputTypeError(f"{name} has dtype {arr.dtype}; Mitra takes numbers, booleans "
                                 "and strings")
        _check_shape(arr.shape, name)
        table = Table(np.full(arr.shape, np.nan), None)
        if _is_narrow(arr.dtype):
            table.narrow = set(range(arr.shape[1]))
        elif arr.dtype.kind == "O":  # numpy float32 objects keep their precision
            narrow_types = (np.float32, np.float16)
            table.narrow = {j for j in range(arr.shape[1])
                            if any(isinstance(v, narrow_types) for v in arr[:, j])}
        if arr.dtype.kind in "biuf":
            table.values = arr.astype(np.float64)
        elif arr.dtype.kind in "US" or _holds_text(arr):  # text, whatever it reads as
            _array_columns(arr, table)
        else:
            try:
                table.values = arr.astype(np.float64)
            except TypeError as exc:
                _array_columns(arr, table)  # names the offending object
                raise InputTypeError(f"{name} must hold numbers or strings ({exc})") from None
            except ValueError:
                _array_columns(arr, table)
    check_float32(table, name)
    return table


def _check_shape(shape: tuple, name: str) -> None:
    if len(shape) != 2:
        hint = (". Reshape your data: X.reshape(-1, 1) for a single feature, X.reshape(1, -1) "
                "for a single row") if len(shape) == 1 else ""
        raise ValidationError(f"{name} must be 2-D [rows, features], got shape {shape}{hint}")
    for axis, what in ((0, "sample"), (1, "feature")):
        if shape[axis] == 0:
            raise ValidationError(f"{name} has 0 {what}(s) (shape={shape}) while a minimum "
                                  "of 1 is required.")


def beyond_float32(values: np.ndarray) -> np.ndarray:
    """The float32 rule, its one home: a bool mask of the values float32 cannot hold
    (infinities, and finite values the float32 cast turns infinite: from float32's largest
    value, +-3.4028235e38, plus half a unit in the last place). Mitra computes in float32,
    where such a value is read as 0, so fit, prediction, stored support rows and targets all
    refuse them (``spec/mitra.md``). NaN is a missing value, not refused here."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.isinf(np.asarray(values).astype(np.float32, copy=False))


def check_float32(table: Table, name: str = "X") -> None:
    """Refuse values float32 cannot hold: infinities and finite values beyond +-3.4028235e38.

    Mitra computes in float32: such a value would become infinite, and non-finite inputs are
    read as 0 (upstream's preprocessing), so 1e39 would silently predict like 0.0. NaN is a
    missing value and is imputed. The same rule holds at fit, at prediction and for the
    support rows of a loaded bundle (``spec/mitra.md``).
    """
    bad = beyond_float32(table.values)
    if not bad.any():
        return
    rows, cols = np.nonzero(bad)
    r, c = int(rows[0]), int(cols[0])
    value = float(table.values[r, c])
    what = "infinite" if np.isinf(value) else "beyond float32's range (+-3.4028235e38)"
    raise ValidationError(
        f"{table.column(c, name)} row {r} holds {value!r}, {what} ({len(rows)} such value(s) "
        f"in {name}). Mitra computes in float32, where it would be read as 0. Rescale the "
        "column (a log, or a change of unit), or replace it with NaN (a missing value, imputed)"
    )


def _real_vector(y: Any) -> np.ndarray:
    """``y`` as a 1-D array, complex numbers refused (a cast to float would drop their
    imaginary parts with no more than a warning)."""
    arr = _labels.as_vector(y)
    if arr.dtype.kind == "c":
        raise ValidationError(f"Complex data not supported: y has dtype {arr.dtype}")
    return arr


def targets(y: Any) -> np.ndarray:
    arr = _real_vector(y)
    try:
        arr = arr.astype(np.float64)
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


def sample_weights(sample_weight: Any, rows: int) -> np.ndarray | None:
    """``score``'s ``sample_weight`` as float64 [rows] (None stays None): finite, not
    negative, not all 0, one per row; ValidationError otherwise."""
    if sample_weight is None:
        return None
    try:
        w = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValidationError("sample_weight must hold numbers, one per row") from None
    if w.shape != (rows,):
        raise ValidationError(f"sample_weight must have shape ({rows},), one weight per row; "
                              f"got {w.shape}")
    if not np.isfinite(w).all() or (w < 0).any() or not w.any():
        raise ValidationError("sample_weight must be finite and not negative, and not all 0")
    return w


def detect_task(y: Any) -> str:
    """The task of ``y``, decided from its values (scikit-learn's ``type_of_target`` rules,
    with wlearn's JS ``detectTask`` bound on distinct values), never from its container.

    Strings and booleans mean classification; so do integers (integer dtypes, or Python /
    numpy integers in an object array or list). Other numbers, whatever holds them (a float
    array, an object array or Series, a list): classification when all are integral with at
    most 20 distinct values, otherwise regression (any non-integral value, or NaN).
    """
    arr = _real_vector(y)
    if arr.dtype.kind in "bUS":
        return "classification"
    if arr.dtype.kind in "iu" and not isinstance(y, (list, tuple)):
        return "classification"
    if arr.dtype.kind == "O":
        kinds = {_labels.kind_of(v) for v in arr}
        if kinds == {"integer"} and not isinstance(y, (list, tuple)):
            return "classification"
        if not kinds <= {"integer", "float"}:
            # Strings, booleans, or a mix: labels (a mix of strings and numbers is refused
            # by the labels' own check, which names it).
            return "classification"
    try:
        values = arr.astype(np.float64)
    except (TypeError, ValueError):
        return "classification"
    if not np.all(values == np.round(values)):  # NaN compares unequal: regression
        return "regression"
    return "classification" if len(np.unique(values)) <= 20 else "regression"


#: Most ensemble members a model runs. Beyond a few dozen, more members move the average by
#: little; the bound keeps a bundle from asking for unbounded work and memory (each member
#: is planned and transformed up front).
MAX_N_ESTIMATORS = 256
#: Which labels an ensemble member's class permutation moves a predict's classes among
#: (``wlearn_mitra.engine._preprocess``): its own K (``"classes"``, what a fit gives), or every
#: slot of the model's head (``"slots"``, what models saved by wlearn-mitra 0.2.0 and earlier
#: with members keep).
CLASS_SHUFFLES = ("classes", "slots")
#: A SHA-256 as bundles, pickles and the identity memo write it: 64 lowercase hex digits.
SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def check_int(value: Any, name: str, minimum: int, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValidationError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if maximum is not None and value > maximum:
        raise ValidationError(f"{name} must be at most {maximum}, got {value!r}")
    return int(value)


def check_n_estimators(value: Any) -> int:
    """``n_estimators`` as an int in 1..:data:`MAX_N_ESTIMATORS`, else ValidationError."""
    return check_int(value, "n_estimators", 1, MAX_N_ESTIMATORS)


def check_class_shuffle(value: Any, name: str = "") -> str:
    """``value`` when it is one of :data:`CLASS_SHUFFLES`, else ValidationError naming
    ``name`` (a bundle's message names its param before it)."""
    if not isinstance(value, str) or value not in CLASS_SHUFFLES:
        raise ValidationError(f"{name} must be one of {CLASS_SHUFFLES}, got {value!r}".lstrip())
    return value


def unrecorded_class_shuffle(n_estimators: Any) -> str:
    """The class shuffle of a model that records none (a bundle or pickle of wlearn-mitra
    0.2.0 or earlier): ``"slots"`` when it has members, as those permuted all the head's
    labels, else ``"classes"``, as a fit gives (no answer of it depended on the rule)."""
    return "slots" if n_estimators != 1 else "classes"


#: ``target_scaling`` values of MitraRegressor (and MitraModel).
TARGET_SCALINGS = ("minmax", "none", "js")


def check_target_scaling(value: Any) -> str:
    """``value`` if it is one of :data:`TARGET_SCALINGS`, else ValidationError."""
    if not isinstance(value, str) or value not in TARGET_SCALINGS:
        raise ValidationError(f"target_scaling must be one of {TARGET_SCALINGS}, got {value!r}")
    return value


def check_target_encoding(value: Any) -> bool | None:
    """``target_encoding``: None (the model's declared default), True or False (numpy bools
    too), else ValidationError."""
    if value is None or isinstance(value, (bool, np.bool_)):
        return None if value is None else bool(value)
    raise ValidationError(f"target_encoding must be None, True or False, got {value!r}")


def check_task(value: Any) -> str | None:
    """MitraModel's ``task``: ``"classification"``, ``"regression"`` or None, else
    ValidationError."""
    if value is not None and (not isinstance(value, str)
                              or value not in ("classification", "regression")):
        raise ValidationError(
            f"task must be 'classification', 'regression' or None, got {value!r}"
        )
    return value


def exact_number(value: Any, name: str) -> int | float:
    """A finite real that JSON (a double) carries exactly, so a bundle can hold it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or (
            not isinstance(value, numbers.Integral) and not math.isfinite(value)):
        raise ValidationError(f"{name} must be a finite number, got {value!r}")
    if isinstance(value, numbers.Integral):
        value = int(value)
        try:
            exact = float(value) == value
        except OverflowError:  # beyond any double
            exact = False
        if not exact:
            raise ValidationError(f"{name}={value} is not exactly a double, so no bundle (JSON, "
                                  "as JavaScript reads it) could hold it; use at most 2**53")
        return value
    return float(value)


def check_max_support(value: Any) -> int | float:
    """``max_support`` as @wlearn/mitra reads ``maxSupport``: a number >= 1. A fraction is
    used as JS uses it (see ``select_support``)."""
    number = exact_number(value, "max_support")
    if number < 1:
        raise ValidationError(f"max_support must be a number >= 1, got {value!r} (JavaScript "
                              "keeps no rows for 0 and drops rows from the end for negatives)")
    return number


def check_seed(seed: Any) -> float | int:
    """The seed's numeric value. As JavaScript's ``seed | 0`` does, a string holding a decimal
    number is that number (``"42"`` is 42; bundles keep the string as given)."""
    if isinstance(seed, str):
        text = seed.strip()
        try:
            # JavaScript's ToNumber reads ASCII digits only ("٤٢" | 0 is 0, float() says 42)
            number = float(text) if text.isascii() and "_" not in text else math.nan
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise ValidationError(f"seed must be a finite number or a string holding one, "
                                  f"got {seed!r}")
        return int(number) if number.is_integer() and "." not in text and "e" not in text.lower() \
            else number
    return exact_number(seed, "seed")


def check_random_state(random_state: Any) -> None:
    """``random_state`` as scikit-learn takes it: None, an int, or a numpy ``Generator`` /
    ``RandomState``."""
    if random_state is None or isinstance(random_state, (np.random.Generator,
                                                         np.random.RandomState)):
        return
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        return
    raise ValidationError(
        "random_state must be None, an int, or a numpy Generator or RandomState, got "
        f"{random_state!r}"
    )


def draw_seed(random_state: Any, seed: Any) -> float | int:
    """The seed of one fit: ``seed`` when ``random_state`` is None, the int ``random_state``,
    or a number in [0, 2^31 - 1) drawn from a ``Generator`` / ``RandomState`` (so that JS's
    ``seed | 0`` reads it unchanged)."""
    check_random_state(random_state)
    if random_state is None:
        return check_seed(seed)
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, 2**31 - 1))
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, 2**31 - 1))
    return int(random_state)


def one_dimensional(y: Any) -> Any:
    """``y`` unchanged, or its only column with a :class:`DataConversionWarning` when it is a
    column vector (shape (n, 1), or a one-column DataFrame), as scikit-learn warns."""
    shape = getattr(y, "shape", None)
    if shape is None and isinstance(y, (list, tuple)) and y and all(
        isinstance(r, (list, tuple, np.ndarray)) and len(r) == 1 for r in y
    ):
        shape = (len(y), 1)
    if shape is None or len(shape) != 2 or shape[1] != 1:
        return y
    warn_conversion(
        "A column-vector y was passed when a 1d array was expected. Please change the shape "
        "of y to (n_samples, ), for example using ravel()."
    )
    if hasattr(y, "iloc"):
        return y.iloc[:, 0]
    if _is_foreign_frame(y):
        frame = _narwhals_frame(y, "y")
        if frame is not None:
            return frame.get_column(frame.columns[0]).to_numpy()
    return np.asarray(y)[:, 0]


def check_feature_names(fitted: np.ndarray | None, given: np.ndarray | None,
                        estimator: str) -> None:
    """scikit-learn's check of the column names at prediction against those of fit: an error
    when both have names and they differ (unseen, missing or reordered names), a UserWarning
    when only one side has names. Column counts are checked afterwards."""
    if fitted is None and given is None:
        return
    if given is None:
        warnings.warn(f"X does not have valid feature names, but {estimator} was fitted with "
                      "feature names", UserWarning, stacklevel=user_stacklevel())
        return
    if fitted is None:
        warnings.warn(f"X has feature names, but {estimator} was fitted without feature names",
                      UserWarning, stacklevel=user_stacklevel())
        return
    if len(fitted) == len(given) and all(a == b for a, b in zip(fitted, given)):
        return
    message = "The feature names should match those that were passed during fit.\n"
    unseen = sorted(set(given) - set(fitted))
    missing = sorted(set(fitted) - set(given))

    def listing(names: list[str]) -> str:
        shown = "".join(f"- {n}\n" for n in names[:5])
        return shown + ("- ...\n" if len(names) > 5 else "")

    if unseen:
        message += "Feature names unseen at fit time:\n" + listing(unseen)
    if missing:
        message += "Feature names seen at fit time, yet now missing:\n" + listing(missing)
    if not unseen and not missing:
        message += "Feature names must be in the same order as they were in fit.\n"
    raise ValidationError(message)
