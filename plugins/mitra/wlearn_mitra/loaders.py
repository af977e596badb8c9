"""Bundle loaders for ``wlearn.load``: the targets of the plugin's ``wlearn.loaders`` entry
points, and :func:`register_loaders` to bind ONNX models to them.

The ONNX model is never inside a bundle. A loader uses the model bound by
``register_loaders``, else the file named by ``WLEARN_MITRA_CLASSIFIER_ONNX`` /
``WLEARN_MITRA_REGRESSOR_ONNX``, so ``import wlearn; wlearn.load(data)`` works without
importing ``wlearn_mitra``.

PyPI's wlearn 0.3 core has no entry-point discovery: its plugins register when imported, and
so does this one there (:func:`register_with_core`, called by ``import wlearn_mitra``).
"""

from __future__ import annotations

import threading
from typing import Any

import wlearn
import wlearn.registry

from ._artifacts import CLASSIFIER_TYPE_ID, REGRESSOR_BINS_TYPE_ID, REGRESSOR_TYPE_ID
from .estimators import MitraClassifier, MitraRegressor

__all__ = ["register_loaders", "load_classifier", "load_regressor"]

_bound: dict[str, Any] = {}
_lock = threading.Lock()


def register_loaders(classifier: Any = None, regressor: Any = None) -> None:
    """Bind ONNX models (path, bytes or InferenceSession) to the Mitra typeIds, so that
    ``wlearn.load`` builds models with them. ``None`` leaves a binding as it is."""
    for type_id, source, loader in (
        (CLASSIFIER_TYPE_ID, classifier, load_classifier),
        (REGRESSOR_TYPE_ID, regressor, load_regressor),
    ):
        if source is None:
            continue
        with _lock:
            _bound[type_id] = source
        wlearn.register(type_id, loader)
        if type_id == REGRESSOR_TYPE_ID:  # bin-head regressors' bundles: the same binding
            wlearn.register(REGRESSOR_BINS_TYPE_ID, loader)


def register_with_core() -> None:
    """Register both loaders explicitly when the installed ``wlearn`` core does not discover
    entry points (PyPI's 0.3); this project's core finds them by itself."""
    if not hasattr(wlearn.registry, "ENTRY_POINT_GROUP"):
        wlearn.register(CLASSIFIER_TYPE_ID, load_classifier)
        wlearn.register(REGRESSOR_TYPE_ID, load_regressor)
        wlearn.register(REGRESSOR_BINS_TYPE_ID, load_regressor)


def load_classifier(manifest: dict, toc: list, blobs: Any) -> MitraClassifier:
    """Loader of ``wlearn.mitra_onnx.classifier@1``."""
    with _lock:
        onnx = _bound.get(CLASSIFIER_TYPE_ID)
    return MitraClassifier._from_bundle(manifest, toc, blobs, onnx=onnx, onnx_is_default=True)


def load_regressor(manifest: dict, toc: list, blobs: Any) -> MitraRegressor:
    """Loader of ``wlearn.mitra_onnx.regressor@1`` and of ``@2`` (bin-head regressors),
    with the model bound to the regressor."""
    with _lock:
        onnx = _bound.get(REGRESSOR_TYPE_ID)
    return MitraRegressor._from_bundle(manifest, toc, blobs, onnx=onnx, onnx_is_default=True)
