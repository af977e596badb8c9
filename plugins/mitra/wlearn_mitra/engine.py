"""Running Mitra ONNX graphs: sessions, preprocessing, ensembles, chunking and the readout.

The engine knows nothing of labels, bundles or estimators. It takes a support set already
encoded for the model (class indices 0..K-1, or targets in the model's scale) and returns
what the model says about the query rows.
"""

from __future__ import annotations

import os
import warnings
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Collection, Union

import numpy as np

from wlearn.errors import ValidationError

from ._cache import (
    DEFAULT_CACHE_MB,
    ENCODER_INPUTS,
    STAT_NAMES,
    SupportCache,
    cache_layers,
    cache_names,
    derive_split,
    derived_paths,
    split_paths,
    support_key,
)
from ._chunking import Reporter, chunks, padded, run_interruptible
from ._identity import model_buffer as _buffer
from ._identity import model_identity
from ._onnxinfo import graph_input_names, model_shape
from ._precision import PRECISIONS, default_cache_dir, quantize_int8
from ._planning import Plan
from ._planning import plan as plan_predict
from ._preprocess import TRANSFORMS, MemberTransform, SupportStats, feature_subsets

if TYPE_CHECKING:
    import onnxruntime as ort

OnnxSource = Union[str, os.PathLike, bytes, bytearray, memoryview, "ort.InferenceSession"]

#: The classifier graph always emits this many logits per query row.
MAX_CLASSES = 10

INPUT_NAMES = ("x_support", "y_support", "x_query", "padding_obs_support")


def _session_options(
    threads: int | None = None, optimized_path: Path | None = None
) -> "ort.SessionOptions":
    import onnxruntime as ort

    options = ort.SessionOptions()
    # EXTENDED keeps the fusions that matter (GELU, LayerNorm, int8 MatMul); measured on the
    # full-size model it runs as fast as ALL with a lower peak, and the optimised graphs it
    # saves carry no CPU-specific layouts (bench/README.md).
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    # The memory pattern planner keeps a plan per input shape; with shapes that change
    # between calls it roughly doubles peak memory for no measurable speed-up.
    options.enable_mem_pattern = False
    if threads is not None:
        if int(threads) != threads or threads < 1:
            raise ValidationError(f"threads must be a positive integer, got {threads!r}")
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
    if optimized_path is not None:
        options.optimized_model_filepath = str(optimized_path)
        options.log_severity_level = 3  # no advice about portability in the user's log
    return options


ModelSource = Union[bytes, Path]


def _model_source(onnx: OnnxSource) -> ModelSource:
    """The model's bytes, or its path (left for ONNX Runtime to read: no Python copy)."""
    if isinstance(onnx, (bytes, bytearray, memoryview)):
        return bytes(onnx)
    if isinstance(onnx, (str, os.PathLike)):
        path = Path(onnx)
        if not path.is_file():
            raise ValidationError(f"ONNX model file not found: {path}")
        return path
    raise ValidationError(
        "onnx must be a path, the model's bytes or an onnxruntime.InferenceSession, "
        f"not {type(onnx).__name__}"
    )


def sha256_of(source: ModelSource) -> str:
    """The model's identity: SHA-256 of its bytes, covering its external data if any."""
    with _buffer(source) as view:
        return model_identity(source, view)


def _new_session(
    source: ModelSource,
    threads: int | None = None,
    *,
    sha256: str | None = None,
    optimized_dir: str | os.PathLike | None = None,
) -> "ort.InferenceSession":
    """A CPU session; with ``optimized_dir``, ONNX Runtime's optimised graph is kept there.

    The optimised file is keyed by the model's SHA-256 and the ONNX Runtime version, so a
    later engine for the same model skips the graph optimisation.
    """
    import onnxruntime as ort

    model: bytes | str = source if isinstance(source, bytes) else str(source)
    optimized_path = None
    if optimized_dir is not None:
        sha256 = sha256 or sha256_of(source)
        cached = Path(optimized_dir) / f"{sha256}.ort{ort.__version__}.opt.onnx"
        if cached.is_file():
            model = str(cached)
        else:
            cached.parent.mkdir(parents=True, exist_ok=True)
            optimized_path = cached.with_suffix(f".{os.getpid()}.tmp")
    try:
        session = ort.InferenceSession(
            model,
            sess_options=_session_options(threads, optimized_path),
            providers=["CPUExecutionProvider"],
        )
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ValidationError(f"ONNX Runtime could not load the model: {exc}") from exc
    if optimized_path is not None and optimized_path.is_file():
        os.replace(optimized_path, cached)  # atomic: readers never see half a file
    return session


