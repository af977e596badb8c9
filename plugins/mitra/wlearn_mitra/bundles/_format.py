"""The Mitra bundle: what a fitted model writes and reads (see ``spec/mitra.md``).

Artifacts ``meta`` (JSON), ``support_x`` (float32 [nSupport, nFeatures]) and ``support_y``
(int32 raw labels for a classifier, float32 targets for a regressor), as @wlearn/mitra
writes them, plus ``support_y_f64`` (float64) for a regressor whose targets float32 rounds; classifiers whose labels int32 cannot hold write ``support_y_index`` (int32
class indices) and ``meta.labels`` instead of ``support_y`` and ``meta.classes``. Models with
category/text columns write ``support_x_encoded`` and ``meta.categories`` instead of
``support_x``; models fitted on named columns add ``meta.featureNames``.
"""

from __future__ import annotations

import errno
import numbers
import os
import tempfile
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import wlrn
import wlrn.bundle
from wlearn.errors import BundleError, ValidationError
from wlrn import decode_json, encode_bundle, encode_json

from .._tasks import REGRESSOR_BINS_TYPE_ID as _REGRESSOR_BINS_TYPE_ID
from .._tasks import TASK_OF_TYPE_ID
from .._tasks import TASKS as _TASKS
from ..inputs import _categories, _labels, _manyclass
from ..inputs._checks import (
    SHA256_HEX, beyond_float32, check_class_shuffle, check_max_support, check_n_estimators,
    check_seed, check_target_scaling, check_task, unrecorded_class_shuffle,
)
from ..inputs._support import check_support_selection

CLASSIFIER_TYPE_ID = _TASKS["classification"].type_id
REGRESSOR_TYPE_ID = _TASKS["regression"].type_id
TYPE_IDS = {name: task.type_id for name, task in _TASKS.items()}
#: A regressor whose model has a bin head (Mitra-v2): targets are fed as bin ids, which
#: @wlearn/mitra 0.1 cannot do. Its bundle has no ``support_y`` (float32 targets a JS
#: regressor would feed), only the exact targets (``support_y_f64``), and ``meta.nBins``.
REGRESSOR_BINS_TYPE_ID = _REGRESSOR_BINS_TYPE_ID

#: Regressor only: the float64 targets, written when float32 ``support_y`` rounds some.
EXACT_TARGETS = "support_y_f64"

#: Rounding the targets to float32 may move them by this fraction of their spread (4 float32
#: steps of the model's [0, 1] output) before the exact copy is kept.
SCALED_TOLERANCE = 2.0**-22


#: JS parameter names (``create``, bundle manifests) -> Python names.
JS_PARAMS = {
    "maxSupport": "max_support",
    "seed": "seed",
    "nEstimators": "n_estimators",
    "targetScaling": "target_scaling",
    "maxNodeClasses": "max_node_classes",
    "task": "task",
    "supportSelection": "support_selection",
    "targetEncoding": "target_encoding",
    "classShuffle": "class_shuffle",
}

#: ``meta.params`` written only when not this default (so default bundles stay byte-identical
#: to @wlearn/mitra's, which keeps unknown params and ignores them) or when the bundle loaded
#: had them (a JS caller may write nEstimators: 1); maxSupport and seed are always written.
_WRITTEN_UNLESS_DEFAULT = {"nEstimators": 1, "targetScaling": "minmax", "maxNodeClasses": None,
                           "targetEncoding": False}
_ALWAYS_WRITTEN = ("maxSupport", "seed")


def _stored_max_support(value: Any) -> None:
    """``maxSupport`` as fit checks ``max_support``, but for 0: @wlearn/mitra writes that
    (a bundle of no rows, which predict refuses)."""
    if type(value) in (int, float) and value == 0:
        return
    check_max_support(value)


def _max_node_classes(value: Any) -> None:
    if value is not None:
        _manyclass.check_max_groups(value)


