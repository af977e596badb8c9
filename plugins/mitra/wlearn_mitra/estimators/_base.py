"""Private: what MitraClassifier and MitraRegressor share (fit, the support set, bundles,
the engine they hold, pickling).

"Fitting" Mitra only picks the support set, the rows the model conditions on; predictions
are one ONNX Runtime pass over support and query rows (see :mod:`wlearn_mitra.engine`).
"""

from __future__ import annotations

import os
import warnings
from typing import Any, NamedTuple

import numpy as np

from wlearn.errors import BundleError, ValidationError
from wlrn.rng import to_int32

from ..bundles import _format
from ..engine._shared import (
    ENV_VARS, Handle, how_to_get, known_identity, locate, open_engine, open_engine_if_open,
    release,
)
from ..exceptions import not_fitted, user_stacklevel
from ..graphs import _builtin
from ..inputs import _categories, _target_encoding
from ..inputs._checks import (
    beyond_float32, check_feature_names, check_max_support, check_n_estimators,
    check_random_state, check_seed, check_target_encoding, draw_seed, one_dimensional,
    read_table, require_y,
)
from ..inputs._support import check_support_selection, select_support
from ..runtimes import _choice
from . import _pickling
from ._params import _Params



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



def model_repr(value: Any) -> str:
    """How ``repr`` shows a model parameter: an ``InferenceSession`` by its type."""
    if hasattr(value, "run") and hasattr(value, "get_inputs"):
        return "<InferenceSession>"
    return repr(value)


class _BundleCheck(NamedTuple):
    """What a loaded bundle asks of its model, checked when the model opens (at load when
    it is open in this process already, else at first use)."""

    sha256: str | None  #: the bundle's ``onnxSha256``
    check_hash: bool  #: ``check_onnx_hash``
    n_bins: int | None  #: a regressor's bin head (``@2``), else None
    type_id: str | None
    model_given: Any  #: the ``onnx`` of the load (for the message), not the model itself


def _warn_numbers_as_text(table: Any, categories: dict) -> None:
    """Say when text columns hold nothing but numbers written as text: they are category
    columns (spec/mitra.md), which a user who read a CSV without types may not expect."""
    numeric = [table.column(j) for j in sorted(categories)
               if j not in table.declared and _categories.reads_as_numbers(table.text[j])]
    if numeric:
        shown = ", ".join(numeric[:3]) + (f" and {len(numeric) - 3} more" if len(numeric) > 3
                                          else "")
        warnings.warn(
            f"{shown} hold{'s' if len(numeric) == 1 else ''} text that reads as numbers: "
            "category columns, as a pandas string column is. To use the numbers, convert them "
            "first (pd.to_numeric, or .astype(float))", UserWarning,
            stacklevel=user_stacklevel())


