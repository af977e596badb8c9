"""MitraClassifier, MitraRegressor and MitraModel: scikit-learn style estimators whose
bundles are those of the JavaScript package @wlearn/mitra.

"Fitting" Mitra only picks the support set, the rows the model conditions on; predictions
are one ONNX Runtime pass over support and query rows (see :mod:`wlearn_mitra.engine`).
"""

from __future__ import annotations

import copy
import inspect
import numbers
import os
import types
from typing import Any, Callable

import numpy as np

from wlearn.errors import BundleError, DisposedError, ValidationError
from wlrn.rng import to_int32

from ..bundles import _format
from ..graphs import _builtin
from ..inputs import _categories, _labels, _manyclass
from . import _pickling
from ._distribution import BinnedDistribution
from ..exceptions import not_fitted
from ..inputs._checks import check_feature_names, check_max_support, check_n_estimators, check_random_state, check_rows, check_seed, detect_task, draw_seed, one_dimensional, read_table, require_y, targets
from ..runtimes import _choice
from ..engine._shared import ENV_VARS, Handle, how_to_get, open_engine, release
from ..inputs._support import SUPPORT_SELECTIONS, check_support_selection, select_support
from ..engine._engine import MAX_CLASSES

__all__ = ["MitraClassifier", "MitraRegressor", "MitraModel", "detect_task"]

#: JS parameter names (``create``, bundle manifests) -> Python names.
JS_PARAMS = {
    "maxSupport": "max_support",
    "seed": "seed",
    "nEstimators": "n_estimators",
    "targetScaling": "target_scaling",
    "maxNodeClasses": "max_node_classes",
    "task": "task",
    "supportSelection": "support_selection",
}
TARGET_SCALINGS = ("minmax", "none", "js")
Progress = Callable[[int, int], object]


def capabilities(task: str) -> dict[str, bool]:
    """The ``capabilities`` @wlearn/mitra reports for a task's estimator."""
    classifier = task == "classification"
    return {
        "classifier": classifier,
        "regressor": not classifier,
        "predictProba": classifier,
        "decisionFunction": False,
        "sampleWeight": False,
        "csr": False,
        "earlyStopping": False,
    }


def _same_source(a: Any, b: Any) -> bool:
    """Whether two ``onnx`` parameters name the same model (paths compared as absolute)."""
    if a is b:
        return True
    paths = (str, os.PathLike)
    if isinstance(a, paths) and isinstance(b, paths):
        return os.path.abspath(os.fspath(a)) == os.path.abspath(os.fspath(b))
    return False


def _json_number(value: Any) -> Any:
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    return value


# --- parameters, lifecycle and scikit-learn protocol -------------------------------------------

