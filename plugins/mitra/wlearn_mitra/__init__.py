"""Mitra on ONNX Runtime for wlearn: scikit-learn style estimators whose ``.wlrn`` bundles are
those of the JavaScript package @wlearn/mitra.

The public face: the estimators (:mod:`wlearn_mitra.estimators`), the engine that runs a Mitra
model on an encoded support set (:class:`~wlearn_mitra.engine.MitraEngine`), the bundle loaders
(:mod:`wlearn_mitra.loaders`), the converter (:mod:`wlearn_mitra.convert`) and the exceptions
(:mod:`wlearn_mitra.exceptions`). Modules and folders whose names start with ``_``, and the
folders ``inputs``, ``bundles``, ``graphs`` and ``runtimes``, are private; ``ARCHITECTURE.md``
beside this package says what each folder answers and what may import what.
"""

from .engine import MitraEngine
from .estimators import MitraClassifier, MitraModel, MitraRegressor, detect_task
from .estimators._distribution import BinnedDistribution
from .exceptions import (
    BuiltinModelWarning, CacheWarning, InputTypeError, MissingDependencyError, ModelLoadError,
    ModelOutputError, ModelRunError, NotFittedError,
)
from .loaders import load_classifier, load_regressor, register_loaders, register_with_core

register_with_core()

__version__ = "0.2.0"

__all__ = [
    "MitraClassifier", "MitraRegressor", "MitraModel", "detect_task",
    "register_loaders", "load_classifier", "load_regressor", "BuiltinModelWarning",
    "CacheWarning", "ModelOutputError",
    "BinnedDistribution", "MitraEngine",
    "MissingDependencyError", "ModelLoadError", "ModelRunError", "InputTypeError",
    "NotFittedError",
]
