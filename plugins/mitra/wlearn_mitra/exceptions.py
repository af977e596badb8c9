"""Every exception and warning class of wlearn-mitra, and the helpers that raise them.

The plugin raises the core's classes (``wlearn.errors``: ValidationError for bad input,
BundleError, ResourceLimitError, BackendError, DisposedError, all WlearnError), re-exported
here as the same class objects so that every error of the plugin can be named from this
module, and these, each a subclass of one of them where one fits:

* :class:`MissingDependencyError`: an optional package is missing; an ``ImportError`` whose
  message says what to install (and a ValidationError, as it always was);
* :class:`ModelLoadError`, :class:`ModelRunError`, :class:`ModelOutputError`: the runtime
  could not load a model, failed running it, or the model answered NaN or infinity (the
  core's BackendError; a model that does not load is also a ValidationError, as it was);
* :class:`InputTypeError`, :class:`NotFittedError`; warnings :class:`CacheWarning`,
  :class:`BuiltinModelWarning`, :class:`DataConversionWarning`.

scikit-learn code catches ``sklearn.exceptions.NotFittedError`` (``cross_val_score``,
``check_is_fitted``) and filters ``DataConversionWarning``. What :func:`not_fitted` and
:func:`warn_conversion` raise is always this module's class, and also scikit-learn's own
whenever scikit-learn has been imported, which any code that names its classes has done.
scikit-learn is not imported here: it costs seconds and is optional. Without it,
:class:`NotFittedError` is still both a ``ValueError`` and an ``AttributeError``, as
scikit-learn's is.
"""

from __future__ import annotations

import os
import sys
import warnings
from functools import lru_cache

import wlearn.errors
from wlearn.errors import (  # re-exported: the core's classes the plugin raises
    BackendError, BundleError, DisposedError, ResourceLimitError, ValidationError, WlearnError,
)

from ._hints import install_hint

__all__ = [
    "WlearnError", "ValidationError", "BundleError", "ResourceLimitError", "BackendError",
    "DisposedError",
    "NotFittedError", "InputTypeError", "DataConversionWarning", "ModelOutputError",
    "MissingDependencyError", "ModelLoadError", "ModelRunError", "CacheWarning",
    "BuiltinModelWarning", "not_fitted", "warn_conversion",
]


# The project's core makes its NotFittedError an AttributeError; PyPI's wlearn 0.3 does not.
_NOT_FITTED_BASES = (
    (ValueError, wlearn.errors.NotFittedError)
    if issubclass(wlearn.errors.NotFittedError, AttributeError)
    else (ValueError, AttributeError, wlearn.errors.NotFittedError)
)


class NotFittedError(*_NOT_FITTED_BASES):  # type: ignore[misc]
    """A model was used before ``fit`` or ``load``: wlearn's ``NotFittedError``, a
    ``ValueError`` and an ``AttributeError`` (scikit-learn's bases, in its order), and
    scikit-learn's own ``NotFittedError`` when scikit-learn is loaded (see :func:`not_fitted`)."""

    def __init__(self, message: str) -> None:
        wlearn.errors.NotFittedError.__init__(self, message)


class InputTypeError(wlearn.errors.ValidationError, TypeError):
    """``X`` holds objects that are neither numbers, strings nor missing values (a dict, a
    list, a date): a ``ValidationError`` that is also the ``TypeError`` scikit-learn expects."""


class ModelOutputError(wlearn.errors.BackendError):
    """The model answered NaN or infinity: its weights hold non-finite values, or a file it
    was read from (a cache file, named in the message) is damaged. Never read as a class or
    a value: ``argmax`` over NaN probabilities would answer the first class for every row."""


class MissingDependencyError(ImportError, wlearn.errors.ValidationError):
    """An optional package that a feature needs is not installed: an ``ImportError`` whose
    message ends with what to install (the packages of wlearn-mitra's extra, see
    :func:`~wlearn_mitra._hints.install_hint`), and a ValidationError as before.

    ``MissingDependencyError(what, *extras)``: ``what`` says which feature needs what, e.g.
    ``"precision='int8' needs the onnx package"``."""

    def __init__(self, what: str, *extras: str, detail: str | None = None) -> None:
        message = f"{what}: {install_hint(*extras)}" + (f" ({detail})" if detail else "")
        ImportError.__init__(self, message)
        self.extras = extras


class ModelLoadError(wlearn.errors.BackendError, wlearn.errors.ValidationError):
    """The runtime (ONNX Runtime, OpenVINO) could not load a model: the core's BackendError,
    and a ValidationError as before (a file that is no ONNX model is bad input too)."""


class ModelRunError(wlearn.errors.BackendError):
    """The runtime failed while running a model (other than for memory, which is a
    ResourceLimitError, or Ctrl-C); the runtime's own error is its ``__cause__``."""


class CacheWarning(UserWarning):
    """A file of the disk cache (derived split pair, int8 graph, optimised graph, OpenVINO
    IR under ``~/.cache/wlearn-mitra`` or ``optimized_dir``) could not be written or read,
    or the support cache's pair could not be cut from the model (no ``onnx`` package, say;
    warned once per process): the engine ran without it or made it again. The message names
    the file or the cause; deleting any cache file is always safe."""


class BuiltinModelWarning(UserWarning):
    """Issued once per task in the user's session when an estimator falls back to the
    built-in model: once per process, and not in worker processes (joblib/loky,
    multiprocessing, Dask workers: a process with a parent Python process, or one started
    after the notice was given), where it would be repeated for every worker and task.

    Silence it with ``warnings.filterwarnings("ignore", category=BuiltinModelWarning)``.
    """


class DataConversionWarning(UserWarning):
    """Input was converted (a column-vector ``y`` taken as 1-D); also scikit-learn's
    ``DataConversionWarning`` when scikit-learn is loaded."""


@lru_cache(maxsize=None)
def _with_sklearn(ours: type, module: str, name: str) -> type:
    theirs = getattr(sys.modules[module], name)
    return type(ours.__name__, (ours, theirs), {"__module__": ours.__module__,
                                                "__doc__": ours.__doc__})


def _sklearn_loaded() -> bool:
    return "sklearn.exceptions" in sys.modules


def not_fitted(message: str) -> NotFittedError:
    """A :class:`NotFittedError` to raise, scikit-learn's too when it is loaded."""
    cls = NotFittedError
    if _sklearn_loaded():
        cls = _with_sklearn(NotFittedError, "sklearn.exceptions", "NotFittedError")
    return cls(message)


def user_stacklevel() -> int:
    """``stacklevel`` for a ``warnings.warn`` made right here by the caller, naming the first
    frame outside this package: the user's line, however deep in the package the warning is."""
    package = os.path.dirname(os.path.abspath(__file__))
    frame, level = sys._getframe(1), 1  # the frame that calls warn
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame, level = frame.f_back, level + 1
    return level


def warn_conversion(message: str) -> None:
    """Warn with :class:`DataConversionWarning` (scikit-learn's too when it is loaded), at the
    user's line."""
    cls = DataConversionWarning
    if _sklearn_loaded():
        cls = _with_sklearn(DataConversionWarning, "sklearn.exceptions", "DataConversionWarning")
    warnings.warn(message, cls, stacklevel=user_stacklevel())