class _Params:
    """get_params/set_params/clone/repr and the disposed state, without scikit-learn."""

    _disposed = False
    _estimator_kind: str | None = None

    @classmethod
    def _param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return [p for p in signature.parameters if p != "self"]

    @classmethod
    def _param_defaults(cls) -> dict[str, Any]:
        signature = inspect.signature(cls.__init__)
        return {name: p.default for name, p in signature.parameters.items() if name != "self"}

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor parameters (scikit-learn protocol)."""
        self._check_alive()
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> "_Params":
        """Set constructor parameters; they take effect at the next fit or prediction."""
        self._check_alive()
        names = self._param_names()
        for key, value in params.items():
            if key not in names:
                raise ValidationError(
                    f"{type(self).__name__} has no parameter {key!r}; parameters: {names}"
                )
            if key.endswith("onnx") and not _same_source(value, getattr(self, key)):
                self._handle = None
                # A deliberate change of model: its hash replaces the fitted one at next use.
                self._onnx_replaced = True
            setattr(self, key, value)
        return self

    @classmethod
    def _create_kwargs(cls, params: dict[str, Any] | None) -> dict[str, Any]:
        """``create``'s ``params`` (JS or Python names) as constructor keywords, the ONNX
        models excepted (``create`` takes those apart)."""
        names = cls._param_names()
        kwargs = {}
        for key, value in (params or {}).items():
            name = JS_PARAMS.get(key, key)
            if name not in names or name.endswith("onnx"):
                raise ValidationError(f"{cls.__name__}.create: unknown parameter {key!r}")
            kwargs[name] = value
        return kwargs

    def __sklearn_is_fitted__(self) -> bool:
        return self.is_fitted

    def __sklearn_clone__(self) -> "_Params":
        # The ONNX source is shared, never deep-copied: sessions cannot be, and 290 MB of
        # bytes should not be.
        return type(self)(**self.get_params())

    def __copy__(self) -> "_Params":
        twin = type(self).__new__(type(self))
        twin.__dict__.update(self.__dict__)
        return twin

    def __deepcopy__(self, memo: dict) -> "_Params":
        # The model source and the engine are shared, as clone() does: sessions cannot be
        # copied, and the bytes of a 290 MB model should not be.
        twin = type(self).__new__(type(self))
        memo[id(self)] = twin
        for name, value in self.__dict__.items():
            shared = name == "_handle" or name.endswith("onnx")
            twin.__dict__[name] = value if shared else copy.deepcopy(value, memo)
        return twin

    def __repr__(self) -> str:
        if self._disposed:
            return f"{type(self).__name__}(<disposed>)"
        defaults = {
            name: p.default for name, p in inspect.signature(type(self).__init__).parameters.items()
        }
        shown = []
        for name in self._param_names():
            value = getattr(self, name)
            if value is defaults[name] or (isinstance(value, (int, str)) and value == defaults[name]):
                continue
            if isinstance(value, (bytes, bytearray, memoryview)):
                text = f"<{len(value)} bytes>"
            elif hasattr(value, "run") and hasattr(value, "get_inputs"):
                text = "<InferenceSession>"
            else:
                text = repr(value)
            shown.append(f"{name}={text}")
        return f"{type(self).__name__}({', '.join(shown)})"

    def _check_alive(self) -> None:
        if self._disposed:
            raise DisposedError(f"{type(self).__name__} has been disposed")

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal lookup fails: unfitted or disposed learned attributes.
        if name.startswith("__"):
            raise AttributeError(name)
        if self.__dict__.get("_disposed"):
            raise DisposedError(f"{type(self).__name__} has been disposed")
        if name.endswith("_") and not name.startswith("_") and not self.is_fitted:
            raise not_fitted(
                f"{type(self).__name__} is not fitted: {name} is set by fit() or load()"
            )
        # A fitted model lacks this attribute for good (feature_names_in_ after a fit on an
        # array, a typo): "not fitted" would send the caller the wrong way.
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @property
    def _estimator_type(self) -> str | None:
        return self._estimator_kind

    def __sklearn_tags__(self) -> Any:
        from sklearn.utils import ClassifierTags, InputTags, RegressorTags, Tags, TargetTags

        kind = self._estimator_type
        return Tags(
            estimator_type=kind,
            target_tags=TargetTags(required=True),
            classifier_tags=ClassifierTags() if kind == "classifier" else None,
            regressor_tags=RegressorTags() if kind == "regressor" else None,
            input_tags=InputTags(allow_nan=True),  # the engine imputes NaN as upstream
        )


class _MitraEstimator(_Params):
    """What MitraClassifier and MitraRegressor share."""

    _task = "classification"
    _handle: Handle | None = None
    _extra_params: dict[str, Any] = {}
    _extra_meta: dict[str, Any] = {}
    _learned = ("classes_", "n_features_in_", "support_x_", "support_y_", "support_indices_",
                "feature_names_in_", "categories_", "seed_",
                "onnx_sha256_", "_support_index")

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def create(cls, onnx: Any = None, params: dict[str, Any] | None = None):
        """Build an unfitted model with @wlearn/mitra's parameter names (``maxSupport``,
        ``seed``); Python names are accepted too. The ONNX model is opened now, as JS does."""
        model = cls(onnx=onnx, **cls._create_kwargs(params))
        model._open()
        return model

    def _open(self) -> Handle:
        """The engine of the ``onnx``, ``runtime`` and ``precision`` parameters, opened on
        first use."""
        self._check_alive()
        runtime, precision = self.runtime, self.precision
        _choice.check(runtime, precision)
        engine = None if self._handle is None else self._handle.engine
        if engine is None or (engine.runtime, engine.precision) != (runtime, precision):
            handle = open_engine(self.onnx, self._task, precision, runtime)
            self._check_model(handle.engine.onnx_sha256)
            self._handle = handle
        return self._handle

    def _check_model(self, sha: str | None) -> None:
        """A fitted (or unpickled) estimator runs only the model it was fitted with, unless
        its ``onnx`` parameter was changed since: then the new model's hash is adopted."""
        if sha is None or "n_features_in_" not in self.__dict__:
            return
        fitted = self.__dict__.get("onnx_sha256_")
        if self.__dict__.pop("_onnx_replaced", False) or fitted is None:
            self.onnx_sha256_ = sha
        elif fitted != sha:
            where = self.onnx if self.onnx is not None else "the environment's model file"
            raise ValidationError(
                f"the ONNX model ({where}) has sha256 {sha}, but this {type(self).__name__} "
                f"was fitted with the model of sha256 {fitted}: the file was replaced, or this "
                "machine has another file there. Put the same model there, or fit again (or "
                "set_params(onnx=...)) to use this one."
            )

    @property
    def capabilities(self) -> dict[str, bool]:
        """What the model supports, as @wlearn/mitra reports it."""
        return capabilities(self._task)

    @property
    def is_fitted(self) -> bool:
        """True after fit() or load() (and before dispose())."""
        return not self._disposed and "n_features_in_" in self.__dict__

    # -- fitting ------------------------------------------------------------------------------

    def _checked_params(self) -> tuple[int | float, float | int]:
        max_support = check_max_support(self.max_support)
        if "support_selection" in self._param_names():
            check_support_selection(self.support_selection)
        check_seed(self.seed)
        check_random_state(self.random_state)
        check_n_estimators(self.n_estimators)
        return max_support, draw_seed(self.random_state, self.seed)

    def fit(self, X: Any, y: Any):
        """Pick the support set from ``X``, ``y``. Returns self.

        ``X``: [rows, features] numbers (numpy, lists, a pandas, polars or pyarrow table,
        or another dataframe narwhals reads; it is never written to); DataFrame columns of
        dtype category, string or object (text) are category columns, coded from the
        support rows (see ``categories_``; "missing" is a category of its own). ``y``: [rows] labels or targets. Raises
        ValidationError for bad input, InputTypeError (a TypeError) for objects that are
        neither numbers nor strings, and for infinite values or values beyond float32's range
        (+-3.4e38), which the model would read as 0 (spec/mitra.md).
        """
        self._check_alive()
        max_support, seed = self._checked_params()
        table = read_table(X)
        require_y(y, type(self).__name__)
        y = one_dimensional(y)
        y, classes = self._fit_targets(table.values, y)
        handle = self._open()
        # A classifier's support set is picked by class index (support_selection).
        rows = self._select(len(table.values), max_support, seed, y, classes, handle)
        support_x = table.values[rows]
        categories = {}
        for j, raw in table.text.items():
            where = table.column(j)
            categories[j] = _categories.learn(raw[rows], where, table.declared.get(j))
            support_x[:, j] = _categories.encode(raw[rows], categories[j], where)
        self._extra_params, self._extra_meta = {}, {}
        self._store(support_x.astype(np.float32), y[rows], handle.engine.onnx_sha256, classes)
        self.support_indices_ = rows
        self.seed_ = seed
        self.categories_ = categories
        if table.names is not None:
            self.feature_names_in_ = table.names
        return self

    def _fit_targets(self, X: np.ndarray, y: Any) -> tuple[np.ndarray, np.ndarray | None]:
        """Checked ``y`` of ``X`` as ``(targets, None)`` or ``(class indices, classes)``."""
        raise NotImplementedError

    def _select(self, n_rows, max_support, seed, y, classes, handle) -> np.ndarray:
        """The support rows of a fit (a classifier's picked by class index, by
        ``support_selection``)."""
        return select_support(n_rows, max_support, seed, None if classes is None else y,
                              getattr(self, "support_selection", "balanced"))

    def _store(self, support_x, support_y, onnx_sha256, classes=None) -> None:
        """Learned state; with ``classes``, ``support_y`` holds each row's class index."""
        for name in self._learned:
            self.__dict__.pop(name, None)
        self.support_x_ = support_x
        if classes is None:
            self.support_y_ = support_y
        else:
            self.classes_ = classes
            self._support_index = support_y
            self.support_y_ = classes[support_y]
        self.n_features_in_ = support_x.shape[1]
        self.onnx_sha256_ = onnx_sha256

    # -- prediction ---------------------------------------------------------------------------

    def _check_fitted(self) -> None:
        self._check_alive()
        if "n_features_in_" not in self.__dict__:
            raise not_fitted(f"{type(self).__name__} is not fitted. Call fit() first.")

    def _check_support(self, finite: bool = True) -> None:
        """Refuse a support set nothing sensible can be predicted from (bundles @wlearn/mitra
        writes and Python reads back unchanged)."""
        if len(self.support_x_) == 0:
            raise ValidationError(
                f"{type(self).__name__} has an empty support set (a bundle saved with "
                "maxSupport 0, nSupport 0): there are no rows to predict from")
        if finite:
            _format.check_support_x(self.support_x_)
        if finite and self._task == "regression" and not np.isfinite(self.support_y_).all():
            raise ValidationError(
                "the support targets hold NaN or infinite values (a bundle @wlearn/mitra fit "
                "on them); predictions would be NaN. target_scaling='js' runs them as JS does")

    def _query(self, X: Any) -> np.ndarray:
        """Query rows as the model's float64 [rows, n_features_in_]: names checked against
        ``feature_names_in_`` (as scikit-learn), category columns coded as at fit."""
        self._check_fitted()
        table = read_table(X)
        check_feature_names(self.__dict__.get("feature_names_in_"), table.names,
                            type(self).__name__)
        Xq = table.values
        if Xq.shape[1] != self.n_features_in_:
            raise ValidationError(
                f"X has {Xq.shape[1]} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input"
            )
        categories = self.__dict__.get("categories_", {})
        for j in sorted(set(table.text) - set(categories)):
            raise ValidationError(f"{table.column(j)} holds text, but it held numbers at fit")
        for j, known in categories.items():
            raw = table.text.get(j)
            if raw is None:  # numbers given: matched against numeric categories by value
                raw = np.empty(len(Xq), dtype=object)
                raw[:] = [None if np.isnan(v) else v for v in Xq[:, j].tolist()]
            # Xq is read_table's own array, never the caller's.
            Xq[:, j] = _categories.encode(raw, known, table.column(j), j in table.narrow)
        return Xq

    def _seed(self) -> float | int:
        """The seed of predictions and bundles: the ``random_state`` int, the ``seed``
        parameter when ``random_state`` is None, or the seed drawn at fit from a
        ``Generator`` / ``RandomState`` (``seed_``)."""
        rs = self.random_state
        check_random_state(rs)
        if rs is None:
            return check_seed(self.seed)
        if isinstance(rs, (np.random.Generator, np.random.RandomState)):
            return self.seed_
        return int(rs)

    def _run(self, Xq: np.ndarray, y_support: np.ndarray, n_classes: int | None,
             rows: np.ndarray | None = None) -> np.ndarray:
        """The engine's answer from the support set (or its ``rows``) labelled ``y_support``."""
        n_estimators = check_n_estimators(self.n_estimators)
        return self._open().engine.predict(
            self.support_x_ if rows is None else self.support_x_[rows],
            y_support,
            Xq,
            n_classes=n_classes,
            n_estimators=n_estimators,
            # The seed as wlearn's LCG reads it (JS ``seed | 0``), made non-negative.
            seed=to_int32(self._seed()) & 0xFFFFFFFF,
            progress=self.progress,
            max_memory_mb=self.max_memory_mb,
            owner=self.support_x_,  # its encodings leave the engine's cache with it
        )

    # -- bundles ------------------------------------------------------------------------------

    def _manifest_params(self) -> dict[str, Any]:
        params = dict(self._extra_params)
        params["maxSupport"] = _json_number(self.max_support)
        seed = self._seed()
        # As given when it is the seed in use, as JS writes it ("42" stays a string).
        params["seed"] = _json_number(self.seed if self.random_state is None else seed)
        # Python-only settings are written only when not the default, so default bundles
        # stay byte-identical to @wlearn/mitra's (which keeps unknown params and ignores them),
        # and when a loaded bundle had them (a JS caller may write nEstimators: 1).
        if self.n_estimators != 1 or "nEstimators" in params:
            params["nEstimators"] = _json_number(self.n_estimators)
        return params

    def save(self, path: str | os.PathLike[str] | None = None) -> bytes:
        """The model as ``.wlrn`` bundle bytes (the ONNX model is not included; the bundle
        records its sha256). With ``path``, the bundle is also written to that file, as
        AutoGluon's and TabPFN's ``save(path)`` do, atomically: a temporary file beside it is
        renamed over it (``os.replace``), so readers never see a partial bundle and a failed
        write leaves an existing file as it was (the ``OSError`` is raised). ``load`` takes the
        path back. Raises NotFittedError before fit() or load()."""
        data = self._bundle()
        if path is not None:
            _format.write(path, data)
        return data

    def _bundle(self) -> bytes:
        self._check_fitted()
        is_clf = self._task == "classification"
        state = _format.MitraState(
            task=self._task,
            params=self._manifest_params(),
            support_x=self.support_x_,
            support_y=self._support_index if is_clf else self.support_y_,
            classes=self.classes_ if is_clf else None,
            onnx_sha256=self.onnx_sha256_,
            extra_meta=self._extra_meta,
            feature_names=self.__dict__.get("feature_names_in_"),
            categories=self.__dict__.get("categories_", {}),
            class_hierarchy=self.__dict__.get("class_hierarchy_"),
            n_bins=None if is_clf else self._open().engine.n_bins,  # a bin head: regressor@2
        )
        return _format.encode(state)

    @classmethod
    def load(
        cls, data: Any, onnx: Any = None, *, check_onnx_hash: bool = True, precision: str = "fp32",
        runtime: str = "onnxruntime",
    ):
        """A model from bundle bytes, a path or a binary file, read as ``wlearn.load`` reads
        it (the same checks: a bundle one refuses, the other refuses). ``onnx``, ``precision``
        and ``runtime`` as for the constructor (bundles hold neither); the bundle's
        ``onnxSha256`` must match ``onnx`` unless ``check_onnx_hash=False``. Raises
        BundleError for a malformed bundle, ValidationError for a model of another hash or
        none at hand."""
        manifest, toc, blobs = _format.read(data)
        return cls._from_bundle(
            manifest, toc, blobs, onnx=onnx, check_onnx_hash=check_onnx_hash, precision=precision,
            runtime=runtime,
        )

    @classmethod
    def _from_bundle(cls, manifest, toc, blobs, *, onnx=None, check_onnx_hash=True,
                     precision="fp32", runtime="onnxruntime", onnx_is_default=False):
        """``onnx_is_default``: ``onnx`` is a registered default (``register_loaders``), which
        a bundle naming the built-in model by hash overrides."""
        state = _format.decode(manifest, toc, blobs)
        cls._check_bundle_task(state, manifest)
        params = dict(state.params)
        kwargs = {
            JS_PARAMS[key]: params[key]
            for key in list(params)
            if key in JS_PARAMS and JS_PARAMS[key] in cls._param_names()
        }
        onnx = cls._bundle_model(state.onnx_sha256, onnx, onnx_is_default)
        model = cls(onnx=onnx, precision=precision, runtime=runtime, **kwargs)
        # Every param the bundle had stays in it on save, known ones with their current value.
        model._extra_params = {k: v for k, v in params.items() if k not in ("maxSupport", "seed")}
        model._extra_meta = state.extra_meta
        engine = model._open().engine
        if check_onnx_hash and state.onnx_sha256 and engine.onnx_sha256:
            if state.onnx_sha256 != engine.onnx_sha256:
                raise ValidationError(cls._wrong_model(state.onnx_sha256, engine.onnx_sha256,
                                                       onnx))
        if state.task == "regression" and engine.n_bins != state.n_bins:  # bin head or not
            def head(n_bins: int | None) -> str:
                return "a scalar head" if n_bins is None else f"a {n_bins}-bin head"
            raise ValidationError(
                f"the bundle ({manifest.get('typeId')}) was made with a regressor of "
                f"{head(state.n_bins)}, but the model given has {head(engine.n_bins)}")
        sha = engine.onnx_sha256 or state.onnx_sha256
        model._store(state.support_x, state.support_y, sha, state.classes)
        model.seed_ = model.seed
        model.categories_ = state.categories
        if state.task == "classification":
            model.class_hierarchy_ = state.class_hierarchy
        if state.feature_names is not None:
            model.feature_names_in_ = np.asarray(state.feature_names, dtype=object)
        return model

    @classmethod
    def _check_bundle_task(cls, state: _format.MitraState, manifest: dict) -> None:
        if state.task != cls._task:
            raise BundleError(
                f"the bundle holds a {manifest.get('typeId')}, not a {cls.__name__}; "
                "use MitraModel.load to load either kind"
            )

    @classmethod
    def _bundle_model(cls, sha: str | None, onnx: Any, onnx_is_default: bool) -> Any:
        """The ``onnx`` a bundle recording model ``sha`` loads with: a bundle made with the
        built-in model names it by hash, so it needs no model given (a registered default
        does not override it); otherwise ``onnx`` (None: the environment's, else built-in)."""
        if (onnx is None or onnx_is_default) and sha == _builtin.sha256(cls._task):
            return _builtin.path(cls._task)
        return onnx

    @classmethod
    def _wrong_model(cls, wanted: str, found: str | None, onnx: Any) -> str:
        """Why a bundle recording model ``wanted`` cannot load with the model of hash
        ``found`` (``onnx`` as passed to the load), and what to do."""
        env_var = ENV_VARS[cls._task]
        type_id = _format.TYPE_IDS[cls._task]
        text = f"the bundle was made with the ONNX model of sha256 {wanted}, "
        if onnx is not None or os.environ.get(env_var):
            return text + (f"but the model given has sha256 {found}. Pass the same model, or "
                           "check_onnx_hash=False to use this one anyway.")
        return text + (
            f"and no model was given (the built-in one is another). Pass it: "
            f"{cls.__name__}.load(data, onnx=PATH), or wlearn.load(data, loader_options="
            f"{{'{type_id}': {{'onnx': PATH}}}}); or set {env_var} to its file, or bind it "
            f"with wlearn_mitra.register_loaders. The real Mitra: {how_to_get(cls._task)}.")

    def dispose(self) -> None:
        """Release the ONNX session and the support set. Idempotent; afterwards every call
        raises DisposedError."""
        if self._disposed:
            return
        for name in self._learned:
            self.__dict__.pop(name, None)
        release(self._handle)
        self._handle = None
        self._disposed = True

    # -- pickling and copies (see _pickling) -------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        # The engine is reopened from the model's location on first use, its hash checked.
        return _pickling.state_of(self, self._param_names(), transient=("_handle",))

    def __setstate__(self, state: Any) -> None:
        _pickling.restore(
            self, state,
            params=self._param_names(),
            defaults=self._param_defaults(),
            learned=self._learned,
            check_learned=_pickling.learned_checker(self._task == "classification"),
        )