def open_session(onnx: OnnxSource) -> tuple["ort.InferenceSession", str | None]:
    """Return an InferenceSession and the SHA-256 hex of its model bytes (None if unknown)."""
    import onnxruntime as ort

    if isinstance(onnx, ort.InferenceSession):
        return onnx, None
    source = _model_source(onnx)
    return _new_session(source), sha256_of(source)


#: Element types and rank of the inputs a Mitra graph takes (y_support: int64 class indices
#: for a classifier, float targets for a regressor).
_INPUT_KINDS = {
    "x_support": (("tensor(float)",), 3),
    "y_support": (("tensor(int64)", "tensor(float)"), 2),
    "x_query": (("tensor(float)",), 3),
    "padding_obs_support": (("tensor(bool)",), 2),
}


class _Arg:
    """A graph input's or output's name, element type and rank (None: unknown)."""

    def __init__(self, arg) -> None:
        self.name, self.type = arg.name, arg.type
        shape = arg.shape if isinstance(arg.shape, list) else None
        self.rank = None if shape is None else len(shape)
        # Sizes fixed in the graph, other than a batch of 1: Mitra's axes are all dynamic.
        self.fixed = [] if shape is None else [
            (axis, size) for axis, size in enumerate(shape)
            if isinstance(size, int) and not (axis == 0 and size == 1)
        ]

    def __str__(self) -> str:
        return self.type if self.rank is None else f"{self.type} of rank {self.rank}"


def _args(nodes: list, what: str) -> dict[str, _Arg]:
    try:
        return {arg.name: arg for arg in map(_Arg, nodes)}
    except UnicodeDecodeError:  # ONNX Runtime decodes names and dimension names lazily
        raise ValidationError(
            f"ONNX model is not a Mitra {what}: its inputs or outputs have names that are not "
            "UTF-8"
        ) from None


def _check_inputs(session: "ort.InferenceSession", required: tuple[str, ...], what: str) -> dict:
    """The graph's input types by name, once they are exactly what the engine feeds; a
    graph that takes other inputs or other types would fail only later, inside a run."""
    args = _args(session.get_inputs(), what)
    missing = [n for n in required if n not in args]
    if missing:
        raise ValidationError(f"ONNX model is not a Mitra {what}: inputs {missing} are missing")
    extra = [n for n in args if n not in required]
    if extra:
        raise ValidationError(f"ONNX model is not a Mitra {what}: it also takes inputs {extra}")
    for name in required:
        types, rank = _INPUT_KINDS[name]
        arg = args[name]
        if arg.type not in types or arg.rank not in (None, rank):
            raise ValidationError(
                f"ONNX model is not a Mitra {what}: input {name!r} is {arg}, "
                f"expected {' or '.join(types)} of rank {rank}"
            )
        if arg.fixed:
            axis, size = arg.fixed[0]
            raise ValidationError(
                f"ONNX model is not a Mitra {what}: input {name!r} has axis {axis} fixed to "
                f"{size}, where Mitra graphs take any size"
            )
    return {name: arg.type for name, arg in args.items()}


def _check_output(session: "ort.InferenceSession", rank: int, what: str) -> None:
    outputs = _args(session.get_outputs(), what)
    arg = outputs.get("output")
    if arg is None:
        raise ValidationError(f"ONNX model is not a Mitra {what}: it has no output 'output' "
                              f"(outputs: {list(outputs)})")
    if arg.type != "tensor(float)" or arg.rank not in (None, rank):
        raise ValidationError(f"ONNX model is not a Mitra {what}: output 'output' is {arg}, "
                              f"expected tensor(float) of rank {rank}")


_STACKED = (
    "the query decoder takes all layers' keys/values as one stacked tensor (the converter's "
    "older layout, which needs twice their memory); write the pair again with "
    "`wlearn-mitra convert --split` (or split='derive' for a pair derived from the single graph)"
)