def _target_encoding(value: Any) -> None:
    if not isinstance(value, bool):  # JSON true or false: what the fitted model used
        raise ValidationError(f"must be true or false, got {value!r}")


def class_shuffle(params: dict[str, Any]) -> str:
    """How a bundle's ensemble members permute the classes (``params.classShuffle``, see
    :mod:`wlearn_mitra.engine._preprocess`); absent, what its ``nEstimators`` implies
    (:func:`~wlearn_mitra.inputs._checks.unrecorded_class_shuffle`)."""
    if "classShuffle" in params:
        return params["classShuffle"]
    return unrecorded_class_shuffle(params.get("nEstimators", 1))


def target_encoded(params: dict[str, Any]) -> bool:
    """Whether a bundle's model was fitted with target encoding (``params.targetEncoding``;
    absent: false, as every @wlearn/mitra bundle)."""
    return params.get("targetEncoding") is True


#: The estimators' own check of each param a bundle can carry (the same rule and message as
#: at fit), keyed by its name in bundles.
_PARAM_CHECKS = {
    "maxSupport": _stored_max_support,
    "seed": check_seed,
    "nEstimators": check_n_estimators,
    "targetScaling": check_target_scaling,
    "maxNodeClasses": _max_node_classes,
    "task": check_task,
    "supportSelection": check_support_selection,
    "targetEncoding": _target_encoding,
    "classShuffle": check_class_shuffle,
}


def check_params(params: dict[str, Any]) -> None:
    """BundleError naming ``manifest.params.<key>`` for a param (of :data:`JS_PARAMS`) that
    the estimator would refuse at fit: a bundle is untrusted input. Unknown params are kept,
    as @wlearn/mitra keeps them."""
    for key, check in _PARAM_CHECKS.items():
        if key in params:
            try:
                check(params[key])
            except ValidationError as exc:
                raise BundleError(f"manifest.params.{key}: {exc}") from None


def json_number(value: Any) -> Any:
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    return value


def manifest_params(values: dict[str, Any], kept: dict[str, Any]) -> dict[str, Any]:
    """A bundle's ``meta.params``: ``kept`` (what a loaded bundle had, see :func:`kept_params`)
    with the estimator's ``values`` (Python names, see :data:`JS_PARAMS`) written in as
    @wlearn/mitra names them, numbers as JSON carries them."""
    params = dict(kept)
    for js_name, name in JS_PARAMS.items():
        if name not in values:
            continue
        value = values[name]
        if (js_name in _ALWAYS_WRITTEN or js_name in params
                or value != _WRITTEN_UNLESS_DEFAULT.get(js_name)):
            params[js_name] = json_number(value)
    return params


def kept_params(params: dict[str, Any]) -> dict[str, Any]:
    """The params of a loaded bundle that stay in it on save (known ones with their current
    value: :func:`manifest_params` writes maxSupport and seed anew)."""
    return {k: v for k, v in params.items() if k not in _ALWAYS_WRITTEN}


def constructor_params(params: dict[str, Any], accepted: list[str]) -> dict[str, Any]:
    """A bundle's ``meta.params`` as constructor keywords, those in ``accepted`` only."""
    return {JS_PARAMS[key]: value for key, value in params.items()
            if key in JS_PARAMS and JS_PARAMS[key] in accepted}


def stored_targets(y: np.ndarray) -> np.ndarray:
    """Regression targets (float64, finite within float32's range) as a model keeps them.

    Their float32 rounding (what ``support_y`` holds, as @wlearn/mitra) when that changes the
    min-max scaled targets the model sees by less than a few float32 steps of [0, 1]; else
    ``y`` itself, which the bundle then also stores exactly (``support_y_f64``). So ordinary
    targets give JS's bytes, while constant targets (0.1 everywhere) and spreads float32
    cannot hold (1e8 + 1, 1e8 + 2, ...) come back as given.
    """
    y = np.asarray(y, dtype=np.float64)
    rounded = y.astype(np.float32).astype(np.float64)
    if len(y) == 0:
        return rounded
    error = float(np.max(np.abs(y - rounded)))
    span = float(y.max() - y.min())
    if error == 0 or (span > 0 and error <= SCALED_TOLERANCE * span):
        return rounded
    return y