class _MitraEstimator(_Params):
    """What MitraClassifier and MitraRegressor share."""

    _task = "classification"
    _handle: Handle | None = None
    _model_params = ("onnx",)
    _shared_state = ("_handle",)
    _param_aliases = _format.JS_PARAMS
    _allow_nan = True  # the engine imputes NaN as upstream
    _extra_params: dict[str, Any] = {}
    _extra_meta: dict[str, Any] = {}
    _learned = ("classes_", "n_features_in_", "support_x_", "support_y_", "support_indices_",
                "feature_names_in_", "categories_", "seed_",
                "onnx_sha256_", "_support_index", "target_encoding_")

    # -- construction -------------------------------------------------------------------------

    def _model_replaced(self) -> None:
        self._handle = None
        self.__dict__.pop("_bundle_check", None)  # the loaded bundle's model is not wanted
        # A deliberate change of model: its hash replaces the fitted one at next use.
        self._onnx_replaced = True

    def _param_repr(self, value: Any) -> str:
        return model_repr(value)

    @classmethod
    def create(cls, onnx: Any = None, params: dict[str, Any] | None = None):
        """Build an unfitted model with @wlearn/mitra's parameter names (``maxSupport``,
        ``seed``); Python names are accepted too. The ONNX model is opened now, as JS does."""
        model = cls(onnx=onnx, **cls._create_kwargs(params))
        model._open()
        return model

    def open(self):
        """Open the ONNX model now rather than at first use, and return self: a loaded
        bundle's model is checked (its hash, its head) and the runtime's sessions are built,
        so the first predict pays for neither (a server's start-up, ``wlearn validate
        --open``). Raises what the first predict would: ValidationError for a missing model
        or one the loaded bundle was not made with, ModelLoadError for a model the runtime
        cannot load."""
        self._open()
        return self

    def _open(self) -> Handle:
        """The engine of the ``onnx``, ``runtime`` and ``precision`` parameters, opened on
        first use."""
        runtime, precision = self.runtime, self.precision
        engine = None if self._handle is None else self._handle.engine
        if engine is None or (engine.runtime, engine.precision) != (runtime, precision):
            self._check_alive()  # a disposed estimator holds no engine
            # checked here, before the model is looked for, and by the engine it opens; an
            # open engine's runtime and precision were checked when it opened
            _choice.check(runtime, precision)
            handle = open_engine(self.onnx, self._task, precision, runtime,
                                 sha=self.__dict__.get("onnx_sha256_"))
            self._adopt(handle)
        return self._handle

    def _adopt(self, handle: Handle) -> None:
        """Use the engine of ``handle`` once it runs the model this estimator needs: the
        loaded bundle's (its hash and head) or the fitted one's."""
        check = self.__dict__.get("_bundle_check")
        if check is not None:
            self._check_bundle_model(check, handle.engine)
            del self._bundle_check
        self._check_model(handle.engine.onnx_sha256)
        self._handle = handle

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
        check_target_encoding(self.target_encoding)
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
        _warn_numbers_as_text(table, categories)
        self._extra_params, self._extra_meta = {}, {}
        self._store(support_x.astype(np.float32), y[rows], handle.engine.onnx_sha256, classes)
        self.support_indices_ = rows
        self.seed_ = seed
        self.target_encoding_ = self._resolved_target_encoding(handle.engine)
        self.categories_ = categories
        if table.names is not None:
            self.feature_names_in_ = table.names
        return self

    def _resolved_target_encoding(self, engine: Any) -> bool:
        """``target_encoding``, or when None the value ``engine``'s model declares, else
        False."""
        value = check_target_encoding(self.target_encoding)
        if value is None:
            value = bool(engine.declared_target_encoding)
        return value

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
        self._support_scan = self._scan_support()

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
        if not finite:
            return
        scan = self.__dict__.get("_support_scan")
        if scan is None or scan[0] is not self.support_x_ or scan[1] is not self.support_y_:
            scan = self._scan_support()  # support arrays replaced by hand: scanned, not kept
        if scan[2] is not None:
            raise ValidationError(scan[2])
        if not scan[3]:
            raise ValidationError(
                "the support targets hold NaN, infinite values or values beyond float32's range "
                "(a bundle @wlearn/mitra fit on them, which fit refuses); predictions would be "
                "NaN or infinite. target_scaling='js' runs them as JS does")

    def _scan_support(self) -> tuple:
        """The stored support set's scan, made once per support set (at fit, load and
        unpickling, which each store new arrays) and kept with the arrays it scanned, not
        repeated on every prediction: (support_x_, support_y_, what is wrong with the rows
        or None, whether the targets are finite within float32's range, as fit makes them)."""
        targets_finite = self._task != "regression" or not (
            np.isnan(self.support_y_).any() or beyond_float32(self.support_y_).any())
        return (self.support_x_, self.support_y_, _format.support_x_problem(self.support_x_),
                targets_finite)

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
            raise ValidationError(
                f"{table.column(j)} holds text, but it held numbers at fit (numbers written as "
                "text are category columns: convert them first, pd.to_numeric or "
                ".astype(float))")
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
             rows: np.ndarray | None = None, progress: Any = None) -> np.ndarray:
        """The engine's answer from the support set (or its ``rows``) labelled ``y_support``;
        ``progress`` stands in for the estimator's own (one part of a longer predict)."""
        n_estimators = check_n_estimators(self.n_estimators)
        support_x = self.support_x_ if rows is None else self.support_x_[rows]
        if self.__dict__.get("target_encoding_"):
            support_x, Xq = _target_encoding.append(support_x, y_support, Xq, n_classes)
        return self._open().engine.predict(
            support_x,
            y_support,
            Xq,
            n_classes=n_classes,
            n_estimators=n_estimators,
            # The seed as wlearn's LCG reads it (JS ``seed | 0``), made non-negative.
            seed=to_int32(self._seed()) & 0xFFFFFFFF,
            progress=self.progress if progress is None else progress,
            max_memory_mb=self.max_memory_mb,
            class_shuffle=self._class_shuffle(),
            owner=self.support_x_,  # its encodings leave the engine's cache with it
            # X was checked at this estimator's face (_query), the support set once
            # (_check_support), n_estimators above: the engine checks none of them again
            check_input=False,
        )

    def _class_shuffle(self) -> str:
        """How ensemble members permute the classes (``inputs._checks.CLASS_SHUFFLES``); a
        regressor has none to permute."""
        return "classes"

    # -- bundles ------------------------------------------------------------------------------

    def _manifest_params(self) -> dict[str, Any]:
        return _format.manifest_params(self._manifest_values(), self._extra_params)

    def _manifest_values(self) -> dict[str, Any]:
        """What this estimator writes into a bundle's params (Python names)."""
        seed = self._seed()
        # As given when it is the seed in use, as JS writes it ("42" stays a string).
        return {"max_support": self.max_support,
                "seed": self.seed if self.random_state is None else seed,
                "n_estimators": self.n_estimators,
                "target_encoding": bool(self.__dict__.get("target_encoding_"))}

    def save(self, path: str | os.PathLike[str] | None = None) -> bytes:
        """The model as ``.wlrn`` bundle bytes (the ONNX model is not included; the bundle
        records its sha256). With ``path``, the bundle is also written to that file, as
        AutoGluon's and TabPFN's ``save(path)`` do, atomically: a temporary file beside it is
        renamed over it (``os.replace``), so readers never see a partial bundle and a failed
        write leaves an existing file as it was. A path that cannot be written raises the
        ``OSError`` the core's ``write_bundle_output`` raises for it (FileNotFoundError for a
        missing folder, IsADirectoryError for a folder, PermissionError, ...), naming ``path``
        (its ``filename``) and leaving nothing behind. ``load`` takes the path back. Raises
        NotFittedError before fit() or load()."""
        data = self._bundle()
        if path is not None:
            _format.write(path, data)
        return data

    def _bundle(self) -> bytes:
        self._check_fitted()
        if self.__dict__.get("_onnx_replaced"):
            self._open()  # a model adopted but not opened yet: the bundle records its hash
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
            n_bins=None if is_clf else self._n_bins(),  # a bin head: regressor@2
        )
        return _format.encode(state)

    def _n_bins(self) -> int | None:
        """The model's bin head (None: a scalar head), from the loaded bundle while the
        model is not open (a bundle passed on unopened), else from the engine."""
        check = self.__dict__.get("_bundle_check")
        return check.n_bins if check is not None else self._open().engine.n_bins

    @classmethod
    def load(
        cls, data: Any, onnx: Any = None, *, check_onnx_hash: bool = True, precision: str = "fp32",
        runtime: str = "onnxruntime",
    ):
        """A model from bundle bytes, a path or a binary file, read as ``wlearn.load`` reads
        it (the same checks: a bundle one refuses, the other refuses). ``onnx``, ``precision``
        and ``runtime`` as for the constructor (bundles hold neither); the bundle's
        ``onnxSha256`` must match ``onnx`` unless ``check_onnx_hash=False``.

        Loading takes milliseconds: the ONNX model is not opened until first needed. Raises
        at once BundleError for a malformed bundle and ValidationError for bad params, an
        unknown runtime or precision, or a model file that does not exist. A model of
        another hash (or, for a regressor, of another head) raises ValidationError when the
        model opens: here, if this process has that model open already, else at the first
        predict (or fit, score, distribution call), and on every call after it until a model
        is given with ``set_params(onnx=...)``."""
        manifest, toc, blobs = _format.read(data)
        return cls._from_bundle(
            manifest, toc, blobs, onnx=onnx, check_onnx_hash=check_onnx_hash, precision=precision,
            runtime=runtime,
        )

    @classmethod
    def _from_bundle(cls, manifest, toc, blobs, *, onnx=None, check_onnx_hash=True,
                     precision="fp32", runtime="onnxruntime", onnx_is_default=False):
        """The model of a decoded bundle, its ONNX model not opened yet.

        Checked now: the bundle, its params, ``runtime`` and ``precision``, and that the
        model it will run is at hand (a missing file raises here). The model's hash and head
        are checked when the model opens: now if this process has it open already, else at
        the first call that needs it (predict, fit, score), which then raises what a load
        would have. ``onnx_is_default``: ``onnx`` is a registered default
        (``register_loaders``), which a bundle naming the built-in model by hash overrides.
        """
        state = _format.decode(manifest, toc, blobs)
        cls._check_bundle_task(state, manifest)
        params = dict(state.params)
        kwargs = _format.constructor_params(params, cls._param_names())
        given = onnx
        onnx = cls._bundle_model(state.onnx_sha256, onnx, onnx_is_default)
        model = cls(onnx=onnx, precision=precision, runtime=runtime, **kwargs)
        # Every param the bundle had stays in it on save, known ones with their current value.
        model._extra_params = _format.kept_params(params)
        model._extra_meta = state.extra_meta
        _choice.check(runtime, precision)
        model._store(state.support_x, state.support_y, state.onnx_sha256, state.classes)
        model.seed_ = model.seed
        model.target_encoding_ = bool(params.get("targetEncoding", False))
        model.categories_ = state.categories
        if state.task == "classification":
            model.class_hierarchy_ = state.class_hierarchy
            model.class_shuffle_ = _format.class_shuffle(params)
        if state.feature_names is not None:
            model.feature_names_in_ = np.asarray(state.feature_names, dtype=object)
        model._bundle_check = _BundleCheck(
            state.onnx_sha256, bool(check_onnx_hash),
            state.n_bins if state.task == "regression" else None,
            manifest.get("typeId"), given)
        if not check_onnx_hash:
            model._onnx_replaced = True  # whichever model opens is adopted, its hash recorded
        # A missing file raises here. No built-in model notice for a bundle naming another
        # model: the hash check refuses the built-in one.
        source = locate(onnx, cls._task, sha=state.onnx_sha256,
                        notice=not (check_onnx_hash and state.onnx_sha256))
        if state.onnx_sha256 is None and given is None:
            where = (os.fspath(source) if isinstance(source, (str, os.PathLike))
                     else "the environment's model")
            warnings.warn(
                f"this bundle records no model hash (its model was given as an "
                f"InferenceSession at fit), so nothing checks that the model it now runs, "
                f"{where}, is the one it was fitted with; pass onnx= that model",
                UserWarning, stacklevel=user_stacklevel())
        handle = open_engine_if_open(source, cls._task, precision, runtime)
        if handle is not None:
            model._adopt(handle)
        else:  # the built-in model's hash is known without opening it
            model._check_bundle_hash(model._bundle_check, known_identity(source, cls._task))
        return model

    def _check_bundle_model(self, check: _BundleCheck, engine: Any) -> None:
        """Refuse an engine whose model is not the loaded bundle's: another hash (unless
        ``check_onnx_hash=False``), or another head."""
        self._check_bundle_hash(check, engine.onnx_sha256)
        if self._task == "regression" and engine.n_bins != check.n_bins:  # bin head or not
            def head(n_bins: int | None) -> str:
                return "a scalar head" if n_bins is None else f"a {n_bins}-bin head"
            raise ValidationError(
                f"the bundle ({check.type_id}) was made with a regressor of "
                f"{head(check.n_bins)}, but the model given has {head(engine.n_bins)}")

    def _check_bundle_hash(self, check: _BundleCheck, sha: str | None) -> None:
        """Refuse a model of hash ``sha`` (None: unknown, nothing to refuse) that is not the
        loaded bundle's, unless ``check_onnx_hash=False``."""
        if check.check_hash and check.sha256 and sha and check.sha256 != sha:
            raise ValidationError(self._wrong_model(check.sha256, sha, check.model_given,
                                                    check.type_id))

    @classmethod
    def _check_bundle_task(cls, state: _format.MitraState, manifest: dict) -> None:
        if state.task != cls._task:
            raise BundleError(
                f"the bundle holds a {manifest.get('typeId')}, not a {cls.__name__}; "
                "use MitraModel.load to load either kind"
            )

    @classmethod
    def _bundle_model(cls, sha: str | None, onnx: Any, onnx_is_default: bool) -> Any:
        """The ``onnx`` a bundle recording model ``sha`` loads with: a bundle made with a
        built-in model (this release's or an earlier one's) names it by hash, so it needs no
        model given (a registered default does not override it); otherwise ``onnx`` (None:
        the environment's, else built-in).

        For a built-in model the parameter stays None, as for an estimator made without one
        (``get_params``, clones and pickles carry no path of this installation): the model is
        found by the hash at open (:func:`~wlearn_mitra.engine._shared.resolve`), unless the
        environment variable names another file, which the built-in one then has to
        override by its path."""
        builtin = _builtin.find(cls._task, sha)
        if builtin == _builtin.test_path(cls._task) and onnx is not None:
            # The tiny test model is found only when no model is given or bound: a bound one
            # stays the parameter, so a save/load round trip keeps it (tests/fuzz).
            builtin = None
        if (onnx is None or onnx_is_default) and builtin is not None:
            return None if not os.environ.get(ENV_VARS[cls._task]) else builtin
        return onnx

    @classmethod
    def _wrong_model(cls, wanted: str, found: str | None, onnx: Any,
                     type_id: str | None = None) -> str:
        """Why a bundle of typeId ``type_id`` recording model ``wanted`` cannot load with the
        model of hash ``found`` (``onnx`` as passed to the load), and what to do."""
        env_var = ENV_VARS[cls._task]
        type_id = type_id or _format.TYPE_IDS[cls._task]
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
        for name in (*self._learned, "_support_scan", "_bundle_check"):
            self.__dict__.pop(name, None)
        release(self._handle)
        self._handle = None
        self._disposed = True

    # -- pickling and copies (see _pickling) -------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        # The engine is reopened from the model's location on first use, its hash checked.
        # A loaded model not opened yet: its bundle's hash travels as onnx_sha256_, checked
        # by the unpickled copy when it opens the model (the head is checked by hash alone).
        return _pickling.state_of(self, self._param_names(),
                                  transient=("_handle", "_support_scan", "_bundle_check"))

    def __setstate__(self, state: Any) -> None:
        _pickling.restore(
            self, state,
            params=self._param_names(),
            defaults=self._param_defaults(),
            learned=self._learned,
            check_learned=_pickling.learned_checker(self._task == "classification"),
        )
        if "support_x_" in self.__dict__:
            self._support_scan = self._scan_support()
