"""Running Mitra ONNX graphs: sessions, preprocessing, ensembles, chunking and the readout.

The engine knows nothing of labels, bundles or estimators. It takes a support set already
encoded for the model (class indices 0..K-1, or targets in the model's scale) and returns
what the model says about the query rows.
"""

from __future__ import annotations

import dataclasses
import os
import re
import warnings
from functools import partial, wraps
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Collection, Union

import numpy as np

from wlearn.errors import ValidationError

from ..runtimes import _choice
from ._encoded import DEFAULT_CACHE_MB, SupportCache, support_key
from ..graphs._cachedir import CACHE_NOTE, cache_warning, default_cache_dir, discard
from ._chunks import Reporter, chunks, padded
from ..exceptions import ModelOutputError, user_stacklevel
from ..graphs._layout import ENCODER_INPUTS, INPUT_NAMES, cache_layers, split_paths
from ..graphs._identity import model_identity
from ..inputs._checks import MAX_N_ESTIMATORS
from ..graphs._modelfile import ModelSource, buffer, model_source, sha256_of
from ..graphs._onnxinfo import graph_input_names, model_shape
from ..inputs import _bins
from ._planning import Plan
from ._planning import MAX_FEATURES, available_memory_mb, full_width_mb
from ._planning import plan as plan_predict
from ..graphs._int8 import quantize_int8
from ._preprocess import TRANSFORMS, MemberTransform, SupportStats, feature_subsets
from ..graphs._surgery import derive_pair, derived_paths

if TYPE_CHECKING:
    import onnxruntime as ort

OnnxSource = Union[str, os.PathLike, bytes, bytearray, memoryview, "ort.InferenceSession"]

#: The classifier graph always emits this many logits per query row.
MAX_CLASSES = 10


def open_session(onnx: OnnxSource) -> tuple["ort.InferenceSession", str | None]:
    """Return an InferenceSession and the SHA-256 hex of its model bytes (None if unknown)."""
    import onnxruntime as ort

    from ..runtimes._ort import new_session

    if isinstance(onnx, ort.InferenceSession):
        return onnx, None
    source = model_source(onnx)
    return new_session(source), sha256_of(source)


#: Element types and rank of the inputs a Mitra graph takes (y_support: int64 class indices
#: for a classifier, float targets for a regressor).
_INPUT_KINDS = {
    "x_support": (("float32",), 3),
    "y_support": (("int64", "float32"), 2),
    "x_query": (("float32",), 3),
    "padding_obs_support": (("bool",), 2),
}


def _onnx_type(dtype: str) -> str:
    """``float32`` -> ``tensor(float)``: types named as in the ONNX file."""
    return f"tensor({ {'float32': 'float', 'float64': 'double'}.get(dtype, dtype)})"


def _describe(arg: _choice.Arg) -> str:
    kind = _onnx_type(arg.dtype)
    return kind if arg.shape is None else f"{kind} of rank {len(arg.shape)}"


def _fixed(arg: _choice.Arg) -> list[tuple[int, int]]:
    """Sizes fixed in the graph, other than a batch of 1: Mitra's axes are all dynamic."""
    return [] if arg.shape is None else [
        (axis, size) for axis, size in enumerate(arg.shape)
        if size is not None and not (axis == 0 and size == 1)
    ]


def _check_inputs(graph: _choice.Graph, required: tuple[str, ...], what: str) -> dict:
    """The graph's input types by name, once they are exactly what the engine feeds; a
    graph that takes other inputs or other types would fail only later, inside a run."""
    args = graph.inputs
    missing = [n for n in required if n not in args]
    if missing:
        raise ValidationError(f"ONNX model is not a Mitra {what}: inputs {missing} are missing")
    extra = [n for n in args if n not in required]
    if extra:
        raise ValidationError(f"ONNX model is not a Mitra {what}: it also takes inputs {extra}")
    for name in required:
        types, rank = _INPUT_KINDS[name]
        arg = args[name]
        if arg.dtype not in types or (arg.shape is not None and len(arg.shape) != rank):
            raise ValidationError(
                f"ONNX model is not a Mitra {what}: input {name!r} is {_describe(arg)}, "
                f"expected {' or '.join(map(_onnx_type, types))} of rank {rank}"
            )
        fixed = _fixed(arg)
        if fixed:
            axis, size = fixed[0]
            raise ValidationError(
                f"ONNX model is not a Mitra {what}: input {name!r} has axis {axis} fixed to "
                f"{size}, where Mitra graphs take any size"
            )
    return {name: arg.dtype for name, arg in args.items()}


