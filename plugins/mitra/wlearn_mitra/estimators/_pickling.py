"""What a pickled Mitra estimator carries, and the checks made when one is unpickled.

A pickle carries the parameters, the support set and the model's location (a path, or None
for the environment's model) with its SHA-256 (``onnx_sha256_``), never the model's bytes: a
pickle shipped to every Dask or joblib worker stays as small as the support set, and each
worker opens the model from its own disk once (``engine._shared`` shares the engine). The worker
checks the model's hash when it opens it, so a pickle never predicts silently with other
weights than those it was fitted with.

Pickles are untrusted input. ``pickle`` itself builds whatever objects a pickle names; beyond
that, :func:`restore` calls nothing from the state and accepts only the attributes an estimator
has, each of the expected type and shape, raising :class:`~wlearn.errors.ValidationError`
naming what is wrong.
"""

from __future__ import annotations

import numbers
import os
from typing import Any, Callable

import numpy as np

from wlearn.errors import ValidationError, WlearnError
from wlrn import encode_json

from ..inputs import _categories, _labels, _manyclass
from ..inputs._checks import SHA256_HEX, beyond_float32, check_class_shuffle, exact_number

#: Version of the state dictionary written by :func:`state_of`.
PICKLE_VERSION = 1
VERSION_KEY = "_mitra_pickle"

#: Private attributes a pickle may carry besides parameters and learned attributes.
_PRIVATE = ("_extra_params", "_extra_meta", "_disposed", "_onnx_replaced")
#: Constructor parameters that name an ONNX model.
_MODEL_PARAMS = ("onnx", "classifier_onnx", "regressor_onnx")


def _bad(owner: str, what: str) -> ValidationError:
    return ValidationError(f"cannot unpickle {owner}: {what}")


def portable_source(owner: str, name: str, source: Any) -> Any:
    """How the model parameter ``name`` travels in a pickle: None, or an absolute path (a
    relative one would resolve against the worker's working directory)."""
    if source is None:
        return None
    if isinstance(source, (str, os.PathLike)):
        absolute = os.path.abspath(os.fspath(source))
        return absolute if isinstance(source, str) else type(source)(absolute)
    kind = "bytes" if isinstance(source, (bytes, bytearray, memoryview)) else type(source).__name__
    raise ValidationError(
        f"cannot pickle {owner} whose {name} is given as {kind}: a pickle carries the model's "
        f"location and hash, never the model itself. Pass {name} as the path of the .onnx file "
        "(readable by every process that unpickles it), or leave it None to use the file named "
        "by the environment variable WLEARN_MITRA_CLASSIFIER_ONNX / WLEARN_MITRA_REGRESSOR_ONNX"
    )


def state_of(obj: Any, params: list[str], transient: tuple[str, ...]) -> dict[str, Any]:
    """``obj.__dict__`` as it is pickled: model sources as locations, ``transient`` left out."""
    owner = type(obj).__name__
    state = {k: v for k, v in obj.__dict__.items() if k not in transient}
    for name in _MODEL_PARAMS:
        if name in params and name in state:
            state[name] = portable_source(owner, name, state[name])
    state[VERSION_KEY] = PICKLE_VERSION
    return state


# --- checks of the learned attributes -----------------------------------------------------------

def _array(value: Any, name: str, ndim: int, kinds: str) -> np.ndarray:
    if type(value) not in (np.ndarray, np.memmap):  # joblib may load arrays as memmaps
        raise ValidationError(f"{name} must be a numpy array, got {type(value).__name__}")
    if value.ndim != ndim or value.dtype.kind not in kinds:
        raise ValidationError(
            f"{name} must be a {ndim}-D array of kind {kinds!r}, got {value.dtype} {value.shape}"
        )
    return value


def _label(value: Any) -> bool:
    return isinstance(value, (str, bool, np.bool_, numbers.Real))


