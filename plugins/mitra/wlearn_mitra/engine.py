"""Running Mitra ONNX graphs: sessions, feeds and the per-row readout.

The engine knows nothing of labels, bundles or estimators. It takes a support set already
encoded for the model (class indices 0..K-1, or targets in the model's scale) and returns
what the model says about the query rows.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Union

import numpy as np

from wlearn.errors import ValidationError

if TYPE_CHECKING:
    import onnxruntime as ort

OnnxSource = Union[str, os.PathLike, bytes, bytearray, memoryview, "ort.InferenceSession"]

#: The classifier graph always emits this many logits per query row.
MAX_CLASSES = 10

INPUT_NAMES = ("x_support", "y_support", "x_query", "padding_obs_support")


def _session_options() -> "ort.SessionOptions":
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # The memory pattern planner keeps a plan per input shape; with shapes that change
    # between calls it roughly doubles peak memory for no measurable speed-up.
    options.enable_mem_pattern = False
    return options


def open_session(onnx: OnnxSource) -> tuple["ort.InferenceSession", str | None]:
    """Return an InferenceSession and the SHA-256 hex of its model bytes (None if unknown)."""
    import onnxruntime as ort

    if isinstance(onnx, ort.InferenceSession):
        return onnx, None
    if isinstance(onnx, (bytes, bytearray, memoryview)):
        model_bytes = bytes(onnx)
    elif isinstance(onnx, (str, os.PathLike)):
        path = Path(onnx)
        if not path.is_file():
            raise ValidationError(f"ONNX model file not found: {path}")
        model_bytes = path.read_bytes()
    else:
        raise ValidationError(
            "onnx must be a path, the model's bytes or an onnxruntime.InferenceSession, "
            f"not {type(onnx).__name__}"
        )
    sha256 = hashlib.sha256(model_bytes).hexdigest()
    try:
        session = ort.InferenceSession(
            model_bytes, sess_options=_session_options(), providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ValidationError(f"ONNX Runtime could not load the model: {exc}") from exc
    return session, sha256


class MitraEngine:
    """One Mitra ONNX graph and how to run it.

    Parameters
    ----------
    onnx:
        Path, model bytes or an ``onnxruntime.InferenceSession``.
    task:
        ``"classification"`` or ``"regression"``; checked against the graph's output rank.
    """

    def __init__(self, onnx: OnnxSource, *, task: str) -> None:
        if task not in ("classification", "regression"):
            raise ValidationError(f"task must be 'classification' or 'regression', not {task!r}")
        self.task = task
        self.session, self.onnx_sha256 = open_session(onnx)
        names = {i.name for i in self.session.get_inputs()}
        missing = [n for n in INPUT_NAMES if n not in names]
        if missing:
            raise ValidationError(f"ONNX model is not a Mitra graph: inputs {missing} are missing")
        y_type = next(i.type for i in self.session.get_inputs() if i.name == "y_support")
        self._y_dtype = np.int64 if "int64" in y_type else np.float32
        expected = np.int64 if task == "classification" else np.float32
        if self._y_dtype is not expected:
            kind = "classifier" if self._y_dtype is np.int64 else "regressor"
            raise ValidationError(f"ONNX model is a Mitra {kind}, which does not fit task {task!r}")

    def forward(
        self, x_support: np.ndarray, y_support: np.ndarray, x_query: np.ndarray
    ) -> np.ndarray:
        """One plain forward pass of the graph.

        ``x_support`` [S, F], ``y_support`` [S] (class indices or model-scale targets),
        ``x_query`` [Q, F]. Returns the raw float32 output: [Q, 10] logits or [Q] values.
        """
        feeds = {
            "x_support": np.ascontiguousarray(x_support, dtype=np.float32)[None],
            "y_support": np.ascontiguousarray(y_support, dtype=self._y_dtype)[None],
            "x_query": np.ascontiguousarray(x_query, dtype=np.float32)[None],
            "padding_obs_support": np.zeros((1, len(x_support)), dtype=bool),
        }
        (output,) = self.session.run(["output"], feeds)
        return output[0]

    def predict(
        self,
        x_support: np.ndarray,
        y_support: np.ndarray,
        x_query: np.ndarray,
        *,
        n_classes: int | None = None,
        n_estimators: int = 1,
        seed: int = 0,
        progress: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        """What the model predicts for the query rows.

        Classifier: float64 probabilities [Q, n_classes], a softmax of the first ``n_classes``
        logits of each row. Regressor: float64 [Q] in the model's target scale.
        """
        for name, x in (("support", x_support), ("query", x_query)):
            if not np.isfinite(x).all():
                raise ValidationError(f"X ({name} rows) contains NaN or infinite values")
        if n_estimators != 1:
            raise ValidationError("n_estimators > 1 is not supported yet")
        output = self.forward(x_support, y_support, x_query)
        if progress is not None:
            progress(len(x_query), len(x_query))
        if self.task == "regression":
            return output.astype(np.float64)
        if n_classes is None or not 1 <= n_classes <= MAX_CLASSES:
            raise ValidationError(f"n_classes must be between 1 and {MAX_CLASSES}, got {n_classes}")
        return softmax(output[:, :n_classes].astype(np.float64))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in the dtype given."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=-1, keepdims=True)
    return shifted