def _check_output(graph: _choice.Graph, rank: int, what: str) -> None:
    arg = graph.outputs.get("output")
    if arg is None:
        raise ValidationError(f"ONNX model is not a Mitra {what}: it has no output 'output' "
                              f"(outputs: {list(graph.outputs)})")
    if arg.dtype != "float32" or (arg.shape is not None and len(arg.shape) != rank):
        raise ValidationError(f"ONNX model is not a Mitra {what}: output 'output' is "
                              f"{_describe(arg)}, expected tensor(float) of rank {rank}")


_STACKED = (
    "the query decoder takes all layers' keys/values as one stacked tensor (the converter's "
    "older layout, which needs twice their memory); write the pair again with "
    "`wlearn-mitra convert --split`, or remove it to let the engine cut the pair out of the "
    "single graph"
)


def _cache_names(encoder: _choice.Graph, decoder: _choice.Graph) -> tuple:
    """The tensors passed from encoder to decoder: the decoder's inputs after ``x_query``."""
    inputs = list(decoder.inputs)
    if "x_query" not in inputs:
        raise ValidationError(f"ONNX model is not a Mitra query decoder: its inputs are {inputs}")
    if cache_layers(inputs) is None and {"keys", "values"} <= set(inputs):
        raise ValidationError(_STACKED)
    names = tuple(name for name in inputs if name != "x_query")
    missing = [n for n in names if n not in encoder.outputs]
    if missing:
        raise ValidationError(f"the support encoder lacks the decoder's inputs {missing}")
    return names


def _stacked(decoder: Path) -> bool:
    """Whether a decoder file takes all layers' keys/values stacked (read, not loaded)."""
    try:
        with buffer(decoder) as view:
            inputs = graph_input_names(view)
    except (ValueError, IndexError):
        return False  # not readable here: the runtime will say what is wrong with it
    return cache_layers(inputs) is None and {"keys", "values"} <= set(inputs)


def _y_dtype(graph: _choice.Graph, required: tuple[str, ...], what: str) -> type:
    inputs = _check_inputs(graph, required, what)
    return np.int64 if inputs["y_support"] == "int64" else np.float32


_warned_no_onnx = False
_LAYER = re.compile(r"layers\.(\d+)[/.]")


class _Cut:
    """A derived graph's path: cut from the single graph at the engine's precision. Its file
    name (the single graph's identity, the cut's version and role) identifies it, so the
    runtimes key their caches by that instead of hashing the file again."""

    __slots__ = ("path", "key")

    def __init__(self, path: Path) -> None:
        self.path = path
        self.key = path.name[: -len(".onnx")]


