"""Mitra on ONNX Runtime for wlearn: scikit-learn style estimators whose ``.wlrn`` bundles are
those of the JavaScript package @wlearn/mitra."""

from .graphs._builtin import BuiltinModelWarning
from .exceptions import CacheWarning, ModelOutputError
from .estimators._distribution import BinnedDistribution
from .estimators import MitraClassifier, MitraModel, MitraRegressor, detect_task
from .loaders import load_classifier, load_regressor, register_loaders, register_with_core

register_with_core()

__version__ = "0.1.0"

__all__ = [
    "MitraClassifier", "MitraRegressor", "MitraModel", "detect_task",
    "register_loaders", "load_classifier", "load_regressor", "BuiltinModelWarning",
    "CacheWarning", "ModelOutputError",
    "BinnedDistribution",
]