class MitraClassifier(_MitraEstimator):
    """Mitra classification: in-context learning over a support set of labelled rows.

    Parameters
    ----------
    onnx:
        The Mitra classifier ONNX model: a path, its bytes or an ``onnxruntime.InferenceSession``.
        Default: the file named by ``WLEARN_MITRA_CLASSIFIER_ONNX``.
    max_support:
        At most this many training rows are kept (all of them when there are no more),
        picked by ``support_selection``.
    seed:
        Seed of the support selection (wlearn's LCG) and of ensemble members, used when
        ``random_state`` is None; @wlearn/mitra's name, and what bundles store.
    random_state:
        scikit-learn's name for the seed: None (default: ``seed`` is used, so default bundles
        stay byte-identical to @wlearn/mitra's), an int (the seed, stored in bundles as
        ``seed``), or a numpy ``Generator`` / ``RandomState``, from which each fit draws a seed
        in [0, 2^31 - 1) (``seed_``, stored in bundles as ``seed``). A loaded model has
        ``random_state=None`` and the bundle's ``seed``.
    n_estimators:
        Ensemble members averaged at prediction (1: one plain pass; at most 256).
    max_memory_mb:
        Working-memory budget of a whole prediction, in MB on top of the model's weights.
        None (default): the model's plain answer, all features together (up to 500), query
        rows in chunks of about 1024 MB, refused with ResourceLimitError before running when
        the support set needs more memory than the machine has available. With a budget:
        query rows are run in chunks that fit; when the support set's own pass does not fit
        with all features, ensemble members each see a different subset of the features,
        deterministic by ``seed``, with at least enough members that every feature is seen
        (with a UserWarning, as the answer is no longer the plain one). Beyond 500 features
        (the model's comfortable width) members get subsets either way. A budget too small
        for even one feature raises ResourceLimitError saying what to change (spec/mitra.md,
        "Wide data"). A runtime setting, not saved in bundles.
    progress:
        ``progress(rows_done, rows_total)`` during prediction, or True for a progress bar.
    precision:
        ``"fp32"`` (default, exact). Opt-in, faster at a measured accuracy cost
        (bench/README.md): ``"int8"`` on ONNX Runtime (dynamic int8 quantisation of the weight
        matrices; the quantised graph is made once and cached; needs the ``onnx`` package),
        ``"bf16"`` on OpenVINO (needs a CPU with AMX or AVX512-BF16, else ValidationError).
    runtime:
        ``"onnxruntime"`` (default) or ``"openvino"`` (the ``openvino`` extra).
        Same graphs, outputs and bundles. Like ``precision``, a setting of this machine, not
        saved in bundles; estimators on the same model share an engine only at the same
        runtime and precision. Threads: ``WLEARN_MITRA_THREADS``, else ``OMP_NUM_THREADS``
        (which joblib's workers get as cores / ``n_jobs``, so ``cross_val_score(n_jobs=2)``
        shares the cores), else one per core.
    support_selection:
        How ``max_support`` rows are picked from more: ``"stratified"`` (default) keeps each
        class's share of the rows (scikit-learn's sense of the word; at least one row per
        class), so the model sees the training prior; ``"balanced"`` keeps the same number
        of rows per class, exactly @wlearn/mitra 0.1.0's pick (its bundles byte for byte),
        which skews the prior of an imbalanced table towards the rare classes. Both are
        deterministic by ``seed`` (``spec/mitra.md``, "Support selection"). A rule of fitting:
        the bundle stores the rows picked, not the rule, and a loaded model has the default.

    max_node_classes:
        The most classes one pass of the model may see, 2..10 (the head's 10 outputs). A
        table with more classes is predicted through a balanced class hierarchy of passes of
        at most this many groups each, probabilities multiplied down the tree (TabICL's
        scheme; spec/mitra.md, "More classes than the head"); the fit then keeps
        ``max_support * ceil(K / max_node_classes)`` rows and each pass sees at most
        ``max_support`` of them. None (default): 10, so a table of up to 10 classes runs
        plain, as @wlearn/mitra does.

    Labels may be integers, booleans, integral or other floats, or strings; any number of
    classes. Attributes after fit: ``classes_``, ``n_features_in_``, ``support_x_`` (float32),
    ``support_y_`` (labels), ``support_indices_`` (rows of X kept), ``onnx_sha256_``,
    ``class_hierarchy_`` (the class tree as nested lists of class indices, or None when the
    model runs plain), and those of every Mitra estimator:

    - ``feature_names_in_`` (object array of str): the column names when fitted on a
      DataFrame whose names are all strings (absent otherwise, as in scikit-learn);
      predicting on other names or another order raises ValidationError; names on one side
      only warn.
    - ``categories_`` (dict: column index -> object array): the categories of each category
      or text column, learned from the support rows (a declared order kept, else sorted;
      ``None`` first, "missing", when support rows miss the value); the model sees a
      category's position in its array, and NaN (imputed as a missing value) for categories
      the support set lacked.
    - ``seed_``: the seed used (see ``random_state``).
    """

    _task = "classification"
    _estimator_kind = "classifier"
    _learned = _MitraEstimator._learned + ("class_hierarchy_",)

    def __init__(
        self,
        onnx: Any = None,
        max_support: int = 512,
        seed: int = 42,
        random_state: Any = None,
        n_estimators: int = 1,
        max_memory_mb: float | None = None,
        progress: Progress | bool | None = None,
        precision: str = "fp32",
        runtime: str = "onnxruntime",
        support_selection: str = SUPPORT_SELECTIONS[0],
        max_node_classes: int | None = None,
    ) -> None:
        self.onnx = onnx
        self.max_support = max_support
        self.seed = seed
        self.random_state = random_state
        self.n_estimators = n_estimators
        self.max_memory_mb = max_memory_mb
        self.progress = progress
        self.precision = precision
        self.runtime = runtime
        self.support_selection = support_selection
        self.max_node_classes = max_node_classes

    def _fit_targets(self, X: np.ndarray, y: Any) -> tuple[np.ndarray, np.ndarray]:
        classes, index = _labels.encode(y)
        check_rows(X, index)
        if (len(classes) > MAX_CLASSES and classes.dtype.kind == "f"
                and not np.all(classes == np.round(classes))):
            # As before the class hierarchy, and as scikit-learn's classifiers refuse them.
            raise ValidationError(
                f"y has {len(classes)} distinct non-integral numbers: a continuous target, "
                "which MitraRegressor predicts (labels of that kind are taken up to "
                f"{MAX_CLASSES} classes; pass them as strings for more)"
            )
        return index, classes

    def _node_classes(self, n_classes: int) -> int | None:
        """The hierarchy's largest node for ``n_classes``, or None to run plain."""
        m = self.max_node_classes
        m = MAX_CLASSES if m is None else _manyclass.check_max_groups(m)
        return m if n_classes > m else None

    def _checked_params(self) -> tuple[int | float, float | int]:
        checked = super()._checked_params()
        self._node_classes(1)
        return checked

    def _select(self, n_rows, max_support, seed, y, classes, handle) -> np.ndarray:
        m = self._node_classes(len(classes))
        if m is not None:
            max_support = _manyclass.stored_support(max_support, len(classes), m)
        return super()._select(n_rows, max_support, seed, y, classes, handle)

    def fit(self, X: Any, y: Any) -> "MitraClassifier":
        super().fit(X, y)
        m = self._node_classes(len(self.classes_))
        self.class_hierarchy_ = (None if m is None
                                 else _manyclass.build_tree(len(self.classes_), m))
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, float64 [rows, len(classes_)]; rows sum to 1.

        A model with a class hierarchy (``class_hierarchy_``) runs each node of the tree
        over all rows, one after another, and multiplies the probabilities down the tree.
        Raises ValidationError for bad input, NotFittedError before fit() or load()."""
        Xq = self._query(X)
        tree = self.__dict__.get("class_hierarchy_")
        if tree is None and len(self.classes_) > MAX_CLASSES:
            raise ValidationError(
                f"this model has {len(self.classes_)} classes and no class hierarchy; Mitra "
                f"predicts at most {MAX_CLASSES} in one pass"
            )
        self._check_support()
        if tree is None:
            return self._run(Xq, self._support_index, len(self.classes_))
        return _manyclass.predict_proba(
            tree, len(self.classes_), len(Xq),
            lambda rows, groups, n_groups: self._run(Xq, groups, n_groups, rows),
            self._support_index, check_max_support(self.max_support), self._seed())

    def _manifest_params(self) -> dict[str, Any]:
        params = super()._manifest_params()
        if self.max_node_classes is not None or "maxNodeClasses" in params:
            params["maxNodeClasses"] = _json_number(self.max_node_classes)
        return params

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each row (the first one on ties)."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Accuracy of ``predict(X)`` against ``y``."""
        truth = _labels.as_vector(y)
        pred = self.predict(X)
        check_rows(pred, truth)
        correct = pred.astype(object) == truth.astype(object)
        return float(np.average(correct, weights=sample_weight))