def _cache_names(encoder: "ort.InferenceSession", decoder: "ort.InferenceSession") -> tuple:
    """The tensors passed from encoder to decoder, named by the decoder's inputs."""
    inputs = list(_args(decoder.get_inputs(), "query decoder"))
    n_layers = cache_layers(inputs)
    if n_layers is None:
        if "keys" in inputs:
            raise ValidationError(_STACKED)
        raise ValidationError(f"ONNX model is not a Mitra query decoder: its inputs are {inputs}")
    names = cache_names(n_layers)
    outputs = set(_args(encoder.get_outputs(), "support encoder"))
    missing = [n for n in names if n not in outputs]
    if missing:
        raise ValidationError(f"the support encoder lacks the decoder's inputs {missing}")
    return names


def _stacked(decoder: Path) -> bool:
    """Whether a decoder file takes all layers' keys/values stacked (read, not loaded)."""
    try:
        with _buffer(decoder) as view:
            return "keys" in graph_input_names(view)
    except (ValueError, IndexError):
        return False  # not readable here: ONNX Runtime will say what is wrong with it


def _y_dtype(session: "ort.InferenceSession", required: tuple[str, ...], what: str) -> type:
    inputs = _check_inputs(session, required, what)
    return np.int64 if "int64" in inputs["y_support"] else np.float32


