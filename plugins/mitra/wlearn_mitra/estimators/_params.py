"""Private: the scikit-learn parameter protocol shared by the estimators, knowing none of
their parameters (get_params, set_params, clone, copy, repr, the disposed state, tags)."""

from __future__ import annotations

import copy
import inspect
import os
from typing import Any

from wlearn.errors import DisposedError, ValidationError

from ..exceptions import not_fitted


def _same_model(a: Any, b: Any) -> bool:
    """Whether two model parameters name the same model (paths compared as absolute)."""
    if a is b:
        return True
    paths = (str, os.PathLike)
    if isinstance(a, paths) and isinstance(b, paths):
        return os.path.abspath(os.fspath(a)) == os.path.abspath(os.fspath(b))
    return False


class _Params:
    """get_params/set_params/clone/repr and the disposed state, without scikit-learn.

    It knows no estimator's parameters: a subclass declares them in its ``__init__`` and says
    here which of them name a model and what state is shared between copies.
    """

    _disposed = False
    _estimator_kind: str | None = None
    #: Parameters that name a model: shared by copies, never deep-copied; changing one through
    #: set_params calls :meth:`_model_replaced`; ``create`` takes them apart from ``params``.
    _model_params: tuple[str, ...] = ()
    #: Attributes shared by copies as they are (what holds a model open).
    _shared_state: tuple[str, ...] = ()
    #: Other names ``create`` accepts for parameters (another API's) -> the constructor's.
    _param_aliases: dict[str, str] = {}
    #: Whether the estimator takes NaN in X (scikit-learn's ``allow_nan`` input tag).
    _allow_nan = False

    def _model_replaced(self) -> None:
        """Called by set_params before a model parameter takes another model."""

    def _param_repr(self, value: Any) -> str:
        """How ``repr`` shows a parameter's value (bytes are shown by their length)."""
        return repr(value)

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
            if key in self._model_params and not _same_model(value, getattr(self, key)):
                self._model_replaced()
            setattr(self, key, value)
        return self

    @classmethod
    def _create_kwargs(cls, params: dict[str, Any] | None) -> dict[str, Any]:
        """``create``'s ``params`` (the names of :attr:`_param_aliases` or the constructor's)
        as constructor keywords, the models excepted (``create`` takes those apart)."""
        names = cls._param_names()
        kwargs = {}
        for key, value in (params or {}).items():
            name = cls._param_aliases.get(key, key)
            if name not in names or name in cls._model_params:
                raise ValidationError(f"{cls.__name__}.create: unknown parameter {key!r}")
            kwargs[name] = value
        return kwargs

    def __sklearn_is_fitted__(self) -> bool:
        return self.is_fitted

    def __sklearn_clone__(self) -> "_Params":
        # The models are shared, never deep-copied: sessions cannot be, and 290 MB of bytes
        # should not be.
        return type(self)(**self.get_params())

    def __copy__(self) -> "_Params":
        twin = type(self).__new__(type(self))
        twin.__dict__.update(self.__dict__)
        return twin

    def __deepcopy__(self, memo: dict) -> "_Params":
        # The models and what holds them open are shared, as clone() does: sessions cannot be
        # copied, and the bytes of a 290 MB model should not be.
        twin = type(self).__new__(type(self))
        memo[id(self)] = twin
        for name, value in self.__dict__.items():
            shared = name in self._model_params or name in self._shared_state
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
            else:
                text = self._param_repr(value)
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
            input_tags=InputTags(allow_nan=self._allow_nan),
        )
