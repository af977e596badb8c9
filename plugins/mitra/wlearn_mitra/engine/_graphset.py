"""Private: which graphs run a Mitra model, and whether each keeps Mitra's contract.

A graph set opens the single graph, or the split pair (the converter's files beside the model,
or the pair cut out of the single graph and kept in the cache folder), at the engine's runtime
and precision; checks each against :mod:`._contract` once, when opened; and opens them again
from the model when a file of the disk cache proves damaged (:meth:`GraphSet.rebuild`).
"""

from __future__ import annotations

import dataclasses
import os
import re
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Union

import numpy as np

from wlearn.errors import ValidationError

from ..exceptions import MissingDependencyError, user_stacklevel
from ..graphs._cachedir import CACHE_NOTE, cache_warning, default_cache_dir, discard
from ..graphs._identity import model_identity, weight_bytes
from ..graphs._int8 import quantize_int8
from ..graphs._layout import ENCODER_INPUTS, INPUT_NAMES, cache_layers, split_paths
from ..graphs._modelfile import ModelSource, buffer, model_source, sha256_of
from ..graphs._onnxinfo import (SINGLE_SHA256_METADATA_KEY, bins_in_metadata,
                                node_classes_in_metadata, readable_metadata,
                                target_encoding_in_metadata)
from ..graphs._onnxinfo import graph_input_names, model_shape, session_shape
from ..graphs._cachedir import WRITABLE_HINT, derived_paths
from ..graphs._surgery import derive_pair
from ..runtimes import _choice
from ._contract import STACKED, cache_names_between, check_output, stacked, y_dtype

if TYPE_CHECKING:
    import onnxruntime as ort

OnnxSource = Union[str, os.PathLike, bytes, bytearray, memoryview, "ort.InferenceSession"]


def open_session(onnx: OnnxSource) -> tuple["ort.InferenceSession", str | None]:
    """Return an InferenceSession and the SHA-256 hex of its model bytes (None if unknown)."""
    import onnxruntime as ort

    from ..runtimes._ort import new_session

    if isinstance(onnx, ort.InferenceSession):
        return onnx, None
    source = model_source(onnx)
    return new_session(source), sha256_of(source)


#: Models of at least this many bytes of weights (a full-size Mitra: 290 MB) open their
#: encoder/decoder pair only when a support set comes back; a support set's first predict runs
#: the single graph, holding the weights once and keeping nothing. Smaller models (the built-in
#: ones: 3 MB) open the pair at once: its second copy of the weights, its sessions and the
#: encoded set cost little, and a second predict of the same support set then decodes only.
LAZY_PAIR_MIN_BYTES = 64 * 2**20

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


def _foreign_pair(encoder: Path, decoder: Path, sha256: str) -> str | None:
    """Why the converter's split pair beside a model may not serve it, or None when both
    graphs record that model's SHA-256 (``wlearn-mitra convert --split`` writes it): a pair
    left from another model (a later convert without ``--split``, or one stopped part way)
    would answer for that model, silently."""
    remedy = ("the engine cuts its own pair from the model instead; convert again with "
              "--split, or delete the pair")
    for path in (encoder, decoder):
        with buffer(path) as view:
            recorded = readable_metadata(view).get(SINGLE_SHA256_METADATA_KEY)
        if recorded is None:
            return (f"{path.name} does not record which model it was cut from (a pair written "
                    f"by an earlier wlearn-mitra convert); {remedy}")
        if recorded != sha256:
            return (f"{path.name} was cut from another model (sha256 {recorded[:12]}...), not "
                    f"this one ({sha256[:12]}...), a pair left by an earlier convert; {remedy}")
    return None