class MitraRegressor(_MitraEstimator):
    """Mitra regression: in-context learning over a support set of rows with targets.

    Parameters
    ----------
    onnx:
        The Mitra regressor ONNX model: a path, its bytes or an ``onnxruntime.InferenceSession``.
        Default: the file named by ``WLEARN_MITRA_REGRESSOR_ONNX``.
    max_support:
        At most this many training rows are kept, picked at random (as @wlearn/mitra).
    seed, random_state:
        As for MitraClassifier.
    n_estimators:
        Ensemble members averaged at prediction (1: one plain pass; at most 256).
    target_scaling:
        ``"minmax"`` (upstream Mitra): support targets are scaled to [0, 1] for the model and
        predictions scaled back; constant targets are predicted as that constant.
        ``"none"``: raw targets in, raw output out, as @wlearn/mitra does, but with upstream's
        feature preprocessing (NaN imputed with the support mean, constant support columns
        dropped) and ensembles, so its numbers differ from JS's where those apply: a constant
        column, a NaN, a single support row.
        ``"js"``: exactly @wlearn/mitra 0.1's ``predict`` (``src/regressor.js``): the float32
        support rows and targets and query rows go to the model as they are, in one pass of
        all query rows (no imputation, no dropped columns, no ensemble, no chunking); the
        numbers are JS's bit for bit.
    max_memory_mb:
        Working-memory budget of a whole prediction, as for :class:`MitraClassifier`
        (wide data is split across ensemble members by feature subsets). A runtime
        setting, not saved in bundles.
    progress:
        ``progress(rows_done, rows_total)`` during prediction, or True for a progress bar.
    precision:
        ``"fp32"`` (default, exact). Opt-in, faster at a measured accuracy cost
        (bench/README.md): ``"int8"`` on ONNX Runtime (dynamic int8 quantisation of the weight
        matrices; the quantised graph is made once and cached; needs the ``onnx`` package),
        ``"bf16"`` on OpenVINO (needs a CPU with AMX or AVX512-BF16, else ValidationError).
    runtime:
        ``"onnxruntime"`` (default) or ``"openvino"`` (the ``openvino`` extra).
        Same graphs, outputs and bundles. Like ``precision``, a setting of this machine, not
        saved in bundles; estimators on the same model share an engine only at the same
        runtime and precision. Threads: ``WLEARN_MITRA_THREADS``, else ``OMP_NUM_THREADS``
        (which joblib's workers get as cores / ``n_jobs``, so ``cross_val_score(n_jobs=2)``
        shares the cores), else one per core.

    Attributes after fit: ``n_features_in_``, ``support_x_`` (float32), ``support_y_``
    (float64, the targets exactly as given; bundles keep them exact, spec/mitra.md),
    ``support_indices_`` (rows of X kept), ``onnx_sha256_``, ``feature_names_in_``,
    ``categories_`` and ``seed_`` (see MitraClassifier).
    """

    _task = "regression"
    _estimator_kind = "regressor"

    def __init__(
        self,
        onnx: Any = None,
        max_support: int = 512,
        seed: int = 42,
        random_state: Any = None,
        n_estimators: int = 1,
        target_scaling: str = "minmax",
        max_memory_mb: float | None = None,
        progress: Progress | bool | None = None,
        precision: str = "fp32",
        runtime: str = "onnxruntime",
    ) -> None:
        self.onnx = onnx
        self.max_support = max_support
        self.seed = seed
        self.random_state = random_state
        self.n_estimators = n_estimators
        self.target_scaling = target_scaling
        self.max_memory_mb = max_memory_mb
        self.progress = progress
        self.precision = precision
        self.runtime = runtime

    def _scaling(self) -> str:
        if self.target_scaling not in TARGET_SCALINGS:
            raise ValidationError(
                f"target_scaling must be one of {TARGET_SCALINGS}, got {self.target_scaling!r}"
            )
        return self.target_scaling

    def _checked_params(self) -> tuple[int, float | int]:
        checked = super()._checked_params()
        self._scaling()
        return checked

    def _fit_targets(self, X: np.ndarray, y: Any) -> tuple[np.ndarray, None]:
        y = targets(y)
        check_rows(X, y)
        with np.errstate(over="ignore"):
            y32 = y.astype(np.float32)
        if not np.isfinite(y32).all():
            raise ValidationError("y has targets beyond float32's range (about 3.4e38)")
        if self._open().engine.n_bins:  # bin ids from the exact targets, as AutoGluon's
            return y, None
        return _format.stored_targets(y), None

    def predict(self, X: Any) -> np.ndarray:
        """Predicted targets, float64 [rows].

        With ``target_scaling="minmax"`` the float64 targets are scaled to [0, 1] in float64
        before the model sees them as float32, and the output is scaled back in float64, so
        targets whose spread float32 cannot hold (1e8 + 1, 1e8 + 2, ...) stay distinct, and
        constant targets are returned exactly as given, without running the model.
        """
        Xq = self._query(X)
        scaling = self._scaling()
        if self._open().engine.n_bins:  # a bin-head model: the mean of its distribution
            return self._distribution(Xq).mean()
        self._check_support(finite=scaling != "js")
        if scaling == "js":
            # @wlearn/mitra's predict: float32 rows and targets as they are, one pass.
            out = self._open().engine.forward(self.support_x_, self.support_y_, Xq)
            return out.astype(np.float64)
        y = np.asarray(self.support_y_, dtype=np.float64)
        if scaling == "none":
            return self._run(Xq, y, None)
        low, high = y.min(), y.max()
        if high == low:
            # Nothing to scale to [0, 1] (upstream refuses); the only sensible answer.
            return np.full(len(Xq), low, dtype=np.float64)
        span = high - low
        scaled = self._run(Xq, (y - low) / span, None)
        return scaled * span + low

    # -- predictive distributions of bin-head models (spec/mitra.md "Predictive distributions")

    def predict_distribution(self, X: Any) -> BinnedDistribution:
        """The predictive distribution of each row of ``X``, in the units of ``y``.

        Returns a :class:`~wlearn_mitra.BinnedDistribution`: ``probabilities`` float64
        [rows, n_bins] over the shared bin ``edges`` float64 [n_bins + 1], with ``mean()``
        (what ``predict`` returns), ``std()``, ``quantiles(q)``, ``interval(coverage)`` and
        ``cdf(y)``. Only a bin-head model has one (Mitra-v2's ``autogluon/mitra-regressor-2``,
        1000 bins over the min-max scaled target, as AutoGluon bins it); a scalar-head model
        (Mitra v1) raises ValidationError, as does ``target_scaling`` other than ``"minmax"``.
        With ``n_estimators > 1`` the members' distributions are averaged (a mixture).
        """
        return self._distribution(self._query(X))

    def predict_quantiles(self, X: Any, quantiles: Any = (0.1, 0.5, 0.9)) -> np.ndarray:
        """float64 [rows, len(quantiles)]: the predictive quantiles of each row (levels in
        [0, 1]; a scalar level gives [rows]). Bin-head models only; see
        :meth:`predict_distribution`."""
        return self.predict_distribution(X).quantiles(quantiles)

    def predict_interval(self, X: Any, coverage: float = 0.9) -> np.ndarray:
        """float64 [rows, 2]: the central prediction interval of each row, its lower and
        upper ends the quantiles ``(1 - coverage) / 2`` and ``(1 + coverage) / 2``.
        Bin-head models only; see :meth:`predict_distribution`."""
        return self.predict_distribution(X).interval(coverage)

    def _distribution(self, Xq: np.ndarray) -> BinnedDistribution:
        n_bins = self._open().engine.n_bins
        if not n_bins:
            raise ValidationError(
                "this MitraRegressor's model has a scalar head (one value per row, as Mitra v1): "
                "it predicts no distribution. Bin-head models (Mitra-v2's "
                "autogluon/mitra-regressor-2, converted with wlearn-mitra convert) do.")
        if self._scaling() != "minmax":
            raise ValidationError(
                f"target_scaling={self.target_scaling!r} does not fit a bin-head model, whose "
                "bins cover the min-max scaled targets: use target_scaling='minmax'")
        self._check_support()
        y = np.asarray(self.support_y_, dtype=np.float64)
        low, high = float(y.min()), float(y.max())
        if high == low:  # nothing to scale (upstream refuses): all mass at that constant
            return BinnedDistribution(np.full((len(Xq), n_bins), 1.0 / n_bins), low, 0.0)
        span = high - low
        return BinnedDistribution(self._run(Xq, (y - low) / span, None), low, span)

    # -- end predictive distributions

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """R^2 of ``predict(X)`` against ``y``, float.

        As scikit-learn's ``r2_score``: 1.0 when every prediction is exact, 0.0 for constant
        ``y`` predicted otherwise. ``y`` counts as constant when all its values are equal,
        whatever rounding its float mean picks up (so a perfect fit of y = 0.1 is 1.0, not a
        ratio of rounding errors).
        """
        truth = targets(y)
        pred = self.predict(X)
        check_rows(pred, truth)
        w = np.ones_like(truth) if sample_weight is None else np.asarray(sample_weight, float)
        ss_res = float(np.sum(w * (truth - pred) ** 2))
        if ss_res == 0:
            return 1.0
        if len(truth) == 0 or np.all(truth == truth[0]):
            return 0.0
        mean = np.average(truth, weights=w)
        ss_tot = float(np.sum(w * (truth - mean) ** 2))
        if ss_tot == 0:
            return 0.0
        return 1.0 - ss_res / ss_tot

    def _manifest_params(self) -> dict[str, Any]:
        params = super()._manifest_params()
        if self.target_scaling != "minmax" or "targetScaling" in params:
            params["targetScaling"] = self.target_scaling
        return params


