"""The Mitra bundle: what a fitted model writes and reads (see ``spec/mitra.md``).

Artifacts ``meta`` (JSON), ``support_x`` (float32 [nSupport, nFeatures]) and ``support_y``
(int32 raw labels for a classifier, float32 targets for a regressor), as @wlearn/mitra
writes them; classifiers whose labels int32 cannot hold write ``support_y_index`` (int32
class indices) and ``meta.labels`` instead of ``support_y`` and ``meta.classes``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from wlearn import decode_json, encode_bundle, encode_json
from wlearn.errors import BundleError

from . import _labels

CLASSIFIER_TYPE_ID = "wlearn.mitra_onnx.classifier@1"
REGRESSOR_TYPE_ID = "wlearn.mitra_onnx.regressor@1"
TYPE_IDS = {"classification": CLASSIFIER_TYPE_ID, "regression": REGRESSOR_TYPE_ID}
TASKS = {v: k for k, v in TYPE_IDS.items()}


@dataclass
class MitraState:
    """Everything a Mitra bundle holds."""

    task: str
    params: dict[str, Any]  # manifest params, JS names (maxSupport, seed, ...)
    support_x: np.ndarray  # float32 [S, F]
    support_y: np.ndarray  # classifier: int64 class indices; regressor: float32 targets
    classes: np.ndarray | None = None
    onnx_sha256: str | None = None
    extra_meta: dict[str, Any] = field(default_factory=dict)


def encode(state: MitraState) -> bytes:
    """The bundle bytes; byte-identical to @wlearn/mitra's for what it can represent."""
    n_support, n_features = state.support_x.shape
    meta: dict[str, Any] = {
        **state.extra_meta,
        "nFeatures": n_features,
        "nSupport": n_support,
        "onnxSha256": state.onnx_sha256,
        "seed": state.params.get("seed"),
    }
    metadata: dict[str, Any] = {"nFeatures": n_features}
    support_x = np.ascontiguousarray(state.support_x, dtype="<f4")
    if state.task == "classification":
        metadata["nClasses"] = len(state.classes)
        js = _labels.js_classes(state.classes)
        if js is not None:
            meta["classes"] = js
            y_id, y = "support_y", np.asarray(js, dtype="<i4")[state.support_y]
        else:
            meta["labels"] = _labels.to_json(state.classes)
            y_id, y = "support_y_index", state.support_y.astype("<i4")
    else:
        y_id, y = "support_y", np.ascontiguousarray(state.support_y, dtype="<f4")
    manifest = {
        "typeId": TYPE_IDS[state.task],
        "params": state.params,
        "metadata": metadata,
    }
    return encode_bundle(
        manifest,
        [
            {"id": "meta", "data": encode_json(meta)},
            {"id": "support_x", "data": support_x.tobytes()},
            {"id": y_id, "data": y.tobytes()},
        ],
    )


def _int_field(meta: dict, name: str, minimum: int = 1) -> int:
    value = meta.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise BundleError(f"meta.{name} must be an integer >= {minimum}, got {value!r}")
    return value


def _array(blobs: Any, artifact: str, dtype: str, count: int) -> np.ndarray:
    try:
        raw = blobs[artifact]
    except KeyError:
        raise BundleError(f"the bundle has no {artifact!r} artifact") from None
    expected = count * np.dtype(dtype).itemsize
    if len(raw) != expected:
        raise BundleError(f"artifact {artifact!r} has {len(raw)} bytes, expected {expected}")
    return np.frombuffer(raw, dtype=dtype).astype(dtype[1:], copy=True)


def decode(manifest: dict, toc: list, blobs: Any) -> MitraState:
    """Read a Mitra bundle's parts (as ``wlearn.decode_bundle`` returns them)."""
    task = TASKS.get(manifest.get("typeId"))
    if task is None:
        raise BundleError(f"not a Mitra bundle: typeId {manifest.get('typeId')!r}")
    params = manifest.get("params", {})
    if not isinstance(params, dict):
        raise BundleError("manifest.params must be an object")
    if "meta" not in blobs:
        raise BundleError("the bundle has no 'meta' artifact")
    try:
        meta = decode_json(blobs["meta"])
    except BundleError as exc:
        raise BundleError(f"artifact 'meta': {exc}") from None
    if not isinstance(meta, dict):
        raise BundleError("artifact 'meta' must be a JSON object")
    n_features = _int_field(meta, "nFeatures")
    n_support = _int_field(meta, "nSupport")
    sha = meta.get("onnxSha256")
    if sha is not None and not (isinstance(sha, str) and len(sha) == 64):
        raise BundleError(f"meta.onnxSha256 must be null or 64 hex digits, got {sha!r}")
    support_x = _array(blobs, "support_x", "<f4", n_support * n_features)
    support_x = support_x.reshape(n_support, n_features)
    known = {"nFeatures", "nSupport", "onnxSha256", "seed", "classes", "labels"}
    state = MitraState(
        task=task,
        params=dict(params),
        support_x=support_x,
        support_y=np.empty(0),
        onnx_sha256=sha.lower() if sha else None,
        extra_meta={k: v for k, v in meta.items() if k not in known},
    )
    if task == "regression":
        state.support_y = _array(blobs, "support_y", "<f4", n_support)
        if not np.isfinite(state.support_y).all():
            raise BundleError("support_y holds NaN or infinite targets")
        return state
    if ("classes" in meta) == ("labels" in meta):
        raise BundleError("a classifier's meta must hold exactly one of 'classes' and 'labels'")
    if "classes" in meta:
        raw_classes = meta["classes"]
        if (
            not isinstance(raw_classes, list)
            or not raw_classes
            or not all(type(c) is int and _labels.INT32_MIN <= c <= _labels.INT32_MAX
                       for c in raw_classes)
        ):
            raise BundleError("meta.classes must be a non-empty list of int32 labels")
        # @wlearn/mitra can write a class twice (1 and 1.5 both become 1): keep each once.
        state.classes = np.unique(np.asarray(raw_classes, dtype=np.int64))
        labels = _array(blobs, "support_y", "<i4", n_support).astype(np.int64)
        index = np.searchsorted(state.classes, labels)
        index = np.minimum(index, len(state.classes) - 1)
        unknown = labels[state.classes[index] != labels]
        if len(unknown):
            raise BundleError(f"support_y holds label {unknown[0]}, which meta.classes lacks")
    else:
        state.classes = _labels.from_json(meta["labels"])
        index = _array(blobs, "support_y_index", "<i4", n_support).astype(np.int64)
        if index.min() < 0 or index.max() >= len(state.classes):
            raise BundleError(
                f"support_y_index must hold class indices 0..{len(state.classes) - 1}"
            )
    state.support_y = index
    return state
