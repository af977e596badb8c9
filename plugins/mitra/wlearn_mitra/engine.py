"""Running Mitra ONNX graphs: sessions, preprocessing, ensembles, chunking and the readout.

The engine knows nothing of labels, bundles or estimators. It takes a support set already
encoded for the model (class indices 0..K-1, or targets in the model's scale) and returns
what the model says about the query rows.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Collection, Union

import numpy as np

from wlearn.errors import ValidationError

from ._chunking import Reporter, chunk_rows, chunks, run_interruptible
from ._onnxinfo import model_shape
from ._preprocess import TRANSFORMS, MemberTransform, SupportStats

if TYPE_CHECKING:
    import onnxruntime as ort

OnnxSource = Union[str, os.PathLike, bytes, bytearray, memoryview, "ort.InferenceSession"]

#: The classifier graph always emits this many logits per query row.
MAX_CLASSES = 10

INPUT_NAMES = ("x_support", "y_support", "x_query", "padding_obs_support")


def _session_options(threads: int | None = None) -> "ort.SessionOptions":
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # The memory pattern planner keeps a plan per input shape; with shapes that change
    # between calls it roughly doubles peak memory for no measurable speed-up.
    options.enable_mem_pattern = False
    if threads is not None:
        if int(threads) != threads or threads < 1:
            raise ValidationError(f"threads must be a positive integer, got {threads!r}")
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
    return options


def _read_model(onnx: OnnxSource) -> bytes:
    if isinstance(onnx, (bytes, bytearray, memoryview)):
        return bytes(onnx)
    if isinstance(onnx, (str, os.PathLike)):
        path = Path(onnx)
        if not path.is_file():
            raise ValidationError(f"ONNX model file not found: {path}")
        return path.read_bytes()
    raise ValidationError(
        "onnx must be a path, the model's bytes or an onnxruntime.InferenceSession, "
        f"not {type(onnx).__name__}"
    )


def _new_session(model_bytes: bytes, threads: int | None = None) -> "ort.InferenceSession":
    import onnxruntime as ort

    try:
        return ort.InferenceSession(
            model_bytes, sess_options=_session_options(threads), providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ValidationError(f"ONNX Runtime could not load the model: {exc}") from exc


def open_session(onnx: OnnxSource) -> tuple["ort.InferenceSession", str | None]:
    """Return an InferenceSession and the SHA-256 hex of its model bytes (None if unknown)."""
    import onnxruntime as ort

    if isinstance(onnx, ort.InferenceSession):
        return onnx, None
    model_bytes = _read_model(onnx)
    return _new_session(model_bytes), hashlib.sha256(model_bytes).hexdigest()


class MitraEngine:
    """One Mitra ONNX graph and how to run it.

    Parameters
    ----------
    onnx:
        Path, model bytes or an ``onnxruntime.InferenceSession``.
    task:
        ``"classification"`` or ``"regression"``; checked against the graph's inputs.
    threads:
        ONNX Runtime intra-op threads (default: ONNX Runtime's choice, one per core).
    max_memory_mb:
        Working-memory budget for one run's activations; the query set is split into chunks
        that fit (default 1024 MB). ``predict`` can override it per call.
    """

    def __init__(
        self,
        onnx: OnnxSource,
        *,
        task: str,
        threads: int | None = None,
        max_memory_mb: float | None = None,
    ) -> None:
        import onnxruntime as ort

        if task not in ("classification", "regression"):
            raise ValidationError(f"task must be 'classification' or 'regression', not {task!r}")
        self.task = task
        self.max_memory_mb = max_memory_mb
        if isinstance(onnx, ort.InferenceSession):
            self.session, self.onnx_sha256, model_bytes = onnx, None, None
        else:
            model_bytes = _read_model(onnx)
            self.onnx_sha256 = hashlib.sha256(model_bytes).hexdigest()
            self.session = _new_session(model_bytes, threads)
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
        self.shape = model_shape(model_bytes, task == "classification")

    @property
    def classification(self) -> bool:
        return self.task == "classification"

    def forward(
        self, x_support: np.ndarray, y_support: np.ndarray, x_query: np.ndarray
    ) -> np.ndarray:
        """One plain forward pass of the graph, no preprocessing, no chunking.

        ``x_support`` [S, F], ``y_support`` [S] (class indices or model-scale targets),
        ``x_query`` [Q, F]. Returns the raw float32 output: [Q, 10] logits or [Q] values.
        """
        feeds = {
            "x_support": np.ascontiguousarray(x_support, dtype=np.float32)[None],
            "y_support": np.ascontiguousarray(y_support, dtype=self._y_dtype)[None],
            "x_query": np.ascontiguousarray(x_query, dtype=np.float32)[None],
            "padding_obs_support": np.zeros((1, len(x_support)), dtype=bool),
        }
        (output,) = run_interruptible(self.session, ["output"], feeds)
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
        progress: Callable[[int, int], object] | bool | None = None,
        max_memory_mb: float | None = None,
        chunk_size: int | None = None,
        transforms: Collection[str] = TRANSFORMS,
    ) -> np.ndarray:
        """What the model predicts for the query rows, preprocessed as upstream Mitra does.

        NaN in X becomes the support column's mean, constant support columns are dropped,
        and with ``n_estimators > 1`` each member sees its own random ``transforms`` (any of
        ``mirror_x``, ``shuffle_features``, ``shuffle_classes``, ``mirror_y``), drawn from
        ``seed``; members are averaged (probabilities for a classifier). ``n_estimators=1``
        is one plain pass with no random transform.

        Query rows are run in chunks that fit ``max_memory_mb`` (or of ``chunk_size`` rows);
        ``progress`` is a callable ``(rows_done, rows_total)`` or True for a tqdm bar.
        Ctrl-C stops the current run promptly and leaves the engine as it was.

        Classifier: float64 probabilities [Q, n_classes], a softmax of the logits of the
        classes 0..n_classes-1. Regressor: float64 [Q] in the model's target scale.
        """
        x_support, y_support, x_query = self._check(x_support, y_support, x_query, n_classes)
        if int(n_estimators) != n_estimators or n_estimators < 1:
            raise ValidationError(f"n_estimators must be a positive integer, got {n_estimators!r}")
        unknown = set(transforms) - TRANSFORMS
        if unknown:
            raise ValidationError(f"unknown transforms {sorted(unknown)}; known: {sorted(TRANSFORMS)}")

        stats = SupportStats.fit(x_support)
        xs = stats.apply(x_support)
        n_features = xs.shape[1]
        members = [MemberTransform()]
        if n_estimators > 1:
            rng = np.random.default_rng(seed)
            members = [
                MemberTransform.draw(
                    rng,
                    n_features=n_features,
                    n_slots=self.shape.n_slots,
                    classification=self.classification,
                    transforms=frozenset(transforms),
                )
                for _ in range(int(n_estimators))
            ]
        budget = self.max_memory_mb if max_memory_mb is None else max_memory_mb
        rows = chunk_rows(
            self.shape, len(xs), n_features, max_memory_mb=budget, chunk_size=chunk_size
        )

        n_query = len(x_query)
        total = np.zeros((n_query, n_classes) if self.classification else n_query)
        with Reporter(progress, n_query * len(members), "mitra predict") as report:
            for member in members:
                xs_m, ys_m = member.x(xs), member.y(y_support, self.classification)
                for part in chunks(n_query, rows):
                    xq_m = member.x(stats.apply(x_query[part]))
                    output = self.forward(xs_m, ys_m, xq_m).astype(np.float64)
                    if self.classification:
                        total[part] += softmax(member.logits(output, n_classes))
                    else:
                        total[part] += member.value(output)
                    report.advance(part.stop - part.start)
        total /= len(members)
        return total

    def _check(
        self, x_support: np.ndarray, y_support: np.ndarray, x_query: np.ndarray, n_classes
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        xs = _matrix(x_support, "x_support")
        xq = _matrix(x_query, "x_query")
        if len(xs) == 0:
            raise ValidationError("the support set is empty")
        if xs.shape[1] != xq.shape[1]:
            raise ValidationError(
                f"x_query has {xq.shape[1]} features but the support set has {xs.shape[1]}"
            )
        y = np.asarray(y_support)
        if y.shape != (len(xs),):
            raise ValidationError(f"y_support must have shape ({len(xs)},), got {y.shape}")
        if self.classification:
            if n_classes is None or int(n_classes) != n_classes or not 1 <= n_classes <= MAX_CLASSES:
                raise ValidationError(
                    f"n_classes must be an integer between 1 and {MAX_CLASSES}, got {n_classes!r}"
                )
            if not np.issubdtype(y.dtype, np.integer):
                if not (np.issubdtype(y.dtype, np.floating) and np.all(y == np.round(y))):
                    raise ValidationError("y_support must hold class indices 0..n_classes-1")
            if y.min() < 0 or y.max() >= n_classes:
                raise ValidationError(
                    f"y_support must hold class indices 0..{n_classes - 1}, "
                    f"found {y.min()}..{y.max()}"
                )
            y = y.astype(np.int64)
        else:
            if not np.issubdtype(y.dtype, np.number) or not np.isfinite(y).all():
                raise ValidationError("y_support must hold finite numbers")
            y = y.astype(np.float64)  # cast to float32 after any mirroring, as upstream
        return xs, y, xq


def _matrix(x: np.ndarray, name: str) -> np.ndarray:
    try:
        x = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{name} must be numeric: {exc}") from exc
    if x.ndim != 2:
        raise ValidationError(f"{name} must be 2-D [rows, features], got shape {x.shape}")
    return x


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in the dtype given."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=-1, keepdims=True)
    return shifted
