"""The ONNX Runtime runtime: CPU sessions, their options, optimised-graph files, Ctrl-C."""

from __future__ import annotations

import os
import tempfile
import threading
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from wlearn.errors import ResourceLimitError, ValidationError

from ..graphs._cachedir import (CACHE_NOTE, EXTERNAL_WEIGHTS_BYTES, cache_warning, discard,
                               ort_optimized_path)
from ..exceptions import ModelLoadError, ModelRunError
from ._graph import Arg, check_threads
from ..graphs._identity import weight_bytes
from ..graphs._modelfile import ModelSource, sha256_of

if TYPE_CHECKING:
    import onnxruntime as ort

NAME = "onnxruntime"
#: ``int8`` is a graph transform (see :mod:`wlearn_mitra.graphs._int8`); the session itself
#: runs as given.
PRECISIONS = ("fp32", "int8")


def check_ready(precision: str) -> None:
    """Nothing to check: ONNX Runtime is a dependency and runs both precisions anywhere."""


#: Session config entry of sessions that allocate from the process's shared CPU arena.
ENV_ALLOCATORS = "session.use_env_allocators"
_arena_lock = threading.Lock()
_arena: list[bool] = []  # [registered], once tried


def shared_arena() -> bool:
    """Whether ONNX Runtime's environment has the CPU arena every session of this module
    allocates from; registered on first use, once per process.

    With one arena per session (ONNX Runtime's default) the memory a run frees stays reserved
    for that session: the support encoder's working memory could not serve the query decoder,
    so the engine had each such run hand its memory back to the system, and the next run
    took it again page by page (with ``n_estimators=4`` on small tables, 15-20% of a predict;
    bench/README.md, "bench_small_tables.py"). With one shared arena a run's freed memory
    serves the next run of any graph, so a predict's peak is its largest run, as the plan
    counts (:mod:`wlearn_mitra.engine._planning`), and only runs larger than the decoder's
    chunk budget hand their memory back (:func:`wlearn_mitra.engine._runs.hand_back`). False
    when the arena cannot be registered: sessions then keep their own, as before.
    """
    with _arena_lock:
        if not _arena:
            import onnxruntime as ort

            try:
                info = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0,
                                         ort.OrtMemType.DEFAULT)
                ort.create_and_register_allocator(info, None)  # ONNX Runtime's arena defaults
                _arena.append(True)
            except Exception:  # noqa: BLE001 - an older or trimmed build: per-session arenas
                _arena.append(False)
        return _arena[0]


def session_options(
    threads: int | None = None, optimized_path: Path | None = None
) -> "ort.SessionOptions":
    import onnxruntime as ort

    options = ort.SessionOptions()
    if shared_arena():
        options.add_session_config_entry(ENV_ALLOCATORS, "1")
    # EXTENDED keeps the fusions that matter (GELU, LayerNorm, int8 MatMul); measured on the
    # full-size model it runs as fast as ALL with a lower peak, and the optimised graphs it
    # saves carry no CPU-specific layouts (bench/README.md).
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    # The memory pattern planner keeps a plan per input shape; with shapes that change
    # between calls it roughly doubles peak memory for no measurable speed-up.
    options.enable_mem_pattern = False
    check_threads(threads)
    if threads is not None:
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
    if optimized_path is not None:
        options.optimized_model_filepath = str(optimized_path)
        options.log_severity_level = 3  # no advice about portability in the user's log
    return options


def new_session(
    source: ModelSource,
    threads: int | None = None,
    *,
    sha256: str | None = None,
    optimized_dir: str | os.PathLike | None = None,
) -> "ort.InferenceSession":
    """A CPU session; with ``optimized_dir``, ONNX Runtime's optimised graph is kept there.

    The optimised file is keyed by the model's SHA-256 and the ONNX Runtime version, so a
    later engine for the same model skips the graph optimisation. It is only a cache: one
    that does not load is removed and made again, and a folder that cannot be written
    (read-only, full, not a folder) leaves the model optimised in memory, each with a
    :class:`~wlearn_mitra.exceptions.CacheWarning` naming the file.
    """
    return open_session(source, threads, sha256=sha256, optimized_dir=optimized_dir)[0]