@dataclass
class MitraState:
    """Everything a Mitra bundle holds."""

    task: str
    params: dict[str, Any]  # manifest params, JS names (maxSupport, seed, ...)
    support_x: np.ndarray  # float32 [S, F]
    support_y: np.ndarray  # classifier: int64 class indices; regressor: float64 targets
    classes: np.ndarray | None = None
    onnx_sha256: str | None = None
    extra_meta: dict[str, Any] = field(default_factory=dict)
    feature_names: list[str] | None = None  # meta.featureNames
    categories: dict[int, np.ndarray] = field(default_factory=dict)  # column -> categories
    class_hierarchy: list | None = None  # meta.classHierarchy's tree (classifier)
    n_bins: int | None = None  # regressor: the model's value bins (a bin head), else None
    #: Artifacts no Mitra bundle has (read by nothing, as @wlearn/mitra ignores them; not
    #: written back by encode): their ids, for inspect's notes.
    ignored_artifacts: tuple[str, ...] = ()


#: The artifacts a Mitra bundle may hold (spec/mitra.md, "Artifacts").
ARTIFACTS = frozenset({"meta", "support_x", "support_x_encoded", "support_y", "support_y_index",
                       "support_y_f64"})


def encode(state: MitraState) -> bytes:
    """The bundle bytes; byte-identical to @wlearn/mitra's for what it can represent."""
    n_support, n_features = state.support_x.shape
    meta: dict[str, Any] = {
        **state.extra_meta,
        "nFeatures": n_features,
        "nSupport": n_support,
        "onnxSha256": state.onnx_sha256,
        "seed": state.params.get("seed"),
    }
    metadata: dict[str, Any] = {"nFeatures": n_features}
    support_x = np.ascontiguousarray(state.support_x, dtype="<f4")
    # Written only when there is something to say, so other bundles stay JS's bytes.
    if state.feature_names is not None:
        meta["featureNames"] = [str(n) for n in state.feature_names]
    x_id = "support_x"
    if state.categories:
        meta["categories"] = _categories.to_json(state.categories)
        x_id = "support_x_encoded"
    if state.task == "classification":
        metadata["nClasses"] = len(state.classes)
        js = _labels.js_classes(state.classes)
        if state.class_hierarchy is not None or target_encoded(state.params):
            # The labels extension's support_y_index, never support_y: @wlearn/mitra then
            # refuses the bundle at load instead of running one pass over all classes, or
            # without the target statistics.
            if state.class_hierarchy is not None:
                meta["classHierarchy"] = _manyclass.to_json(state.class_hierarchy)
            js = None
        written = state.extra_meta.get("classes")
        if js is not None:
            meta["classes"] = js
            if isinstance(written, list) and sorted(set(written)) == js:
                # A JS bundle listing a class twice (labels 0, 0.5, 1 give [0, 0, 1]): write
                # its list back as it was, so load and save keep the bytes.
                meta["classes"] = written
                metadata["nClasses"] = len(written)
            y_id, y = "support_y", np.asarray(js, dtype="<i4")[state.support_y]
        else:
            meta.pop("classes", None)
            meta["labels"] = _labels.to_json(state.classes)
            y_id, y = "support_y_index", state.support_y.astype("<i4")
    else:
        y_id, y = "support_y", np.ascontiguousarray(state.support_y, dtype="<f4")
        exact = np.ascontiguousarray(state.support_y, dtype="<f8")
    type_id = TYPE_IDS[state.task]
    if state.task == "regression" and state.n_bins is not None:
        type_id = REGRESSOR_BINS_TYPE_ID
        meta["nBins"] = metadata["nBins"] = state.n_bins
    if state.task == "regression" and (state.n_bins is not None or target_encoded(state.params)):
        # No float32 support_y: JS, which makes no bin ids and has no target encoding, must
        # not feed it.
        y_id, y = EXACT_TARGETS, exact
    manifest = {
        "typeId": type_id,
        "params": state.params,
        "metadata": metadata,
    }
    artifacts = [
        {"id": "meta", "data": encode_json(meta)},
        {"id": x_id, "data": support_x.tobytes()},
        {"id": y_id, "data": y.tobytes()},
    ]
    if (state.task == "regression" and y_id != EXACT_TARGETS
            and not np.array_equal(exact, y.astype("<f8"), equal_nan=True)):
        # Only when float32 rounds some target, so other bundles stay byte-identical to JS's.
        artifacts.append({"id": EXACT_TARGETS, "data": exact.tobytes()})
    return encode_bundle(manifest, artifacts)