class GraphSet:
    """The graphs of one model at one runtime and precision (see
    :class:`~wlearn_mitra.engine.MitraEngine` for the parameters). ``onnx_sha256``,
    ``shape``, ``n_bins``, ``declared_max_node_classes``, ``declared_target_encoding`` and the
    support targets' dtype are read from the model once, here."""

    def __init__(
        self,
        onnx: OnnxSource,
        *,
        task: str,
        threads: int | None,
        split: "str | tuple[OnnxSource, OnnxSource] | None",
        optimized_dir: str | os.PathLike | None,
        precision: str,
        runtime: str,
    ) -> None:
        _choice.check(runtime, precision)
        # before any file of the disk cache is read: an unavailable runtime or precision is
        # refused as such, never taken for a damaged cache file
        _choice.check_ready(runtime, precision)
        self.runtime, self.precision = runtime, precision
        if task not in ("classification", "regression"):
            raise ValidationError(f"task must be 'classification' or 'regression', not {task!r}")
        self.task = task
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
            # the metadata as the session carries it: sizes, a bin head, declared defaults
            properties = dict(onnx.get_modelmeta().custom_metadata_map)
            self.shape = session_shape(properties, task == "classification")
        else:
            self._source = model_source(onnx)
            with buffer(self._source) as view:
                self.onnx_sha256 = model_identity(self._source, view)
                self.shape = model_shape(view, task == "classification")
                properties = readable_metadata(view)
        declared_bins = bins_in_metadata(properties)
        node_classes = node_classes_in_metadata(properties)
        #: The ``target_encoding`` the graph declares as its estimators' default, else None.
        self.declared_target_encoding = target_encoding_in_metadata(properties)

        self._split = split
        self._encoder = self._decoder = None
        self._cache_names: tuple = ()
        self._pending: tuple | None = None  # the pair's files, found but not opened yet
        self._lock = threading.Lock()
        sources = self._find_split(split)
        if sources is not None and self._lazy_pair(split, sources):
            # A support set's first predict runs the single graph (bit-identical to the pair
            # at fp32 on ONNX Runtime); the pair opens when a support set comes back.
            self._pending = sources
            self.y_dtype = y_dtype(self.single, INPUT_NAMES, "graph")
        else:
            pair = None if sources is None else self._open_pair(sources)
            if pair is not None:
                self._set_pair(pair)
            else:
                self.y_dtype = y_dtype(self.single, INPUT_NAMES, "graph")
        expected = np.int64 if task == "classification" else np.float32
        # -- bin-head regressors (Mitra-v2; _bins, spec/mitra-onnx.md "Bin-head regressors") --
        #: Value bins of a bin-head regressor's output, None for any other graph.
        self.n_bins = declared_bins if self.y_dtype is np.int64 else None
        if self.n_bins is not None:
            if task != "regression":
                raise ValidationError(
                    f"ONNX model is a Mitra regressor with a {self.n_bins}-bin head, which does "
                    f"not fit task {task!r}")
            expected = np.int64
            self.shape = dataclasses.replace(self.shape, n_slots=self.n_bins)
        # -- end bin-head regressors --
        #: The classifier's default ``max_node_classes`` the graph declares, else None.
        self.declared_max_node_classes = node_classes if task == "classification" else None
        if self.y_dtype is not expected:
            kind = "classifier" if self.y_dtype is np.int64 else "regressor"
            raise ValidationError(f"ONNX model is a Mitra {kind}, which does not fit task {task!r}")
        # [batch, query, 10] logits, [batch, query, n_bins] bin logits or [batch, query] values
        self._rank = 3 if task == "classification" or self.n_bins else 2
        if self._decoder is not None:
            check_output(self._decoder, self._rank, "query decoder")
        else:
            check_output(self.single, self._rank, "graph")

    def _lazy_pair(self, split, sources: tuple) -> bool:
        """Whether the pair may wait until a support set comes back: for a model of at least
        :data:`LAZY_PAIR_MIN_BYTES` of weights, with the pair found or cut by
        ``"auto"``/``"derive"`` (files), at fp32 on ONNX Runtime, where the single graph's
        answers equal the pair's bit for bit (tests/mitra/test_first_use.py)."""
        return (split in ("auto", "derive") and self.runtime == "onnxruntime"
                and self.precision == "fp32" and self._source is not None
                and all(isinstance(part, (_Cut, Path)) for part in sources)
                and weight_bytes(self._source) >= LAZY_PAIR_MIN_BYTES)

    def _set_pair(self, pair: tuple) -> None:
        """Take ``pair`` (opened) as the graphs predictions run through, checked against
        Mitra's contract and the single graph's targets."""
        encoder, decoder = pair
        dtype = y_dtype(encoder, ENCODER_INPUTS, "support encoder")
        names = cache_names_between(encoder, decoder)
        if getattr(self, "y_dtype", dtype) is not dtype:
            raise ValidationError(
                f"the support encoder of {self.model_name} takes y_support as "
                f"{np.dtype(dtype).name}, the single graph as {np.dtype(self.y_dtype).name}: "
                "the pair is not cut from this model")
        if hasattr(self, "_rank"):
            check_output(decoder, self._rank, "query decoder")
        self._encoder, self._decoder, self._cache_names = encoder, decoder, names
        self.y_dtype = dtype

    @property
    def pair_pending(self) -> bool:
        """True while the pair is found but not opened: a support set's first predict runs
        the single graph."""
        return self._pending is not None

    def open_pair(self) -> None:
        """Open the pending pair (once; safe from several threads). The single graph is
        closed then, if it was opened from the model: from now on predictions go through the
        pair, and its weights would otherwise be held three times."""
        with self._lock:
            if self._pending is None:
                return
            pair = self._open_pair(self._pending)
            if pair is not None:  # _open_pair returns a pair or raises
                self._set_pair(pair)
            self._pending = None  # only now: other threads read the pair once it is not pending
            if self._source is not None:
                self._single = None

    def _pair(self, index: int):
        if self._pending is not None:
            self.open_pair()
        return (self._encoder, self._decoder, self._cache_names)[index]

    @property
    def cache_names(self) -> tuple:
        """The tensors the support encoder hands the decoder (opens a pending pair)."""
        return self._pair(2)

    @property
    def encoder(self):
        """The support encoder (opened on first use), None without a pair."""
        return self._pair(0)

    @encoder.setter
    def encoder(self, graph) -> None:
        self.open_pair()
        self._encoder = graph

    @property
    def decoder(self):
        """The query decoder (opened on first use), None without a pair."""
        return self._pair(1)

    @decoder.setter
    def decoder(self, graph) -> None:
        self.open_pair()
        self._decoder = graph

    def _open_pair(self, pair: tuple) -> tuple | None:
        """The split pair ``pair`` (as :meth:`_find_split` gives it) opened. A cut pair of the
        disk cache that does not load is removed and cut again (with a CacheWarning naming
        it)."""
        try:
            return tuple(self._open(source) for source in pair)
        except ValidationError as exc:
            # only a file that does not load is damaged; a missing package is not the file's
            if (isinstance(exc, MissingDependencyError)
                    or not all(isinstance(part, _Cut) for part in pair)):
                raise
            discard(*(part.path for part in pair))
            cache_warning(f"the support cache's graphs {pair[0].path} and {pair[1].path} could "
                          f"not be loaded and were removed ({CACHE_NOTE}); cutting them again: "
                          f"{exc}")
            pair = self._find_split(self._split)
            return None if pair is None else tuple(self._open(source) for source in pair)

    @property
    def model_name(self) -> str:
        """How messages name this engine's model: its path, else its hash."""
        if isinstance(self._source, Path):
            return str(self._source)
        if self._source is not None:
            return f"given as bytes, sha256 {self.onnx_sha256}"
        return "of the InferenceSession given"

    def rebuild(self) -> None:
        """Drop every opened graph, removing the disk cache files they were read from, and
        open them again (cut, quantised, optimised anew)."""
        files = self.cache_files()
        for graph in (self._single, self._encoder, self._decoder):
            if graph is not None and graph.runtime == "openvino":
                from ..runtimes._openvino import forget

                forget(graph)
        discard(*files)
        if self._source is not None:
            self._single = None
        self._encoder = self._decoder = None
        self._pending = None
        sources = self._find_split(self._split)
        pair = None if sources is None else self._open_pair(sources)
        if pair is not None:
            self._set_pair(pair)

    def cache_files(self) -> list[Path]:
        files: list[Path] = []
        for graph in (self._single, self._encoder, self._decoder):
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
        except MissingDependencyError:
            raise
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
                if isinstance(part, (str, os.PathLike)) and stacked(Path(part)):
                    raise ValidationError(STACKED)
            return tuple(split)
        if split not in ("auto", "derive"):
            raise ValidationError("split must be 'auto', 'derive', None or a pair (encoder, decoder)")
        if self._source is None:  # a ready session: no graph to look at
            return None
        if isinstance(self._source, Path):
            encoder, decoder = split_paths(self._source)
            if encoder.is_file() and decoder.is_file():
                foreign = _foreign_pair(encoder, decoder, self.onnx_sha256)
                if foreign is not None:
                    warnings.warn(f"{encoder.name} and {decoder.name} beside "
                                  f"{self._source.name} are not used: {foreign}",
                                  stacklevel=user_stacklevel())
                elif not stacked(decoder):
                    return encoder, decoder
                else:
                    warnings.warn(f"{decoder} is not used: {STACKED}",
                                  stacklevel=user_stacklevel())
        # int8 is cut after quantising, so the pair runs exactly the int8 single graph
        identity = self.onnx_sha256 + (".int8" if self.precision == "int8" else "")
        encoder, decoder = derived_paths(self._folder, identity)
        if encoder.is_file() and decoder.is_file():
            return _Cut(encoder), _Cut(decoder)

        def cut() -> tuple:
            made = derive_pair(self._precise(self._source, self.onnx_sha256), self._folder,
                               identity)
            return tuple(_Cut(path) for path in made)

        try:
            return cut()
        except OSError as exc:  # the cache folder: not a folder, read-only, full
            message = (f"cannot keep the support cache's graphs in {self._folder} ({exc}); "
                       f"to use the support cache, {WRITABLE_HINT}")
            if split == "derive":
                raise ValidationError(message) from exc
            cache_warning(f"the single graph runs, without the support cache: {message}")
            return None
        except ValidationError as exc:
            if split == "derive":
                raise
            # A model ONNX Runtime cannot load either: its own error, and no warning first.
            # A damaged int8 graph of the cache is made again here, so cut from the new one.
            self.single  # noqa: B018
            if self.precision == "int8":
                try:
                    return cut()
                except (OSError, ValidationError):
                    pass
            if not _warned_no_onnx:
                _warned_no_onnx = True
                cache_warning(f"the single graph runs, without the support cache: {exc}")
            return None

    @property
    def single(self) -> _choice.Graph:
        """The single graph, opened on first use."""
        if self._single is None:
            self._single = self._open(self._source, self.onnx_sha256)
        return self._single

    def unopened_bytes(self) -> int:
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
        names = self._cache_names if self._pending is None else self._pending_cache_names()
        known = self.__dict__.get("_layer_count")
        if known is not None and known[0] is names:  # read once per pair opened
            return known[1]
        count = cache_layers(["x_query", *names])
        if count is None:
            count = len({match for name in names for match in _LAYER.findall(name)}) or 12
        self._layer_count = (names, count)
        return count

    def _pending_cache_names(self) -> tuple:
        """The pending decoder's inputs after ``x_query``, read from its file (not opened)."""
        known = self.__dict__.get("_pending_names")
        if known is None:
            decoder = self._pending[1]
            path = decoder.path if isinstance(decoder, _Cut) else decoder
            with buffer(model_source(path)) as view:
                known = tuple(name for name in graph_input_names(view) if name != "x_query")
            self._pending_names = known
        return known

    @property
    def classification(self) -> bool:
        return self.task == "classification"

    @property
    def uses_cache(self) -> bool:
        """True when predictions go through the support encoder and query decoder (from a
        support set's second predict on while the pair is pending)."""
        return self._pending is not None or self._encoder is not None



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


def _is_session(onnx: object) -> bool:
    """An ``onnxruntime.InferenceSession`` (told without importing onnxruntime for others)."""
    return type(onnx).__name__ == "InferenceSession" and "onnxruntime" in type(onnx).__module__