def open_session(
    source: ModelSource,
    threads: int | None = None,
    *,
    sha256: str | None = None,
    optimized_dir: str | os.PathLike | None = None,
) -> tuple["ort.InferenceSession", list[Path]]:
    """:func:`new_session` and the cache files the session was read from."""
    import onnxruntime as ort

    model: bytes | str = source if isinstance(source, bytes) else str(source)
    if optimized_dir is None:
        return _session(model, threads, None), []
    sha256 = sha256 or sha256_of(source)
    cached = ort_optimized_path(optimized_dir, sha256, ort.__version__)
    if cached.is_file():
        try:
            return _session(str(cached), threads, None), [cached]
        except ValidationError as exc:
            discard(cached)
            cache_warning(f"the optimised graph {cached} could not be loaded and was removed "
                          f"({CACHE_NOTE}); optimising the model again: {exc}")
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        scratch = tempfile.TemporaryDirectory(dir=cached.parent)
    except OSError as exc:
        cache_warning(f"cannot keep the optimised graph {cached} ({exc}): the model is "
                      "optimised in memory, for this engine only")
        return _session(model, threads, None), []
    with scratch as folder:
        # written under the final names in a scratch folder, then moved in: the weights
        # before the graph that names them, so readers never see half of either
        optimized_path = Path(folder) / cached.name
        weights = None
        if weight_bytes(source) > EXTERNAL_WEIGHTS_BYTES:
            weights = optimized_path.with_name(f"{cached.name}.data")
        try:
            session = _session(model, threads, optimized_path, weights)
        except ValidationError:
            session = _session(model, threads, None)  # the model's own error, if it has one
            cache_warning(f"ONNX Runtime could not write the optimised graph {cached}: the "
                          "model is optimised in memory, for this engine only")
            return session, []
        try:
            if weights is not None and weights.is_file():
                os.replace(weights, cached.with_name(weights.name))
            if optimized_path.is_file():
                os.replace(optimized_path, cached)
        except OSError as exc:
            if not cached.is_file():  # only weights of ours, naming no graph: not kept
                discard(cached)
            # else another process's whole copy arrived meanwhile (same model, same bytes)
            cache_warning(f"cannot keep the optimised graph {cached} ({exc})")
    return session, []


def _session(model: bytes | str, threads: int | None, optimized_path: Path | None,
             weights: Path | None = None):
    import onnxruntime as ort

    options = session_options(threads, optimized_path)
    if optimized_path is not None and weights is not None:
        options.add_session_config_entry(
            "session.optimized_model_external_initializers_file_name", weights.name)
        options.add_session_config_entry(
            "session.optimized_model_external_initializers_min_size_in_bytes", "1024")
    try:
        session = ort.InferenceSession(
            model,
            sess_options=options,
            providers=["CPUExecutionProvider"],
        )
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ModelLoadError(f"ONNX Runtime could not load the model: {exc}") from exc
    release_freed_heap()
    return session


def release_freed_heap() -> None:
    """Hand the C heap's free memory back to the system (glibc's ``malloc_trim``; nothing
    elsewhere).

    Creating a session parses the whole model (a copy of its weights) and frees it again; glibc
    keeps such freed memory resident in the creating thread's heap. A run goes to a worker
    thread (:func:`run_interruptible`), whose own heap cannot reuse it, so without this the
    first predict's peak held that copy on top of the run's memory: 889 MB against 629 MB
    trimmed, for the full-size model at W1 (bench/README.md, "bench_first_answer.py").
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@lru_cache(maxsize=1)
def _malloc_trim():
    """glibc's ``malloc_trim``, or None on a C library without it (macOS, Windows, musl)."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError, TypeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def _dtype(type_name: str) -> str:
    """``tensor(int64)`` -> ``int64``; ``tensor(float)`` -> ``float32``."""
    inner = type_name[len("tensor(") : -1] if type_name.startswith("tensor(") else type_name
    return {"float": "float32", "double": "float64"}.get(inner, inner)