#: The JavaScript package whose loading rule :func:`js_refusal` states.
JS_PACKAGE = "@wlearn/mitra 0.1"


def js_refusal(state: MitraState) -> str | None:
    """Why :data:`JS_PACKAGE` refuses to load the bundle of ``state`` (it throws at load), or
    None when it loads it. It reads typeIds ``...@1`` and the artifacts ``support_x`` and
    ``support_y``; :func:`encode` leaves one of them out of (or writes another typeId for) a
    bundle it could not run right, and :func:`decode` refuses such a bundle that has them
    anyway, so what the state holds decides (``tests/js`` checks this against the package)."""
    reasons = []
    if state.n_bins is not None:
        reasons.append(f"the typeId of a bin-head regressor ({REGRESSOR_BINS_TYPE_ID}), "
                       "which it has no loader for")
    if state.categories:
        reasons.append("category columns (support_x_encoded), which it cannot code")
    if state.task == "classification" and state.class_hierarchy is not None:
        reasons.append("a class hierarchy (more classes than max_node_classes), which it "
                       "would run as one pass")
    if target_encoded(state.params):
        reasons.append("target encoding (params.targetEncoding), which it does not compute")
    if state.task == "classification" and _labels.js_classes(state.classes) is None:
        reasons.append("labels that are not int32 numbers (meta.labels)")
    return "; ".join(reasons) or None


try:  # this project's core: the reading policy wlearn.load, Bundle and `wlearn validate` use
    from wlearn import read_bundle as _core_read
except ImportError:  # PyPI's wlearn 0.3: its wlearn.load reads with validate_bundle
    from wlearn.bundle import validate_bundle as _validate_03

    def _core_read(data: Any) -> tuple[dict, list, Any]:
        # Files and unreadable paths as this project's core reads them (a BundleError naming
        # the file, not 0.3's raw OSError), then 0.3's own checks.
        return _validate_03(wlrn.bundle.read_input(data))


def read(data: Any) -> tuple[dict, list, Any]:
    """``(manifest, toc, blobs)`` of bundle bytes, a path or a binary file, read exactly as the
    installed core's ``wlearn.load`` reads it (this project's ``wlearn.read_bundle``, or 0.3's
    ``validate_bundle``): every SHA-256 checked, 0.3 ``artifacts`` declarations held to the
    TOC, so ``MitraClassifier.load`` refuses what ``wlearn.load`` refuses. Failures raise the
    installed core's ``wlearn.errors.BundleError``."""
    try:
        return _core_read(data)
    except wlrn.WlearnError as exc:
        if isinstance(exc, BundleError):
            raise
        raise BundleError(str(exc)) from None


