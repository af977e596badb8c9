"""Bundle loaders for ``wlearn.load``: the targets of the plugin's ``wlearn.loaders`` entry
points, and :func:`register_loaders` to bind ONNX models to them.

The ONNX model is never inside a bundle. A loader uses, in order: the model passed for this
load, ``wlearn.load(data, loader_options={typeId: {"onnx": ...}})``; the built-in model when
the bundle names it by hash; the model bound by ``register_loaders``; the file named by
``WLEARN_MITRA_CLASSIFIER_ONNX`` / ``WLEARN_MITRA_REGRESSOR_ONNX``; the built-in model. So
``import wlearn; wlearn.load(data)`` works without importing ``wlearn_mitra``. The loader
options are ``onnx``, ``check_onnx_hash``, ``precision`` and ``runtime``, as the keywords of
``MitraClassifier.load``; they pass through ``loader_options``, the context both cores (this
project's and PyPI's 0.3) give loaders registered with ``accepts_context``.

Each loader also carries ``describe``, the core's hook for ``wlearn inspect`` / ``validate``
(``wlearn.registry.describe``): the checks the loader makes at load, and which model the
bundle needs and whether it is at hand, judged by hash without opening it. A loader leaves
the model closed: it opens at the model's first predict or ``open()`` (spec/mitra.md "When the
model opens").

PyPI's wlearn 0.3 core has no entry-point discovery: its plugins register when imported, and
so does this one there (:func:`register_with_core`, called by ``import wlearn_mitra``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import wlearn
import wlearn.registry
from wlearn.errors import ValidationError

from .bundles import _format
from .graphs import _builtin
from .inputs import _manyclass
from .runtimes import _choice
from .bundles._format import CLASSIFIER_TYPE_ID, REGRESSOR_BINS_TYPE_ID, REGRESSOR_TYPE_ID
from .graphs._identity import model_buffer, model_identity
from .engine._shared import ENV_VARS, resolve
from .estimators import MitraClassifier, MitraRegressor

__all__ = ["register_loaders", "load_classifier", "load_regressor"]

#: What ``loader_options[typeId]`` may hold: the keywords of ``MitraClassifier.load``.
OPTIONS = ("onnx", "check_onnx_hash", "precision", "runtime")

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
        wlearn.register(type_id, loader, accepts_context=True)
        if type_id == REGRESSOR_TYPE_ID:  # bin-head regressors' bundles: the same binding
            wlearn.register(REGRESSOR_BINS_TYPE_ID, loader, accepts_context=True)


def register_with_core() -> None:
    """Register both loaders explicitly when the installed ``wlearn`` core does not discover
    entry points (PyPI's 0.3); this project's core finds them by itself."""
    if not hasattr(wlearn.registry, "ENTRY_POINT_GROUP"):
        wlearn.register(CLASSIFIER_TYPE_ID, load_classifier, accepts_context=True)
        wlearn.register(REGRESSOR_TYPE_ID, load_regressor, accepts_context=True)
        wlearn.register(REGRESSOR_BINS_TYPE_ID, load_regressor, accepts_context=True)


def _own_type_id(type_id: str, manifest: Any) -> str:
    """The typeId a bundle names, when it is one this loader reads besides ``type_id``."""
    own = manifest.get("typeId") if isinstance(manifest, Mapping) else None
    return own if own == REGRESSOR_BINS_TYPE_ID and type_id == REGRESSOR_TYPE_ID else type_id


def _options(type_id: str, context: Mapping[str, Any] | None) -> dict[str, Any]:
    """This load's options for ``type_id`` from the core's context (``loader_options``)."""
    if context is None:
        return {}
    options = context.get("loaderOptions", {}).get(type_id)
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise ValidationError(f"loader_options[{type_id!r}] must be a dict with keys among "
                              f"{', '.join(OPTIONS)}, got {type(options).__name__}")
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ValidationError(f"loader_options[{type_id!r}] has unknown key(s) "
                              f"{', '.join(map(repr, unknown))}; the keys are "
                              f"{', '.join(OPTIONS)} (as for MitraClassifier.load)")
    return dict(options)


def _load(cls: type, type_id: str, manifest: dict, toc: list, blobs: Any,
          context: Mapping[str, Any] | None) -> Any:
    """``type_id``: the typeId the model binding is kept under (a bin-head regressor's bundle,
    ``@2``, uses the regressor's); the options are those given for the bundle's own typeId."""
    options = _options(_own_type_id(type_id, manifest), context)
    if "onnx" in options and options["onnx"] is not None:
        return cls._from_bundle(manifest, toc, blobs, **options)
    options.pop("onnx", None)
    with _lock:
        onnx = _bound.get(type_id)
    return cls._from_bundle(manifest, toc, blobs, onnx=onnx, onnx_is_default=True, **options)


def load_classifier(manifest: dict, toc: list, blobs: Any,
                    context: Mapping[str, Any] | None = None) -> MitraClassifier:
    """Loader of ``wlearn.mitra_onnx.classifier@1`` (``context``: the core's load context,
    whose ``loaderOptions`` may hold this typeId's options)."""
    return _load(MitraClassifier, CLASSIFIER_TYPE_ID, manifest, toc, blobs, context)


def load_regressor(manifest: dict, toc: list, blobs: Any,
                   context: Mapping[str, Any] | None = None) -> MitraRegressor:
    """Loader of ``wlearn.mitra_onnx.regressor@1`` and of ``@2`` (bin-head regressors), with
    the model bound to the regressor (``context`` as for the classifier)."""
    return _load(MitraRegressor, REGRESSOR_TYPE_ID, manifest, toc, blobs, context)


def _where(source: Any) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"bytes given ({memoryview(source).nbytes:,})"
    return type(source).__name__ + " given"


def _identity(source: Any) -> str | None:
    """The model identity (``onnxSha256``) of a path or bytes source, by reading and hashing
    it, never opening it in a runtime; None for other sources (a session)."""
    if isinstance(source, (str, os.PathLike)):
        source = Path(source)
    elif isinstance(source, (bytearray, memoryview)):
        source = bytes(source)
    elif not isinstance(source, bytes):
        return None
    try:
        with model_buffer(source) as view:
            return model_identity(source, view)
    except OSError as exc:
        raise ValidationError(f"cannot read the ONNX model {_where(source)}: "
                              f"{exc.strerror or exc}") from None


def _describe(cls: type, type_id: str, manifest: dict, toc: list, blobs: Any,
              context: Mapping[str, Any] | None) -> dict[str, Any]:
    """The loader's ``describe`` hook: the loader's own checks of the bundle (raising what
    it raises), then which model it needs and whether loading would find it, and, as a
    note, whether the JS package loads the bundle (:func:`~._format.js_refusal`)."""
    state = _format.decode(manifest, toc, blobs)
    cls._check_bundle_task(state, manifest)
    options = _options(_own_type_id(type_id, manifest), context)
    _choice.check(options.get("runtime", "onnxruntime"), options.get("precision", "fp32"))
    onnx, is_default = options.get("onnx"), False
    if onnx is None:
        with _lock:
            onnx, is_default = _bound.get(type_id), True
    wanted = state.onnx_sha256
    name = _builtin.describe(cls._task, wanted)
    model: dict[str, Any] = {"sha256": wanted, "name": name and name.removeprefix("the ")}
    problems: list[str] = []
    try:
        source = cls._bundle_model(wanted, onnx, is_default)
        # how the text view names the model found (sourceName), beside where it is (source)
        origin = ("the model bound with register_loaders" if is_default
                  else "the model given (loader_options onnx)")
        if source is None:  # the environment's model, else the built-in one (unannounced)
            source = resolve(None, cls._task, notice=False, sha=wanted)
            origin = f"the model of {ENV_VARS[cls._task]}"
        found = _builtin.identity(source, cls._task)
        if found is not None:
            origin = _builtin.describe(cls._task, found)
        else:
            found = _identity(source)
        model["source"] = _where(source)
        model["sourceName"] = origin
        model["sourceSha256"] = found
        if (wanted and found and wanted != found and options.get("check_onnx_hash", True)):
            problems.append(cls._wrong_model(wanted, found, onnx, manifest.get("typeId")))
    except ValidationError as exc:
        problems.append(str(exc))
    refusal = _format.js_refusal(state)
    notes = [f"{_format.JS_PACKAGE} (JavaScript) loads it" if refusal is None else
             f"{_format.JS_PACKAGE} (JavaScript) refuses it at load: {refusal}"]
    unpredictable = _format.support_x_problem(state.support_x)  # predict's own message
    if unpredictable is not None:  # loads and saves back; predict refuses it
        notes.append(f"it loads, but predict will refuse it: {unpredictable}")
    if (state.classes is not None and len(state.classes) > _manyclass.HEAD
            and state.class_hierarchy is None):
        notes.append(f"{len(state.classes)} classes and no class hierarchy: "
                     f"{_format.JS_PACKAGE} cannot predict from it (its head has "
                     f"{_manyclass.HEAD} outputs); predict here runs them through the class "
                     "hierarchy max_node_classes gives")
    if state.onnx_sha256 is None:
        notes.append("it records no model hash (its model was an InferenceSession at fit): "
                     "load runs whatever model it finds, unchecked; pass the model it was "
                     "fitted with")
    if state.ignored_artifacts:
        listed = ", ".join(map(repr, state.ignored_artifacts))
        notes.append(f"artifacts no Mitra bundle has ({listed}): load ignores them, as "
                     f"{_format.JS_PACKAGE} does, and save does not write them back")
    return {"model": model, "problems": problems, "notes": notes}


def _describe_classifier(manifest: dict, toc: list, blobs: Any,
                         context: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return _describe(MitraClassifier, CLASSIFIER_TYPE_ID, manifest, toc, blobs, context)


def _describe_regressor(manifest: dict, toc: list, blobs: Any,
                        context: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return _describe(MitraRegressor, REGRESSOR_TYPE_ID, manifest, toc, blobs, context)


# What the core reads off a loader (this project's core; PyPI's 0.3 ignores both): it takes
# the load context, and its describe hook (wlearn.registry.describe).
for _loader, _hook in ((load_classifier, _describe_classifier),
                       (load_regressor, _describe_regressor)):
    _loader.accepts_context = True  # type: ignore[attr-defined]
    _loader.describe = _hook  # type: ignore[attr-defined]