def _retried(method: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    """``method``, run once more when the model answered NaN or infinity through files of the
    disk cache: those files are removed and made again first (a damaged cache file is rebuilt,
    not trusted); a second such answer is the model's."""

    @wraps(method)
    def run(self: "MitraEngine", *args, **kwargs) -> np.ndarray:
        try:
            return method(self, *args, **kwargs)
        except ModelOutputError as exc:
            if not getattr(exc, "cache_files", None):
                raise
            cache_warning(f"{exc}. Removed those files and made them again from the model.")
            self._rebuild()
            try:
                return method(self, *args, **kwargs)
            except ModelOutputError as again:
                raise ModelOutputError(
                    f"{again} (made again from the model just now: the model itself answers "
                    "NaN or infinity)") from exc

    return run


class MitraEngine:
    """One Mitra model and how to run it.

    Parameters
    ----------
    onnx:
        Path, model bytes or an ``onnxruntime.InferenceSession`` of the single graph.
    task:
        ``"classification"`` or ``"regression"``; checked against the graph's inputs.
    threads:
        Intra-op threads of the runtime (default: the runtime's choice, one per core). The
        estimators pass ``WLEARN_MITRA_THREADS``, else ``OMP_NUM_THREADS`` (joblib's and
        Dask's workers set it to their share of the cores; see :mod:`wlearn_mitra.engine._shared`).
    max_memory_mb:
        Working-memory budget of one predict, support side included, in MB on top of the
        weights; None (default) runs the model's plain answer (query chunks of 1024 MB,
        refused before running when the support set needs more than the machine has
        available). The plan (:mod:`wlearn_mitra.engine._planning`) uses the support cache only
        when its encoded keys/values fit, splits the query set into chunks that fit, and
        gives ensemble members feature subsets when all features do not fit the budget (or
        exceed 500); a budget too small for one feature is refused before anything runs.
        ``predict`` can override it per call.
    split:
        The support-set cache graphs. ``"auto"`` (default) uses ``<stem>.encoder.onnx`` and
        ``<stem>.decoder.onnx`` when they sit next to an ``onnx`` path (the converter's
        ``--split``), else the pair cut out of this very graph by :mod:`wlearn_mitra.graphs._surgery`, kept under
        the graph's hash in ``optimized_dir`` or ``~/.cache/wlearn-mitra`` and made on first
        use (needs the ``onnx`` package, the ``cache`` extra; without it the single graph runs,
        with a warning). ``"derive"`` is ``"auto"`` that raises instead of falling back. A pair
        ``(encoder, decoder)`` of paths or bytes uses those; None always runs the single graph.
        A converter's pair in the older stacked layout (all layers' keys/values in one tensor)
        is refused when given and passed over with a warning by ``"auto"``. With the pair, a
        support set is encoded once and reused by later predicts and by every query chunk.
    cache_mb:
        Bound on the encoded support sets kept between predicts (default 2048 MB).
    optimized_dir:
        Folder for derived graphs and the runtimes' optimised graphs, keyed by model hash
        (default: derived graphs in ``~/.cache/wlearn-mitra``, no optimised graphs).
    precision:
        ``"fp32"`` (default, exact). With ONNX Runtime, ``"int8"``: MatMul weights quantised
        to int8 with dynamic activation quantisation (needs the ``onnx`` package). With
        OpenVINO, ``"bf16"``: bfloat16 arithmetic (needs a CPU with AMX or AVX512-BF16).
        Both trade accuracy for speed; bench/README.md measures how much. int8 scales
        activations by the whole batch's range, so its answers depend on which rows are
        predicted together.
    runtime:
        ``"onnxruntime"`` (default) or ``"openvino"`` (the ``openvino`` extra). Same graphs,
        chunking, cache and outputs; never written to bundles.
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
        runtime: str = _choice.DEFAULT_RUNTIME,
    ) -> None:
        _choice.check(runtime, precision)
        self.runtime, self.precision = runtime, precision
        if task not in ("classification", "regression"):
            raise ValidationError(f"task must be 'classification' or 'regression', not {task!r}")
        self.task = task
        self.max_memory_mb = max_memory_mb
        self._threads = threads
        self._optimized_dir = optimized_dir
        self._single: _choice.Graph | None = None
        self._source: ModelSource | None = None
        if _is_session(onnx):
            if runtime != "onnxruntime" or precision != "fp32":
                raise ValidationError(
                    "a ready InferenceSession runs only on ONNX Runtime at precision 'fp32'"
                )
            from ..runtimes._ort import OrtGraph

            self._single, self.onnx_sha256 = OrtGraph(onnx), None
            self.shape = model_shape(None, task == "classification")
            declared_bins = None  # a session's metadata is not read: no bin head
        else:
            self._source = model_source(onnx)
            with buffer(self._source) as view:
                self.onnx_sha256 = model_identity(self._source, view)
                self.shape = model_shape(view, task == "classification")
                declared_bins = _bins.declared_bins(view)

        self._split = split
        self.encoder = self.decoder = None
        pair = self._open_pair(split)
        if pair is not None:
            self.encoder, self.decoder = pair
            self._y_dtype = _y_dtype(self.encoder, ENCODER_INPUTS, "support encoder")
            self.cache_names = _cache_names(self.encoder, self.decoder)
        else:
            self._y_dtype = _y_dtype(self.single, INPUT_NAMES, "graph")
        expected = np.int64 if task == "classification" else np.float32
        # -- bin-head regressors (Mitra-v2; _bins, spec/mitra-onnx.md "Bin-head regressors") --
        #: Value bins of a bin-head regressor's output, None for any other graph.
        self.n_bins = declared_bins if self._y_dtype is np.int64 else None
        if self.n_bins is not None:
            if task != "regression":
                raise ValidationError(
                    f"ONNX model is a Mitra regressor with a {self.n_bins}-bin head, which does "
                    f"not fit task {task!r}")
            expected = np.int64
            self.shape = dataclasses.replace(self.shape, n_slots=self.n_bins)
        # -- end bin-head regressors --
        if self._y_dtype is not expected:
            kind = "classifier" if self._y_dtype is np.int64 else "regressor"
            raise ValidationError(f"ONNX model is a Mitra {kind}, which does not fit task {task!r}")
        # [batch, query, 10] logits, [batch, query, n_bins] bin logits or [batch, query] values
        rank = 3 if task == "classification" or self.n_bins else 2
        if pair is not None:
            _check_output(self.decoder, rank, "query decoder")
        else:
            _check_output(self.single, rank, "graph")
        self.cache = SupportCache(cache_mb)

    def _open_pair(self, split) -> tuple | None:
        """The split pair opened, or None for the single graph. A cut pair of the disk cache
        that does not load is removed and cut again (with a CacheWarning naming it)."""
        pair = self._find_split(split)
        if pair is None:
            return None
        try:
            return tuple(self._open(source) for source in pair)
        except ValidationError as exc:
            if not all(isinstance(part, _Cut) for part in pair):
                raise
            discard(*(part.path for part in pair))
            cache_warning(f"the support cache's graphs {pair[0].path} and {pair[1].path} could "
                          f"not be loaded and were removed ({CACHE_NOTE}); cutting them again: "
                          f"{exc}")
            pair = self._find_split(split)
            return None if pair is None else tuple(self._open(source) for source in pair)

    @property
    def model_name(self) -> str:
        """How messages name this engine's model: its path, else its hash."""
        if isinstance(self._source, Path):
            return str(self._source)
        if self._source is not None:
            return f"given as bytes, sha256 {self.onnx_sha256}"
        return "of the InferenceSession given"

    def _rebuild(self) -> None:
        """Drop every opened graph and the support cache, removing the disk cache files they
        were read from, and open them again (cut, quantised, optimised anew)."""
        files = self._cache_files()
        for graph in (self._single, self.encoder, self.decoder):
            if graph is not None and graph.runtime == "openvino":
                from ..runtimes._openvino import forget

                forget(graph)
        discard(*files)
        self.cache.clear()
        if self._source is not None:
            self._single = None
        self.encoder = self.decoder = None
        pair = self._open_pair(self._split)
        if pair is not None:
            self.encoder, self.decoder = pair

    def _cache_files(self) -> list[Path]:
        files: list[Path] = []
        for graph in (self._single, self.encoder, self.decoder):
            for path in getattr(graph, "cache_files", ()) if graph is not None else ():
                if path not in files:
                    files.append(path)
        return files

    @property
    def _folder(self) -> Path:
        return Path(self._optimized_dir) if self._optimized_dir else default_cache_dir()

    def _open(self, source, sha256: str | None = None) -> _choice.Graph:
        if _is_session(source):
            from ..runtimes._ort import OrtGraph

            if self.runtime != "onnxruntime":
                raise ValidationError("a ready InferenceSession runs only on ONNX Runtime")
            return OrtGraph(source)
        if isinstance(source, _Cut):  # cut from the graph at this precision already
            graph = _choice.open_graph(self.runtime, source.path, precision=self.precision,
                                        threads=self._threads, sha256=source.key,
                                        optimized_dir=self._optimized_dir)
            return _with_cache_file(graph, source.path)
        source = model_source(source)
        precise = self._precise(source, sha256)

        def open_it():
            return _choice.open_graph(
                self.runtime,
                precise,
                precision=self.precision,
                threads=self._threads,
                sha256=sha256 if precise is source else None,
                optimized_dir=self._optimized_dir,
            )

        if precise is source:
            return open_it()
        try:
            return _with_cache_file(open_it(), precise)
        except ValidationError as exc:  # a damaged int8 file of the disk cache: made again
            discard(precise)
            cache_warning(f"the int8 graph {precise} could not be loaded and was removed "
                          f"({CACHE_NOTE}); quantising the model again: {exc}")
            precise = self._precise(source, sha256)
            return _with_cache_file(open_it(), precise)

    def _precise(self, source: ModelSource, sha256: str | None = None) -> ModelSource:
        """``source`` at the engine's precision, where that is a graph transform (int8)."""
        if self.precision == "int8":
            return quantize_int8(source, sha256 or sha256_of(source), self._optimized_dir)
        return source

    def _find_split(self, split) -> tuple | None:
        global _warned_no_onnx
        if split is None or split is False:
            return None
        if isinstance(split, (tuple, list)) and len(split) == 2:
            for part in split:
                if isinstance(part, (str, os.PathLike)) and _stacked(Path(part)):
                    raise ValidationError(_STACKED)
            return tuple(split)
        if split not in ("auto", "derive"):
            raise ValidationError("split must be 'auto', 'derive', None or a pair (encoder, decoder)")
        if self._source is None:  # a ready session: no graph to look at
            return None
        if isinstance(self._source, Path):
            encoder, decoder = split_paths(self._source)
            if encoder.is_file() and decoder.is_file():
                if not _stacked(decoder):
                    return encoder, decoder
                warnings.warn(f"{decoder} is not used: {_STACKED}", stacklevel=user_stacklevel())
        # int8 is cut after quantising, so the pair runs exactly the int8 single graph
        identity = self.onnx_sha256 + (".int8" if self.precision == "int8" else "")
        encoder, decoder = derived_paths(self._folder, identity)
        if encoder.is_file() and decoder.is_file():
            return _Cut(encoder), _Cut(decoder)
        try:
            made = derive_pair(self._precise(self._source, self.onnx_sha256), self._folder,
                               identity)
        except OSError as exc:  # the cache folder: not a folder, read-only, full
            message = (f"cannot keep the support cache's graphs in {self._folder} ({exc}); "
                       "pass optimized_dir=<a writable folder> to use the support cache")
            if split == "derive":
                raise ValidationError(message) from exc
            cache_warning(f"the single graph runs, without the support cache: {message}")
            return None
        except ValidationError as exc:
            if split == "derive":
                raise
            # A model ONNX Runtime cannot load either: its own error, and no warning first.
            self.single  # noqa: B018
            if not _warned_no_onnx:
                _warned_no_onnx = True
                warnings.warn(f"the single graph runs, without the support cache: {exc}",
                              stacklevel=user_stacklevel())
            return None
        return tuple(_Cut(path) for path in made)

    @property
    def single(self) -> _choice.Graph:
        """The single graph, opened on first use."""
        if self._single is None:
            self._single = self._open(self._source, self.onnx_sha256)
        return self._single

    def _unopened_bytes(self) -> int:
        """The single graph's weights (its file's size) while it is not open: a plan that
        needs it adds them."""
        if self._single is not None or self._source is None:
            return 0
        if isinstance(self._source, Path):
            return self._source.stat().st_size
        return len(self._source)

    @property
    def session(self) -> "ort.InferenceSession":
        """The single graph's ONNX Runtime session (ONNX Runtime engines only)."""
        if self.runtime != "onnxruntime":
            raise ValidationError(f"this engine runs on {self.runtime}, not ONNX Runtime")
        return self.single.session

    @property
    def cache_layer_count(self) -> int:
        """L, the layers whose keys and values the support cache holds (for its memory): from
        the converter's decoder inputs, else the layer indices in a cut pair's tensor names
        (both exporters name them ``/layers.<i>/...``), else the model's width says nothing
        and every released Mitra model's 12 is assumed."""
        named = cache_layers(["x_query", *self.cache_names])
        if named is not None:
            return named
        indices = {match for name in self.cache_names for match in _LAYER.findall(name)}
        return len(indices) or 12

    @property
    def classification(self) -> bool:
        return self.task == "classification"

    @property
    def uses_cache(self) -> bool:
        """True when predictions go through the support encoder and query decoder."""
        return self.encoder is not None

    @_retried
    def forward(
        self, x_support: np.ndarray, y_support: np.ndarray, x_query: np.ndarray
    ) -> np.ndarray:
        """One plain forward pass of the single graph: no preprocessing, no chunking, no cache.

        ``x_support`` [S, F], ``y_support`` [S] (class indices or model-scale targets),
        ``x_query`` [Q, F]. Returns the raw float32 output: [Q, 10] logits or [Q] values.
        Raises ModelOutputError (naming the model and any cache file it was read from) when
        the model answers NaN or infinity, after making damaged cache files again once.
        """
        return self._forward(x_support, y_support, x_query)

    def _forward(
        self, x_support: np.ndarray, y_support: np.ndarray, x_query: np.ndarray
    ) -> np.ndarray:
        if np.shape(x_support)[-1] == 0:
            # A Mitra graph reads features; with none, some graphs divide by zero (SIGFPE).
            raise ValidationError(
                "the support set has no features: a Mitra graph needs at least one column "
                "(predict() answers such a table with the class shares or the mean target)")
        feeds = {
            "x_support": np.ascontiguousarray(x_support, dtype=np.float32)[None],
            "y_support": np.ascontiguousarray(y_support, dtype=self._y_dtype)[None],
            "x_query": np.ascontiguousarray(x_query, dtype=np.float32)[None],
            "padding_obs_support": np.zeros((1, len(x_support)), dtype=bool),
        }
        (output,) = self.single.run(["output"], feeds)
        # a raw pass on non-finite support targets (target_scaling="js", as @wlearn/mitra)
        # answers what the graph answers: NaN in, NaN out
        return self._checked(output, len(x_query),
                             finite_inputs=bool(np.isfinite(feeds["y_support"]).all()))

    def encode(
        self, x_support: np.ndarray, y_support: np.ndarray, owner: object = None
    ) -> tuple[np.ndarray, ...]:
        """The support encoder's tensors for a model-ready support set, cached by content
        (while ``owner`` lives, when one is given: see :class:`~wlearn_mitra.engine._encoded.SupportCache`)."""
        xs = np.ascontiguousarray(x_support, dtype=np.float32)
        ys = np.ascontiguousarray(y_support, dtype=self._y_dtype)
        key = support_key(xs, ys)
        entry = self.cache.get(key, owner)
        if entry is None:
            feeds = {
                "x_support": xs[None],
                "y_support": ys[None],
                "padding_obs_support": np.zeros((1, len(xs)), dtype=bool),
            }
            entry = tuple(self.encoder.run(self.cache_names, feeds, one_off=True))
            self.cache.put(key, entry)  # only a finished encoding is ever stored
            self.cache.own(key, owner)
        return entry

    def decode(self, encoded: tuple[np.ndarray, ...], x_query: np.ndarray) -> np.ndarray:
        """The query decoder's raw output [Q, 10] or [Q] for an encoded support set."""
        feeds = dict(zip(self.cache_names, encoded))
        feeds["x_query"] = np.ascontiguousarray(x_query, dtype=np.float32)[None]
        (output,) = self.decoder.run(["output"], feeds)
        return self._checked(output, len(x_query))

    def _checked(self, output: np.ndarray, n_query: int, finite_inputs: bool = True
                 ) -> np.ndarray:
        """The one batch of ``output``, once its shape is what the readout expects (a graph
        declares its output's rank, not its sizes) and, for finite inputs, every value is
        finite (ModelOutputError otherwise)."""
        shape = (1, n_query, MAX_CLASSES) if self.classification else (1, n_query)
        if self.n_bins:
            shape = (1, n_query, self.n_bins)
        if output.shape != shape:
            raise ValidationError(
                f"the ONNX model returned an output of shape {output.shape}, expected {shape}: "
                "it is not a Mitra graph"
            )
        finite = np.isfinite(output)
        if finite_inputs and not finite.all():
            bad = int(n_query - finite.reshape(1, n_query, -1).all(axis=2).sum())
            files = self._cache_files()
            where = (f"; it was read through the disk cache files {', '.join(map(str, files))} "
                     f"({CACHE_NOTE})" if files else "")
            error = ModelOutputError(
                f"the ONNX model {self.model_name} answered NaN or infinity for {bad} of "
                f"{n_query} query rows: its weights hold non-finite values or a file it was "
                f"read from is damaged{where}"
            )
            error.cache_files = files
            raise error
        return output[0]

    @_retried
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
        owner: object = None,
    ) -> np.ndarray:
        """What the model predicts for the query rows, preprocessed as upstream Mitra does.

        NaN in X becomes the support column's mean, constant support columns are dropped
        (when none is left, every row gets the support set's class shares or mean target,
        without running the model),
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
        ``progress`` is a callable ``(rows_done, rows_total)`` counting each row once per
        member (``rows_total`` = query rows x members), or True for a tqdm bar of query rows.
        ``owner``: an object (weakly referenced; the estimators pass their support array)
        whose death takes this support set's encodings out of the in-memory support cache;
        None keeps them until ``cache_mb`` drops them.
        Ctrl-C stops the current run promptly and leaves the engine as it was.

        Classifier: float64 probabilities [Q, n_classes], a softmax of the logits of the
        classes 0..n_classes-1. Regressor: float64 [Q] in the model's target scale. Raises
        ModelOutputError (naming the model and any disk cache file it was read from) when
        the model answers NaN or infinity; damaged cache files are first made again once.
        Bin-head regressor (``n_bins`` set): ``y_support`` in the model's [0, 1] scale, each
        member's targets binned as AutoGluon does (:func:`wlearn_mitra.inputs._bins.bin_ids`); float64
        probabilities [Q, n_bins] of the bins, a member fed mirrored targets read back in
        reverse bin order.
        """
        x_support, y_support, x_query = self._check(x_support, y_support, x_query, n_classes)
        if int(n_estimators) != n_estimators or not 1 <= n_estimators <= MAX_N_ESTIMATORS:
            raise ValidationError(
                f"n_estimators must be an integer in 1..{MAX_N_ESTIMATORS}, got {n_estimators!r}")
        unknown = set(transforms) - TRANSFORMS
        if unknown:
            raise ValidationError(
                f"unknown transforms {sorted(unknown)}; known: {sorted(TRANSFORMS)}"
            )

        stats = SupportStats.fit(x_support)
        xs = stats.apply(x_support)
        n_features = xs.shape[1]
        if n_features == 0:
            return self._no_features(y_support, len(x_query), n_classes, progress)
        budget = self.max_memory_mb if max_memory_mb is None else max_memory_mb
        plan = self.plan(len(xs), n_features, n_estimators=int(n_estimators),
                         max_memory_mb=budget, chunk_size=chunk_size)
        if plan.width < n_features <= MAX_FEATURES:
            # Not the model's plain answer: say so rather than change predictions silently.
            need = full_width_mb(self.shape, len(xs), n_features)
            warnings.warn(
                f"max_memory_mb={budget:g} is too "
                f"small to run all {n_features} features of this {len(xs)}-row support set "
                f"together: predicting with {plan.members} ensemble members on feature subsets "
                f"of {plan.width}. For the model's plain answer raise max_memory_mb to about "
                f"{need:g} (or fit with a smaller max_support).",
                UserWarning, stacklevel=user_stacklevel(),
            )
        members = self._members(plan, n_features, int(n_estimators), seed, transforms)
        rows = plan.rows

        n_query = len(x_query)
        total = np.zeros((n_query, n_classes) if self.classification else n_query)
        if self.n_bins:
            total = np.zeros((n_query, self.n_bins))
        with Reporter(progress, n_query * len(members), "mitra predict",
                      members=len(members)) as report:
            for member in members:
                xs_m, ys_m = member.x(xs), member.y(y_support, self.classification)
                if self.n_bins:
                    ys_m = _bins.bin_ids(ys_m, self.n_bins)
                # Without a single feature left, ONNX Runtime mis-shapes an empty reduction
                # of the JS package's graph when it is cut in two; the single graph is right.
                if plan.cached and n_query and n_features:
                    run = partial(self.decode, self.encode(xs_m, ys_m, owner))
                else:
                    run = partial(self._forward, xs_m, ys_m)
                for part in chunks(n_query, rows):
                    xq = member.x(stats.apply(x_query[part]))
                    output = run(padded(xq))[: len(xq)].astype(np.float64)
                    if self.classification:
                        total[part] += softmax(member.logits(output, n_classes))
                    elif self.n_bins:
                        probabilities = softmax(output)
                        total[part] += (_bins.unmirror(probabilities) if member.mirror_y
                                        else probabilities)
                    else:
                        total[part] += member.value(output)
                    report.advance(part.stop - part.start)
        total /= len(members)
        return total

    def _no_features(self, y_support: np.ndarray, n_query: int, n_classes: int | None,
                     progress) -> np.ndarray:
        """The answer when no support column varies (one row, identical rows, every column
        constant or missing): nothing tells one query row from another, so every row gets
        the support set's class shares (a classifier) or the mean target (a regressor), what
        scikit-learn's ``DummyClassifier(strategy="prior")`` / ``DummyRegressor()`` answer.
        The graph is not run: with no feature left a Mitra graph has nothing to read, and
        the built-in models' Reshape divides by that zero (SIGFPE in ONNX Runtime 1.23-1.24).
        Upstream Mitra has no answer of its own here (AutoGluon drops a model whose
        features were all removed, ``NoValidFeatures``)."""
        with Reporter(progress, n_query, "mitra predict") as report:
            if self.classification:
                prior = np.bincount(np.asarray(y_support, dtype=np.int64),
                                    minlength=n_classes)[:n_classes] / len(y_support)
                out = np.tile(prior.astype(np.float64), (n_query, 1))
            else:
                out = np.full(n_query, float(np.mean(y_support)), dtype=np.float64)
            report.advance(n_query)
        return out

    def plan(
        self,
        n_support: int,
        n_features: int,
        *,
        n_estimators: int = 1,
        max_memory_mb: float | None = None,
        chunk_size: int | None = None,
    ) -> Plan:
        """How a predict with this support size and these (preprocessed, non-constant)
        features runs: graphs, features per member, members, query rows per chunk
        (:func:`wlearn_mitra.engine._planning.plan`, spec/mitra.md "Wide data"). ``max_memory_mb``
        None is the engine's own budget. Raises ResourceLimitError as ``predict`` would,
        before anything is allocated."""
        budget = self.max_memory_mb if max_memory_mb is None else max_memory_mb
        return plan_predict(
            self.shape, n_support, n_features, max_memory_mb=budget, chunk_size=chunk_size,
            n_estimators=n_estimators,
            cache_layers=self.cache_layer_count if self.uses_cache else None,
            cache_mb=self.cache.max_bytes / 2**20, open_bytes=self._unopened_bytes(),
            available_mb=available_memory_mb() if budget is None else None,
        )

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


def _with_cache_file(graph: _choice.Graph, path: Path) -> _choice.Graph:
    """``graph``, noting that it was read from the disk cache file ``path``."""
    files = list(getattr(graph, "cache_files", []))
    if path not in files:
        files.insert(0, path)
    try:
        graph.cache_files = files
    except AttributeError:  # a graph type without the attribute: nothing to name
        pass
    return graph


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


def _is_session(onnx: object) -> bool:
    """An ``onnxruntime.InferenceSession`` (told without importing onnxruntime for others)."""
    return type(onnx).__name__ == "InferenceSession" and "onnxruntime" in type(onnx).__module__


