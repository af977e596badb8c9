"""The exceptions and warnings the estimators raise where scikit-learn callers expect its own.

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

__all__ = [
    "NotFittedError", "InputTypeError", "DataConversionWarning", "ModelOutputError",
    "CacheWarning", "not_fitted", "warn_conversion",
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


class CacheWarning(UserWarning):
    """A file of the disk cache (derived split pair, int8 graph, optimised graph, OpenVINO
    IR under ``~/.cache/wlearn-mitra`` or ``optimized_dir``) could not be written or read:
    the engine ran without it or made it again. The message names the file; deleting any
    cache file is always safe."""


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