def _args(nodes) -> dict:
    out = {}
    for node in nodes:
        shape = node.shape if isinstance(node.shape, list) else None
        if shape is not None:
            shape = [size if isinstance(size, int) else None for size in shape]
        out[node.name] = Arg(node.name, _dtype(node.type), shape)
    return out


class OrtGraph:
    """A graph on ONNX Runtime, behind the interface every runtime gives (see :mod:`._choice`)."""

    runtime = NAME

    def __init__(self, session: "ort.InferenceSession", cache_files: Sequence[Path] = ()) -> None:
        self.session = session
        #: Files of the disk cache this graph was read from (named when it misbehaves).
        self.cache_files = list(cache_files)
        #: Whether the session allocates from the process's shared arena (:func:`shared_arena`);
        #: False for an InferenceSession made elsewhere with its own.
        self.shares_arena = _shares_arena(session)
        try:
            self.inputs = _args(session.get_inputs())
            self.outputs = _args(session.get_outputs())
        except UnicodeDecodeError:  # ONNX Runtime decodes names and dimension names lazily
            raise ValidationError(
                "ONNX model is not a Mitra graph: its inputs or outputs have names that are not "
                "UTF-8"
            ) from None

    def run(self, outputs: Sequence[str], feeds: dict, *, one_off: bool = False) -> list:
        """The named outputs for ``feeds``; ``one_off`` hands the run's working memory back
        afterwards (for runs such as encoding a support set, whose peak would otherwise stay
        reserved; on the shared arena the engine asks it only of large runs,
        :func:`wlearn_mitra.engine._runs.hand_back`)."""
        return run_interruptible(self.session, list(outputs), feeds, shrink_arena=one_off)


def _shares_arena(session: "ort.InferenceSession") -> bool:
    try:
        options = session.get_session_options()
        return options.get_session_config_entry(ENV_ALLOCATORS) == "1"
    except Exception:  # noqa: BLE001 - no such entry (ONNX Runtime raises for a missing key)
        return False


def open_graph(
    source: ModelSource,
    *,
    precision: str = "fp32",
    threads: int | None = None,
    sha256: str | None = None,
    optimized_dir: str | os.PathLike | None = None,
) -> OrtGraph:
    del precision  # applied to the graph itself before it gets here
    return OrtGraph(*open_session(source, threads, sha256=sha256, optimized_dir=optimized_dir))


def run_interruptible(
    session: Any, outputs: list[str] | None, feeds: dict, *, shrink_arena: bool = False
) -> list:
    """``session.run`` that answers Ctrl-C within a moment instead of after the whole run.

    ONNX Runtime holds the calling thread until the graph finishes, so the run goes to a
    worker thread; on KeyboardInterrupt the run is told to terminate, the worker is joined
    (nothing keeps running in the background) and the interrupt is raised again.
    ``shrink_arena`` hands the run's working memory back once it is done.
    """
    import onnxruntime as ort

    options = ort.RunOptions()
    if shrink_arena:
        options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
    result: dict[str, Any] = {}
    finished = threading.Event()

    def work() -> None:
        try:
            result["value"] = session.run(outputs, feeds, options)
        except BaseException as exc:  # handed to the calling thread
            result["error"] = exc
        finally:
            finished.set()

    # An interrupted Thread.join can mark a running thread as stopped (CPython 3.11), so
    # completion is signalled with an Event instead.
    threading.Thread(target=work, name="mitra-run", daemon=True).start()
    try:
        while not finished.wait(0.05):
            pass
    except KeyboardInterrupt:
        options.terminate = True
        finished.wait()
        raise
    if "error" in result:
        error = result["error"]
        if type(error).__module__.startswith("onnxruntime") and "alloc" in str(error).lower():
            raise ResourceLimitError(
                "ONNX Runtime could not allocate the memory this run needs; give the estimator "
                "(or predict) a smaller max_memory_mb (the plan then runs fewer query rows or "
                "features at a time), or fit with a smaller max_support "
                f"({str(error).strip()[:300]})"
            ) from error
        if type(error).__module__.startswith("onnxruntime"):
            raise ModelRunError(f"ONNX Runtime failed running the model: {error}") from error
        raise error
    return result["value"]