_CLASSES = {"classification": MitraClassifier, "regression": MitraRegressor}


class _classification_only:
    """A method that exists only while the model is (or will be) a classifier, as scikit-learn's
    ``available_if``: ``hasattr`` and scikit-learn's checks then see a regressor's API."""

    def __init__(self, method: Callable) -> None:
        self.method = method
        self.__doc__ = method.__doc__

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self.method
        if obj._estimator_kind == "regressor":
            raise AttributeError("predict_proba")  # __getattr__ words the message
        return types.MethodType(self.method, obj)


class MitraModel(_Params):
    """Mitra for either task: ``task`` given, or detected from ``y`` at fit (see
    :func:`detect_task`). Delegates to a MitraClassifier or MitraRegressor.

    ``classifier_onnx`` / ``regressor_onnx`` name the model of each task (default: the
    environment variables); the other parameters (``max_support``, ``seed``,
    ``random_state``, ``n_estimators``, ``target_scaling``, ``max_memory_mb``, ``progress``,
    ``precision``, ``runtime``, and the classifier's ``support_selection`` and
    ``max_node_classes``) are those of the two estimators (``target_scaling`` the
    regressor's).

    With ``task=None`` the model tells scikit-learn it is a classifier until it is fitted, so
    ``cross_val_score`` and ``GridSearchCV`` stratify the folds of class targets (as for
    MitraClassifier) and use plain K-fold for continuous targets (as for MitraRegressor);
    each fold's model then detects its task, and scores with accuracy or R^2 accordingly.
    Give ``task`` when the detection might differ between folds.
    """

    _inner: _MitraEstimator | None = None

    def __init__(
        self,
        task: str | None = None,
        classifier_onnx: Any = None,
        regressor_onnx: Any = None,
        max_support: int = 512,
        seed: int = 42,
        random_state: Any = None,
        n_estimators: int = 1,
        target_scaling: str = "minmax",
        max_memory_mb: float | None = None,
        progress: Progress | bool | None = None,
        precision: str = "fp32",
        runtime: str = "onnxruntime",
        support_selection: str = SUPPORT_SELECTIONS[0],
        max_node_classes: int | None = None,
    ) -> None:
        self.task = task
        self.classifier_onnx = classifier_onnx
        self.regressor_onnx = regressor_onnx
        self.max_support = max_support
        self.seed = seed
        self.random_state = random_state
        self.n_estimators = n_estimators
        self.target_scaling = target_scaling
        self.max_memory_mb = max_memory_mb
        self.progress = progress
        self.precision = precision
        self.runtime = runtime
        self.support_selection = support_selection
        self.max_node_classes = max_node_classes

    @classmethod
    def create(cls, onnx: Any = None, params: dict[str, Any] | None = None) -> "MitraModel":
        """JS-style construction: ``params`` may hold ``task``, ``maxSupport``, ``seed``.
        ``onnx`` needs ``task`` (it is the model of that task)."""
        model = cls(**cls._create_kwargs(params))
        task = model._checked_task()
        if onnx is not None:
            if task is None:
                raise ValidationError("MitraModel.create: give params['task'] with onnx")
            setattr(model, "classifier_onnx" if task == "classification" else "regressor_onnx",
                    onnx)
        return model

    def _checked_task(self) -> str | None:
        if self.task not in (None, "classification", "regression"):
            raise ValidationError(
                f"task must be 'classification', 'regression' or None, got {self.task!r}"
            )
        return self.task

    @property
    def _estimator_kind(self) -> str | None:  # type: ignore[override]
        task = self.__dict__.get("task_") or self.task
        if task is None:
            # scikit-learn asks before fit (cross_val_score and GridSearchCV pick their folds
            # by it). "classifier" gives class targets stratified folds, while check_cv still
            # uses plain KFold for continuous targets, as for a regressor; once fitted, the
            # model reports the task it detected.
            return "classifier"
        return {"classification": "classifier", "regression": "regressor"}.get(task)

    def _inner_params(self, task: str) -> dict[str, Any]:
        """The parameters of ``task``'s estimator, taken from this model's."""
        params = {name: getattr(self, name)
                  for name in _CLASSES[task]._param_names() if name != "onnx"}
        params["onnx"] = self.classifier_onnx if task == "classification" else self.regressor_onnx
        return params

    def _fitted(self) -> _MitraEstimator:
        self._check_alive()
        if self._inner is None:
            raise not_fitted("MitraModel is not fitted. Call fit() first.")
        # Parameters set after fit apply to predictions, as for the two estimators.
        self._inner.set_params(**self._inner_params(self.task_))
        return self._inner

    def fit(self, X: Any, y: Any) -> "MitraModel":
        """Detect the task (unless given), then fit the matching estimator. Returns self."""
        self._check_alive()
        require_y(y, "MitraModel")
        task = self._checked_task() or detect_task(y)
        inner = _CLASSES[task](**self._inner_params(task))
        inner.fit(X, y)
        if self._inner is not None and self._inner is not inner:
            self._inner.dispose()
        self._inner, self.task_ = inner, task
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predictions for ``X`` [rows, n_features_in_] (numbers; NaN is imputed).

        Classification: the most probable label of each row, [rows] of ``classes_``' dtype;
        regression: float64 [rows]. Raises NotFittedError before fit() or load(),
        ValidationError for input of the wrong shape or kind, DisposedError after dispose().
        """
        return self._fitted().predict(X)

    @_classification_only
    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, float64 [rows, len(classes_)], each row summing to 1.

        Only a classification model has this method: ``hasattr(model, "predict_proba")`` is
        False once ``task`` is "regression" or a regression was fitted, as for
        MitraRegressor. Raises ValidationError for bad input, NotFittedError before fit() or
        load().
        """
        inner = self._fitted()
        if not isinstance(inner, MitraClassifier):
            raise ValidationError("predict_proba needs a classification model; this one regresses")
        return inner.predict_proba(X)

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Accuracy (classification) or R^2 (regression) of ``predict(X)`` against ``y``
        [rows], weighted by ``sample_weight`` [rows] when given; as scikit-learn's."""
        return self._fitted().score(X, y, sample_weight=sample_weight)

    def save(self, path: str | os.PathLike[str] | None = None) -> bytes:
        """The fitted model as ``.wlrn`` bundle bytes, those of @wlearn/mitra's classifier or
        regressor (the ONNX model is not included; the bundle records its sha256); with
        ``path``, also written there atomically (see ``MitraClassifier.save``). Raises
        NotFittedError before fit() or load()."""
        return self._fitted().save(path)

    @classmethod
    def load(
        cls, data: Any, onnx: Any = None, *, check_onnx_hash: bool = True, precision: str = "fp32",
        runtime: str = "onnxruntime",
    ) -> "MitraModel":
        """A MitraModel from a classifier or regressor bundle (``onnx``: that task's model;
        ``precision`` and ``runtime`` as for the constructor)."""
        manifest, toc, blobs = _format.read(data)
        task = _format.TASKS.get(manifest.get("typeId"))
        if task is None:
            raise BundleError(f"not a Mitra bundle: typeId {manifest.get('typeId')!r}")
        inner = _CLASSES[task]._from_bundle(
            manifest, toc, blobs, onnx=onnx, check_onnx_hash=check_onnx_hash,
            precision=precision, runtime=runtime,
        )
        params = {k: v for k, v in inner.get_params().items() if k in cls._param_names()}
        model = cls(task=task, **params)
        setattr(model, "classifier_onnx" if task == "classification" else "regressor_onnx", onnx)
        model._inner, model.task_ = inner, task
        return model

    def dispose(self) -> None:
        """Dispose the fitted estimator. Idempotent; afterwards every call raises."""
        if self._disposed:
            return
        if self._inner is not None:
            self._inner.dispose()
        self._inner = None
        self.__dict__.pop("task_", None)
        self._disposed = True

    @property
    def capabilities(self) -> dict[str, bool]:
        """The fitted (or, with ``task`` given, the chosen) estimator's capabilities; {}
        before the task is known, as @wlearn/mitra's unified model."""
        self._check_alive()
        task = self.__dict__.get("task_") or self._checked_task()
        if task is None:
            return {}
        return capabilities(task)

    @property
    def is_fitted(self) -> bool:
        """True after fit() or load() (and before dispose())."""
        return not self._disposed and self._inner is not None

    def __getstate__(self) -> dict[str, Any]:
        return _pickling.state_of(self, self._param_names(), transient=("_handle",))

    def __setstate__(self, state: Any) -> None:
        def check_task(state: dict[str, Any]) -> None:
            task, inner = state.get("task_"), state.get("_inner")
            if task not in _CLASSES or type(inner) is not _CLASSES[task]:
                raise ValidationError(
                    f"task_ {task!r} does not match the fitted estimator {type(inner).__name__}"
                )

        _pickling.restore(
            self, state,
            params=self._param_names(),
            defaults=self._param_defaults(),
            learned=("task_",),
            check_learned=check_task,
            children={"_inner": tuple(_CLASSES.values())},
        )

    def __getattr__(self, name: str) -> Any:
        inner = self.__dict__.get("_inner")
        if inner is not None and name.endswith("_") and not name.startswith("_"):
            return getattr(inner, name)
        if name == "predict_proba" and not self._disposed:
            raise AttributeError("this MitraModel regresses: predict_proba is for classification")
        return super().__getattr__(name)
