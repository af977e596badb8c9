"""Private: MitraModel, either task, delegating to MitraClassifier or MitraRegressor."""

from __future__ import annotations

import os
import types
from typing import Any, Callable

import numpy as np

from wlearn.errors import BundleError, ValidationError

from .._tasks import TASKS
from ..bundles import _format
from ..exceptions import not_fitted
from ..inputs._checks import check_task, detect_task, require_y
from ..inputs._support import SUPPORT_SELECTIONS
from . import _pickling
from ..engine._progress import Progress
from ._base import _MitraEstimator, capabilities, model_repr
from ._classifier import MitraClassifier
from ._distribution import BinnedDistribution
from ._params import _Params
from ._regressor import MitraRegressor


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
            raise AttributeError(self.method.__name__)  # __getattr__ words the message
        return types.MethodType(self.method, obj)


class MitraModel(_Params):
    """Mitra for either task: ``task`` given, or detected from ``y`` at fit (see
    :func:`detect_task`). Delegates to a MitraClassifier or MitraRegressor.

    ``classifier_onnx`` / ``regressor_onnx`` name the model of each task (default: the
    environment variables); the other parameters (``max_support``, ``seed``,
    ``random_state``, ``n_estimators``, ``target_scaling``, ``max_memory_mb``, ``progress``,
    ``precision``, ``runtime``, ``target_encoding``, and the classifier's ``support_selection``
    and ``max_node_classes``) are those of the two estimators (``target_scaling`` the
    regressor's).

    With ``task=None`` the model tells scikit-learn it is a classifier until it is fitted, so
    ``cross_val_score`` and ``GridSearchCV`` with an integer ``cv`` pick their folds by
    scikit-learn's ``type_of_target(y)``: ``StratifiedKFold`` for "binary" and "multiclass"
    targets, which include integral floats (the diabetes targets 151.0, 75.0, ... are
    "multiclass", so their folds are stratified by value, with scikit-learn's warning when a
    value occurs fewer times than there are folds), and plain ``KFold`` only for targets with
    a non-integral value ("continuous"). Each fold's model then detects its task (integral
    floats with more than 20 distinct values are a regression, see :func:`detect_task`), and
    scores with accuracy or R^2 accordingly. For a regression, pass ``task="regression"`` (a
    regressor's folds: ``KFold``) or ``cv=KFold(n_splits)`` explicitly; give ``task`` too
    when the detection might differ between folds.
    """

    _inner: _MitraEstimator | None = None
    _model_params = ("classifier_onnx", "regressor_onnx")
    _param_aliases = _format.JS_PARAMS
    _allow_nan = True  # the engine imputes NaN as upstream

    def _param_repr(self, value: Any) -> str:
        return model_repr(value)

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
        target_encoding: bool | None = None,
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
        self.target_encoding = target_encoding

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
        return check_task(self.task)

    @property
    def _estimator_kind(self) -> str | None:  # type: ignore[override]
        task = self.__dict__.get("task_") or self.task
        if task is None:
            # scikit-learn asks before fit (cross_val_score and GridSearchCV pick their folds
            # by it). "classifier" gives class targets stratified folds, and integral floats
            # too (type_of_target calls them multiclass); check_cv uses plain KFold only for
            # continuous targets; once fitted, the model reports the task it detected.
            return "classifier"
        return TASKS[task].kind if task in TASKS else None

    def _inner_params(self, task: str) -> dict[str, Any]:
        """The parameters of ``task``'s estimator, taken from this model's."""
        params = {name: getattr(self, name)
                  for name in _CLASSES[task]._param_names() if name != "onnx"}
        params["onnx"] = self.classifier_onnx if task == "classification" else self.regressor_onnx
        return params

    def open(self) -> "MitraModel":
        """Open the fitted (or loaded) estimator's ONNX model now rather than at first use
        (see ``MitraClassifier.open``); returns self. Raises NotFittedError before fit() or
        load()."""
        self._fitted().open()
        return self

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

    @_classification_only
    def predict_log_proba(self, X: Any) -> np.ndarray:
        """The logarithm of :meth:`predict_proba`, float64 [rows, len(classes_)] (-inf where
        a probability is 0), as scikit-learn's classifiers; only a classification model has it."""
        return MitraClassifier._log(self.predict_proba(X))

    # -- predictive distributions of bin-head regressors: MitraRegressor's, delegated --------

    def _regressor(self, method: str) -> MitraRegressor:
        """The fitted regressor, or ValidationError naming ``method`` for a classifier."""
        inner = self._fitted()
        if not isinstance(inner, MitraRegressor):
            raise ValidationError(f"{method} needs a regression model; this one classifies")
        return inner

    def predict_distribution(self, X: Any) -> BinnedDistribution:
        return self._regressor("predict_distribution").predict_distribution(X)

    def predict_quantiles(self, X: Any, quantiles: Any = (0.1, 0.5, 0.9)) -> np.ndarray:
        return self._regressor("predict_quantiles").predict_quantiles(X, quantiles)

    def predict_interval(self, X: Any, coverage: float = 0.9) -> np.ndarray:
        return self._regressor("predict_interval").predict_interval(X, coverage)

    # The regressor's docstrings by reference (none under python -OO), and what differs.
    _DELEGATED = ("\n\n        MitraModel: the fitted MitraRegressor's answer and errors; a "
                  "classification model\n        raises ValidationError, and NotFittedError "
                  "comes before fit() or load().")
    for _method in (predict_distribution, predict_quantiles, predict_interval):
        _doc = getattr(MitraRegressor, _method.__name__).__doc__
        _method.__doc__ = None if _doc is None else _doc + _DELEGATED
    del _DELEGATED, _method, _doc

    # -- end predictive distributions

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
        task = _format.TASK_OF_TYPE_ID.get(manifest.get("typeId"))
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
        if name in ("predict_proba", "predict_log_proba") and not self._disposed:
            raise AttributeError(f"this MitraModel regresses: {name} is for classification")
        return super().__getattr__(name)