class MitraEngine:
    """One Mitra model and how to run it.

    Parameters
    ----------
    onnx:
        Path, model bytes or an ``onnxruntime.InferenceSession`` of the single graph.
    task:
        ``"classification"`` or ``"regression"``; checked against the graph's inputs.
    threads:
        ONNX Runtime intra-op threads (default: ONNX Runtime's choice, one per core).
    max_memory_mb:
        Working-memory budget of one predict, support side included, in MB on top of the
        weights (default 1024). The plan (:mod:`wlearn_mitra._planning`) uses the support
        cache only when its encoded keys/values fit, splits the query set into chunks that
        fit, and gives ensemble members feature subsets when all features do not fit (or
        exceed 500); a budget too small for one feature is refused before anything runs.
        ``predict`` can override it per call.
    split:
        The support-set cache graphs. ``"auto"`` (default) uses ``<stem>.encoder.onnx`` and
        ``<stem>.decoder.onnx`` when they sit next to an ``onnx`` path, or a pair derived
        earlier from this very graph (kept under its hash in ``optimized_dir`` or
        ``~/.cache/wlearn-mitra``), else the single graph; ``"derive"`` also derives that
        pair from the graph's weights when there is none yet (once; needs the ``convert``
        extra); a pair ``(encoder, decoder)`` of paths or bytes uses those; None always runs
        the single graph. A pair in the older stacked layout (all layers' keys/values in one
        tensor) is refused when given, passed over with a warning by ``"auto"`` and derived
        again by ``"derive"``. With the pair, a support set is encoded once and reused by later
        predicts and by every query chunk.
    cache_mb:
        Bound on the encoded support sets kept between predicts (default 2048 MB).
    optimized_dir:
        Folder for ONNX Runtime's optimised graphs, keyed by model hash (default: none).
    precision:
        ``"fp32"`` (default) or ``"int8"``: MatMul weights quantised to int8 with dynamic
        activation quantisation (needs the ``onnx`` package; the quantised graphs are kept
        in ``optimized_dir``, else in ``~/.cache/wlearn-mitra``). Faster on CPUs with
        AVX-512 VNNI, at a measured accuracy cost (bench/README.md). Activations are scaled by
        the whole batch's range, so int8 answers depend on which rows are predicted together.
    """

    def __init__(
        self,
        onnx: OnnxSource,
        *,
        task: str,
        threads: int | None = None,
        max_memory_mb: float | None = None,
        split: "str | tuple[OnnxSource, OnnxSource] | None" = "auto",
        cache_mb: float = DEFAULT_CACHE_MB,
        optimized_dir: str | os.PathLike | None = None,
        precision: str = "fp32",
    ) -> None:
        import onnxruntime as ort

        if precision not in PRECISIONS:
            raise ValidationError(f"precision must be one of {PRECISIONS}, not {precision!r}")
        self.precision = precision
        if task not in ("classification", "regression"):
            raise ValidationError(f"task must be 'classification' or 'regression', not {task!r}")
        self.task = task
        self.max_memory_mb = max_memory_mb
        self._threads = threads
        self._optimized_dir = optimized_dir
        self._session: ort.InferenceSession | None = None
        self._source: ModelSource | None = None
        if isinstance(onnx, ort.InferenceSession):
            if precision != "fp32":
                raise ValidationError("a ready InferenceSession cannot be run at another precision")
            self._session, self.onnx_sha256 = onnx, None
            self.shape = model_shape(None, task == "classification")
        else:
            self._source = _model_source(onnx)
            with _buffer(self._source) as view:
                self.onnx_sha256 = model_identity(self._source, view)
                self.shape = model_shape(view, task == "classification")

        self.encoder = self.decoder = None
        pair = self._find_split(onnx, split)
        if pair is not None:
            self.encoder, self.decoder = (self._open(source) for source in pair)
            self._y_dtype = _y_dtype(self.encoder, ENCODER_INPUTS, "support encoder")
            self.cache_names = _cache_names(self.encoder, self.decoder)
        else:
            self._y_dtype = _y_dtype(self.session, INPUT_NAMES, "graph")
        expected = np.int64 if task == "classification" else np.float32
        if self._y_dtype is not expected:
            kind = "classifier" if self._y_dtype is np.int64 else "regressor"
            raise ValidationError(f"ONNX model is a Mitra {kind}, which does not fit task {task!r}")
        # [batch, query, 10] logits or [batch, query] values
        rank = 3 if task == "classification" else 2
        if pair is not None:
            _check_output(self.decoder, rank, "query decoder")
        else:
            _check_output(self.session, rank, "graph")
        self.cache = SupportCache(cache_mb)

    def _open(self, source: OnnxSource) -> "ort.InferenceSession":
        import onnxruntime as ort

        if isinstance(source, ort.InferenceSession):
            return source
        return _new_session(
            self._precise(_model_source(source)), self._threads, optimized_dir=self._optimized_dir
        )

    def _precise(self, source: ModelSource, sha256: str | None = None) -> ModelSource:
        """``source`` at the engine's precision (``sha256``: its hash, if already known)."""
        if self.precision == "int8":
            return quantize_int8(source, sha256 or sha256_of(source), self._optimized_dir)
        return source

    def _find_split(self, onnx: OnnxSource, split) -> tuple | None:
        if split is None or split is False:
            return None
        if isinstance(split, (tuple, list)) and len(split) == 2:
            return tuple(split)
        if split not in ("auto", "derive"):
            raise ValidationError("split must be 'auto', 'derive', None or a pair (encoder, decoder)")
        if self._source is None:  # a ready session: no weights to look at
            return None
        candidates = []
        if isinstance(self._source, Path):
            candidates.append(split_paths(self._source))
        folder = Path(self._optimized_dir) if self._optimized_dir else default_cache_dir()
        candidates.append(derived_paths(folder, self.onnx_sha256))
        stale = None
        for encoder, decoder in candidates:
            if encoder.is_file() and decoder.is_file():
                if not _stacked(decoder):
                    return encoder, decoder
                stale = stale or decoder
        if split == "derive":  # replaces a stale pair in the cache folder
            return derive_split(self._source, folder, self.onnx_sha256)
        if stale is not None:
            warnings.warn(f"{stale} is not used: {_STACKED}", stacklevel=3)
        return None

    @property
    def session(self) -> "ort.InferenceSession":
        """The single graph's session, opened on first use."""
        if self._session is None:
            precise = self._precise(self._source, self.onnx_sha256)
            self._session = _new_session(
                precise,
                self._threads,
                sha256=self.onnx_sha256 if precise is self._source else None,
                optimized_dir=self._optimized_dir,
            )
        return self._session

    @property
    def classification(self) -> bool:
        return self.task == "classification"

    @property
    def uses_cache(self) -> bool:
        """True when predictions go through the support encoder and query decoder."""
        return self.encoder is not None

    def forward(
        self, x_support: np.ndarray, y_support: np.ndarray, x_query: np.ndarray
    ) -> np.ndarray:
        """One plain forward pass of the single graph: no preprocessing, no chunking, no cache.

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
        return self._checked(output, len(x_query))

    def encode(self, x_support: np.ndarray, y_support: np.ndarray) -> tuple[np.ndarray, ...]:
        """The support encoder's tensors for a model-ready support set, cached by content."""
        xs = np.ascontiguousarray(x_support, dtype=np.float32)
        ys = np.ascontiguousarray(y_support, dtype=self._y_dtype)
        key = support_key(xs, ys)
        entry = self.cache.get(key)
        if entry is None:
            feeds = {
                "x_support": xs[None],
                "y_support": ys[None],
                "padding_obs_support": np.zeros((1, len(xs)), dtype=bool),
            }
            entry = tuple(
                run_interruptible(self.encoder, list(self.cache_names), feeds, shrink_arena=True)
            )
            self.cache.put(key, entry)  # only a finished encoding is ever stored
        return entry

    def decode(self, encoded: tuple[np.ndarray, ...], x_query: np.ndarray) -> np.ndarray:
        """The query decoder's raw output [Q, 10] or [Q] for an encoded support set."""
        feeds = dict(zip(self.cache_names, encoded))
        feeds["x_query"] = np.ascontiguousarray(x_query, dtype=np.float32)[None]
        (output,) = run_interruptible(self.decoder, ["output"], feeds)
        return self._checked(output, len(x_query))

    def _checked(self, output: np.ndarray, n_query: int) -> np.ndarray:
        """The one batch of ``output``, once its shape is what the readout expects (a graph
        declares its output's rank, not its sizes)."""
        shape = (1, n_query, MAX_CLASSES) if self.classification else (1, n_query)
        if output.shape != shape:
            raise ValidationError(
                f"the ONNX model returned an output of shape {output.shape}, expected {shape}: "
                "it is not a Mitra graph"
            )
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

        Data wider than the plan allows (over 500 features, or more than fit the budget)
        is split: member k sees its own sorted subset of the features (a permutation drawn
        from ``seed`` dealt out cyclically), and there are at least enough members that
        every feature is seen (``feature_subsets``); with ``n_estimators=1`` the members
        differ only by their subsets. Raises ResourceLimitError when ``max_memory_mb`` cannot
        hold the support set even one feature at a time.

        Query rows are run in chunks that fit ``max_memory_mb`` (or of ``chunk_size`` rows);
        at fp32 a row's answer is bit-identical whichever rows share its chunk (a lone row is
        run beside a copy of itself: ONNX Runtime's one-row kernels round differently).
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
            raise ValidationError(
                f"unknown transforms {sorted(unknown)}; known: {sorted(TRANSFORMS)}"
            )

        stats = SupportStats.fit(x_support)
        xs = stats.apply(x_support)
        n_features = xs.shape[1]
        budget = self.max_memory_mb if max_memory_mb is None else max_memory_mb
        layers = len(self.cache_names) - len(STAT_NAMES) if self.uses_cache else 0
        plan = plan_predict(
            self.shape, len(xs), n_features, max_memory_mb=budget, chunk_size=chunk_size,
            n_estimators=int(n_estimators), cache_layers=layers // 2 or None,
        )
        members = self._members(plan, n_features, int(n_estimators), seed, transforms)
        rows = plan.rows

        n_query = len(x_query)
        total = np.zeros((n_query, n_classes) if self.classification else n_query)
        with Reporter(progress, n_query * len(members), "mitra predict") as report:
            for member in members:
                xs_m, ys_m = member.x(xs), member.y(y_support, self.classification)
                if plan.cached and n_query:
                    run = partial(self.decode, self.encode(xs_m, ys_m))
                else:
                    run = partial(self.forward, xs_m, ys_m)
                for part in chunks(n_query, rows):
                    xq = member.x(stats.apply(x_query[part]))
                    output = run(padded(xq))[: len(xq)].astype(np.float64)
                    if self.classification:
                        total[part] += softmax(member.logits(output, n_classes))
                    else:
                        total[part] += member.value(output)
                    report.advance(part.stop - part.start)
        total /= len(members)
        return total

    def _members(
        self, plan: Plan, n_features: int, n_estimators: int, seed: int, transforms
    ) -> list[MemberTransform]:
        """The ensemble's members: random transforms drawn from ``seed`` when
        ``n_estimators > 1``, and each its own feature subset when ``plan`` is narrower than
        the data."""
        subsets = [None] * plan.members
        if plan.width < n_features:
            subsets = feature_subsets(n_features, plan.width, plan.members, seed)
        if n_estimators == 1 and plan.members == 1:
            return [MemberTransform()]
        if n_estimators == 1:  # only the subsets differ
            return [MemberTransform(features=subset) for subset in subsets]
        rng = np.random.default_rng(seed)
        return [
            MemberTransform.draw(
                rng,
                # the width a member sees; none when every support column was constant
                n_features=min(plan.width, n_features),
                n_slots=self.shape.n_slots,
                classification=self.classification,
                transforms=frozenset(transforms),
                features=subset,
            )
            for subset in subsets
        ]

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
            valid = n_classes is not None and int(n_classes) == n_classes
            if not valid or not 1 <= n_classes <= MAX_CLASSES:
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