def _check_learned(state: dict[str, Any], classification: bool) -> None:
    n_features = state.get("n_features_in_")
    if isinstance(n_features, bool) or not isinstance(n_features, int) or n_features < 1:
        raise ValidationError(f"n_features_in_ must be a positive int, got {n_features!r}")
    support_x = _array(state.get("support_x_"), "support_x_", 2, "f")
    # No rows is what a bundle of maxSupport 0 loads as (predict refuses it, as after load).
    if support_x.dtype != np.float32 or support_x.shape[1] != n_features:
        raise ValidationError(
            f"support_x_ must be float32 [rows, {n_features}], got {support_x.dtype} "
            f"{support_x.shape}"
        )
    rows = len(support_x)
    support_y = state.get("support_y_")
    if classification:
        classes = _array(state.get("classes_"), "classes_", 1, "biufUO")
        if not 1 <= len(classes) or (classes.dtype.kind == "O" and not all(map(_label, classes))):
            raise ValidationError("classes_ must hold at least one label (number, bool or str)")
        if not _labels.ascending(classes):
            raise ValidationError("classes_ must be sorted and distinct")
        index = _array(state.get("_support_index"), "_support_index", 1, "iu")
        if len(index) != rows or (rows and (index.min() < 0 or index.max() >= len(classes))):
            raise ValidationError(
                f"_support_index must hold {rows} class indices below {len(classes)}"
            )
        support_y = _array(support_y, "support_y_", 1, classes.dtype.kind)
        if len(support_y) != rows:
            raise ValidationError(f"support_y_ must have {rows} labels, got {len(support_y)}")
        if not np.array_equal(support_y, classes[index]):
            raise ValidationError("support_y_ must be classes_[_support_index], the labels of "
                                  "the support rows")
        if state.get("class_hierarchy_") is not None:
            _manyclass.check_tree(state["class_hierarchy_"], len(classes))
        if "class_shuffle_" in state:
            check_class_shuffle(state["class_shuffle_"], "class_shuffle_")
    else:
        if "classes_" in state or "_support_index" in state:
            raise ValidationError("a regressor has no classes_")
        support_y = _array(support_y, "support_y_", 1, "f")
        if support_y.dtype != np.float64 or len(support_y) != rows:
            raise ValidationError(f"support_y_ must be float64 [{rows}], got {support_y.dtype} "
                                  f"{support_y.shape}")
        if np.isnan(support_y).any() or beyond_float32(support_y).any():
            raise ValidationError("support_y_ holds NaN or infinite targets, or targets "
                                  "beyond float32's range")
    sha = state.get("onnx_sha256_")
    if sha is not None and not (isinstance(sha, str) and SHA256_HEX.fullmatch(sha)):
        raise ValidationError(f"onnx_sha256_ must be None or 64 lowercase hex digits, got {sha!r}")
    if "support_indices_" in state:
        picked = _array(state["support_indices_"], "support_indices_", 1, "iu")
        if len(picked) != rows or (rows and picked.min() < 0):
            raise ValidationError(f"support_indices_ must hold {rows} row numbers")
    names = state.get("feature_names_in_")
    if names is not None:
        names = _array(names, "feature_names_in_", 1, "UO")
        if len(names) != n_features or not all(isinstance(n, str) for n in names):
            raise ValidationError(f"feature_names_in_ must hold {n_features} strings")
    encoding = state.get("target_encoding_", False)
    if not isinstance(encoding, (bool, np.bool_)):
        raise ValidationError(f"target_encoding_ must be a bool, got {encoding!r}")
    exact_number(state.get("seed_", 0), "seed_")
    categories = state.get("categories_", {})
    if not isinstance(categories, dict):
        raise ValidationError("categories_ must be a dict of column index -> categories")
    for index, values in categories.items():
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < n_features:
            raise ValidationError(f"categories_ has a key {index!r} that is no column number")
        values = _array(values, f"categories_[{index}]", 1, "O")
        # "missing" (None) may be the first category (spec/mitra.md, categories version 2).
        named = values[1:] if len(values) and values[0] is None else values
        if len(values) > rows or not all(map(_label, named)):
            raise ValidationError(f"categories_[{index}] must hold at most {rows} numbers, "
                                  "booleans or strings (and None first)")
    try:
        _categories.check_codes(support_x, categories)
    except WlearnError as exc:
        raise ValidationError(str(exc).replace("support_x_encoded", "support_x_")) from None


def _check_json_dict(value: Any, name: str) -> None:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise ValidationError(f"{name} must be a dict with string keys")
    try:
        encode_json(value)
    except (WlearnError, TypeError, ValueError) as exc:
        raise ValidationError(f"{name} must hold JSON values: {exc}") from None


# --- restoring ----------------------------------------------------------------------------------

def restore(
    obj: Any,
    state: Any,
    *,
    params: list[str],
    defaults: dict[str, Any],
    learned: tuple[str, ...],
    check_learned: Callable[[dict[str, Any]], None] | None,
    children: dict[str, tuple[type, ...]] | None = None,
) -> None:
    """Check the unpickled ``state`` of ``obj`` and set it, or raise ValidationError.

    ``params``: constructor parameter names (missing ones, from a pickle of an older version,
    take ``defaults``); ``learned``: the learned attributes it may have; ``check_learned``
    checks them when present; ``children``: attributes holding a nested estimator, by the
    classes it may be.
    """
    owner = type(obj).__name__
    if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
        raise _bad(owner, f"its state must be a dict with string keys, got {type(state).__name__}")
    state = dict(state)
    version = state.pop(VERSION_KEY, None)
    if version != PICKLE_VERSION:
        raise _bad(owner, f"pickle format {version!r} is not the supported {PICKLE_VERSION} "
                   "(pickled by another version of wlearn-mitra?)")
    children = children or {}
    allowed = {*params, *learned, *_PRIVATE, *children}
    unknown = sorted(set(state) - allowed)
    if unknown:
        raise _bad(owner, f"unknown attributes {unknown}")
    try:
        for name in _MODEL_PARAMS:
            source = state.get(name)
            if name in params and source is not None and not isinstance(source, (str, os.PathLike)):
                raise ValidationError(
                    f"{name} must be a path or None, got {type(source).__name__}"
                )
        for name in ("_extra_params", "_extra_meta"):
            if name in state:
                _check_json_dict(state[name], name)
        for name in ("_disposed", "_onnx_replaced"):
            if not isinstance(state.get(name, False), bool):
                raise ValidationError(f"{name} must be a bool")
        for name, classes in children.items():
            child = state.get(name)
            if child is not None and type(child) not in classes:
                kinds = " or ".join(c.__name__ for c in classes)
                raise ValidationError(f"{name} must be a {kinds} or None, "
                                      f"got {type(child).__name__}")
        present = [name for name in learned if name in state]
        present += [name for name in children if state.get(name) is not None]
        if present and check_learned is not None:
            check_learned(state)
    except ValidationError as exc:
        raise _bad(owner, str(exc)) from None
    for name in params:
        state.setdefault(name, defaults[name])
    obj.__dict__.update(state)


def learned_checker(classification: bool) -> Callable[[dict[str, Any]], None]:
    """The check of an estimator's learned attributes, for :func:`restore`."""
    def check(state: dict[str, Any]) -> None:
        _check_learned(state, classification)
    return check