def _file_mode(target: str) -> int:
    """The permissions a plain ``open(target, "wb")`` would give: the existing file's, else
    0o666 less the umask (a temporary file starts at 0o600)."""
    try:
        return os.stat(target).st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def write(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: a temporary file in the same folder, flushed to
    disk, then renamed over ``path`` (``os.replace``), so no reader sees a partial bundle and a
    failed write (full disk, no permission) leaves an existing file untouched and no temporary
    file behind.

    Raises the ``OSError`` that the core's ``write_bundle_output(data, path)`` (wlearn 0.3's
    contract: ``Path(path).write_bytes``) raises for the same path, of the same class and
    naming the caller's ``path`` (``filename``), never the temporary file: FileNotFoundError
    for a missing folder, IsADirectoryError for a folder (refused before anything is
    written), PermissionError, ``OSError(ENOSPC)`` for a full disk."""
    target = os.fspath(path)
    if os.path.isdir(target):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), target)
    folder = os.path.dirname(os.path.abspath(target))
    try:
        handle, temporary = tempfile.mkstemp(prefix=".wlrn-", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise _naming(exc, target) from None
    try:
        os.chmod(temporary, _file_mode(target))
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except BaseException as exc:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise _naming(exc, target) from None
        raise


def _naming(exc: OSError, target: str) -> OSError:
    """``exc`` as the same OSError class about ``target`` (the user's path)."""
    if exc.errno is None:
        return type(exc)(f"{exc}: {target!r}")
    return type(exc)(exc.errno, exc.strerror or os.strerror(exc.errno), target)


def _int_field(meta: dict, name: str, minimum: int = 1) -> int:
    value = meta.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise BundleError(f"meta.{name} must be an integer >= {minimum}, got {value!r}")
    return value


def _views(toc: list, blobs: Any) -> dict[str, memoryview]:
    """Artifact views by id from the TOC's offsets. ``blobs`` is sliced as the blob region,
    which both PyPI's wlearn 0.3 (a ``memoryview``) and this project's core (``Blobs``)
    pass to loaders."""
    return {e["id"]: blobs[e["offset"]:e["offset"] + e["length"]] for e in toc}


def _array(blobs: dict[str, memoryview], artifact: str, dtype: str, count: int) -> np.ndarray:
    try:
        raw = blobs[artifact]
    except KeyError:
        raise BundleError(f"the bundle has no {artifact!r} artifact") from None
    expected = count * np.dtype(dtype).itemsize
    if len(raw) != expected:
        raise BundleError(f"artifact {artifact!r} has {len(raw)} bytes, expected {expected}")
    return np.frombuffer(raw, dtype=dtype).astype(dtype[1:], copy=True)


def support_x_problem(support_x: np.ndarray, artifact: str = "support_x") -> str | None:
    """What is wrong with stored rows under the float32 rule of fit and prediction
    (:func:`~wlearn_mitra.inputs._checks.beyond_float32`), None when nothing: an infinity there
    is what @wlearn/mitra stores for a value beyond float32's range, and the model would read
    it as 0. Refused at prediction, not at load, so such a JS bundle still loads and saves back
    unchanged."""
    bad = beyond_float32(support_x)
    if not bad.any():
        return None
    r, c = (int(i[0]) for i in np.nonzero(bad))
    return (
        f"{artifact} holds {support_x[r, c]} at row {r}, column {c}: a value float32 cannot "
        "hold (@wlearn/mitra stores values beyond +-3.4e38 as infinities), which the model "
        "would read as 0. Refit from data with that column rescaled."
    )


def check_support_x(support_x: np.ndarray, artifact: str = "support_x") -> None:
    """:func:`support_x_problem` raised as a ValidationError."""
    problem = support_x_problem(support_x, artifact)
    if problem is not None:
        raise ValidationError(problem)


def decode(manifest: dict, toc: list, blobs: Any) -> MitraState:
    """Read a Mitra bundle's parts (as ``decode_bundle`` of either core, or of :mod:`wlrn`,
    returns them)."""
    task = TASK_OF_TYPE_ID.get(manifest.get("typeId"))
    if task is None:
        raise BundleError(f"not a Mitra bundle: typeId {manifest.get('typeId')!r}")
    params = manifest.get("params", {})
    if not isinstance(params, dict):
        raise BundleError("manifest.params must be an object")
    check_params(params)
    blobs = _views(toc, blobs)
    if "meta" not in blobs:
        raise BundleError("the bundle has no 'meta' artifact")
    ignored = tuple(sorted(str(i) for i in blobs if i not in ARTIFACTS))
    try:
        meta = decode_json(blobs["meta"])
    except (BundleError, wlrn.BundleError) as exc:  # the codec's class, under PyPI's wlearn
        raise BundleError(f"artifact 'meta': {exc}") from None
    if not isinstance(meta, dict):
        raise BundleError("artifact 'meta' must be a JSON object")
    n_features = _int_field(meta, "nFeatures")
    n_support = _int_field(meta, "nSupport", 0)  # JS writes 0 for maxSupport: 0
    sha = meta.get("onnxSha256")
    if sha is not None and not (isinstance(sha, str) and SHA256_HEX.fullmatch(sha)):
        raise BundleError(f"meta.onnxSha256 must be null or 64 lowercase hex digits, got {sha!r}")
    names = meta.get("featureNames")
    if names is not None and (
        not isinstance(names, list) or len(names) != n_features
        or not all(isinstance(n, str) for n in names)
    ):
        raise BundleError(f"meta.featureNames must be a list of {n_features} strings")
    categories: dict[int, np.ndarray] = {}
    if "categories" in meta:
        categories = _categories.from_json(meta["categories"], n_features, n_support)
    x_id = "support_x_encoded" if categories else "support_x"
    other = "support_x" if categories else "support_x_encoded"
    if other in blobs:
        raise BundleError(f"the bundle has a {other!r} artifact; with"
                          f"{'' if categories else 'out'} meta.categories it must have {x_id!r}")
    support_x = _array(blobs, x_id, "<f4", n_support * n_features)
    support_x = support_x.reshape(n_support, n_features)
    _categories.check_codes(support_x, categories)
    known = {"nFeatures", "nSupport", "onnxSha256", "seed", "classes", "labels", "featureNames",
             "categories", "classHierarchy", "nBins"}
    state = MitraState(
        task=task,
        params=dict(params),
        support_x=support_x,
        support_y=np.empty(0),
        onnx_sha256=sha,
        extra_meta={k: v for k, v in meta.items() if k not in known},
        feature_names=names,
        categories=categories,
        ignored_artifacts=ignored,
    )
    # What only the other task's bundles hold: a bundle under the wrong typeId (a hand edit)
    # is named as such, not refused later for want of a model of the other task's hash.
    if task == "regression":
        other = "classifier"
        stray = [f"meta.{key}" for key in ("classes", "labels", "classHierarchy") if key in meta]
        stray += ["artifact 'support_y_index'"] if "support_y_index" in blobs else []
    else:
        other = "regressor"
        stray = [f"artifact {EXACT_TARGETS!r}"] if EXACT_TARGETS in blobs else []
    if stray:
        kind = _TASKS[task].kind
        raise BundleError(f"a {kind}'s bundle ({manifest.get('typeId')}) has "
                          f"{' and '.join(stray)}, which only a {other}'s has: a {other}'s "
                          f"bundle under a {kind}'s typeId?")
    if manifest.get("typeId") == REGRESSOR_BINS_TYPE_ID:
        return _decode_bins(state, meta, blobs, n_support)
    if "nBins" in meta:
        raise BundleError(f"meta.nBins belongs to {REGRESSOR_BINS_TYPE_ID} bundles, not "
                          f"{manifest.get('typeId')}")
    if task == "regression":
        if target_encoded(params):
            state.support_y = _exact_targets_only(
                blobs, n_support, "a bundle with params.targetEncoding",
                " (so that @wlearn/mitra 0.1, which has no target encoding, refuses it)")
            return state
        # NaN targets load (@wlearn/mitra writes them) so the bundle round-trips; predict
        # refuses them.
        rounded = _array(blobs, "support_y", "<f4", n_support)
        state.support_y = rounded.astype(np.float64)
        if EXACT_TARGETS in blobs:
            exact = _array(blobs, EXACT_TARGETS, "<f8", n_support)
            with np.errstate(over="ignore", invalid="ignore"):
                consistent = np.array_equal(exact.astype(np.float32), rounded)
            if not consistent:
                raise BundleError(
                    f"artifact {EXACT_TARGETS!r} does not round to support_y: the bundle's "
                    "two copies of the targets disagree"
                )
            state.support_y = exact
        return state
    if "classHierarchy" in meta and "classes" in meta:
        raise BundleError("a bundle with meta.classHierarchy must carry its labels as "
                          "meta.labels and support_y_index (so that @wlearn/mitra 0.1, which "
                          "cannot run it, refuses it), not meta.classes")
    if target_encoded(params) and "classes" in meta:
        raise BundleError("a bundle with params.targetEncoding must carry its labels as "
                          "meta.labels and support_y_index (so that @wlearn/mitra 0.1, which "
                          "has no target encoding, refuses it), not meta.classes")
    if "classes" in meta and "labels" in meta:
        raise BundleError("a classifier's meta must hold exactly one of 'classes' and 'labels'")
    if "classes" not in meta and "labels" not in meta:
        raise BundleError("a classifier's meta must hold exactly one of 'classes' and "
                          "'labels'; it has neither (a regressor's bundle under a "
                          "classifier's typeId?)")
    if "classes" in meta:
        raw_classes = meta["classes"]
        if (
            not isinstance(raw_classes, list)
            or not raw_classes
            or not all(type(c) is int and _labels.INT32_MIN <= c <= _labels.INT32_MAX
                       for c in raw_classes)
        ):
            raise BundleError("meta.classes must be a non-empty list of int32 labels")
        # @wlearn/mitra can write a class twice (1 and 1.5 both become 1): keep each once,
        # and the list as written for save().
        state.classes = np.unique(np.asarray(raw_classes, dtype=np.int64))
        if len(state.classes) != len(raw_classes):
            state.extra_meta["classes"] = list(raw_classes)
        labels = _array(blobs, "support_y", "<i4", n_support).astype(np.int64)
        index = np.searchsorted(state.classes, labels)
        index = np.minimum(index, len(state.classes) - 1)
        unknown = labels[state.classes[index] != labels]
        if len(unknown):
            raise BundleError(f"support_y holds label {unknown[0]}, which meta.classes lacks")
    else:
        state.classes = _labels.from_json(meta["labels"])
        index = _array(blobs, "support_y_index", "<i4", n_support).astype(np.int64)
        if len(index) and (index.min() < 0 or index.max() >= len(state.classes)):
            raise BundleError(
                f"support_y_index must hold class indices 0..{len(state.classes) - 1}"
            )
    state.support_y = index
    if "classHierarchy" in meta:
        state.class_hierarchy = _manyclass.from_json(meta["classHierarchy"], len(state.classes))
    return state


def _decode_bins(state: MitraState, meta: dict, blobs: dict, n_support: int) -> MitraState:
    """The targets and bin count of a bin-head regressor's bundle."""
    from ..inputs._bins import MAX_BINS

    state.n_bins = _int_field(meta, "nBins", 2)
    if state.n_bins > MAX_BINS:
        raise BundleError(f"meta.nBins must be at most {MAX_BINS}, got {state.n_bins}")
    state.support_y = _exact_targets_only(blobs, n_support,
                                          f"a {REGRESSOR_BINS_TYPE_ID} bundle")
    return state


def _exact_targets_only(blobs: dict, n_support: int, bundle: str, why: str = "") -> np.ndarray:
    """The float64 targets of a regressor's bundle that keeps them in :data:`EXACT_TARGETS`
    only (a bin head's, a target-encoded model's: nothing @wlearn/mitra would feed);
    BundleError when it also has ``support_y``."""
    if "support_y" in blobs:
        raise BundleError(f"{bundle} keeps its targets in {EXACT_TARGETS!r} only{why}; it has "
                          "a 'support_y' artifact")
    return _array(blobs, EXACT_TARGETS, "<f8", n_support)
