"""The OpenVINO runtime (optional extra ``openvino``): the same ONNX graphs, compiled for the CPU.

``precision="bf16"`` asks OpenVINO to run in bfloat16 (its matrix products on AMX tiles, or
AVX512-BF16 where there is no AMX); ``"fp32"`` asks for float32 explicitly, because bf16 is
OpenVINO's own default on CPUs that have it. OpenVINO runs LayerNorm, softmax and residual adds
in bf16 too, unlike PyTorch autocast; bench/README.md gives the accuracy cost.

A model is compiled once per (identity, precision, threads, shape policy) and shared by every
engine of the process while one holds it: all axes stay dynamic, so a new query or support
count reuses the compiled model (``compilations`` counts the compiles).
"""

from __future__ import annotations

import os
import tempfile
import threading
import warnings
import weakref
from pathlib import Path
from typing import Sequence

import numpy as np

from wlearn.errors import ValidationError

from ..graphs._cachedir import CACHE_NOTE, cache_warning, default_cache_dir, discard, ir_path
from .._cpu import has_amx_bf16
from ..exceptions import MissingDependencyError, ModelLoadError, user_stacklevel
from ._graph import Arg, check_threads
from ..graphs._modelfile import ModelSource, sha256_of

NAME = "openvino"
PRECISIONS = ("fp32", "bf16")
#: The one shape policy: every axis dynamic (no recompiling for a new query count).
SHAPE_POLICY = "dynamic"
_HINTS = {"fp32": "f32", "bf16": "bf16"}

#: Number of ``compile_model`` calls made by this process (tests count recompiles with it).
compilations = 0
_compiled: "weakref.WeakValueDictionary[tuple, OpenVinoGraph]" = weakref.WeakValueDictionary()
_lock = threading.Lock()
_core = None
_warned_no_amx = False


def _openvino():
    try:
        import openvino
    except ImportError as exc:
        raise MissingDependencyError(
            "runtime='openvino' needs OpenVINO", "openvino",
            detail=f"runtime='onnxruntime' needs nothing more; {exc}") from exc
    return openvino


def core():
    """The process's one ``openvino.Core``."""
    global _core
    if _core is None:
        _core = _openvino().Core()
    return _core


def cpu_has_amx() -> bool:
    """Whether the CPU has AMX bf16 tiles (Linux: ``amx_bf16`` in /proc/cpuinfo)."""
    return has_amx_bf16()


def check_ready(precision: str) -> None:
    """MissingDependencyError without OpenVINO, and :func:`check_precision`'s refusal of bf16
    on a CPU without bfloat16 arithmetic (asked before any file of the disk cache is used)."""
    core()
    check_precision(precision)


def check_precision(precision: str) -> None:
    """Refuse bf16 where the CPU has no bf16 arithmetic (OpenVINO would quietly run fp32)
    and say so where it has bf16 but no AMX (a smaller speed-up than bench/README.md's)."""
    global _warned_no_amx
    if precision not in PRECISIONS:
        raise ValidationError(
            f"runtime='openvino' runs precision 'fp32' or 'bf16', not {precision!r}"
        )
    if precision != "bf16":
        return
    capabilities = core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    if "BF16" not in capabilities:
        raise ValidationError(
            "precision='bf16' needs a CPU with bfloat16 arithmetic (AMX or AVX512-BF16), which "
            f"this one lacks (OpenVINO reports {list(capabilities)}); use precision='fp32'"
        )
    if not cpu_has_amx() and not _warned_no_amx:
        _warned_no_amx = True
        warnings.warn(
            "this CPU has AVX512-BF16 but no AMX: bf16 runs, with a smaller speed-up than "
            "on AMX (bench/README.md)",
            RuntimeWarning,
            stacklevel=user_stacklevel(),
        )


class OpenVinoGraph:
    """A compiled graph, behind the interface every runtime gives (see :mod:`._choice`)."""

    runtime = NAME
    key: tuple | None = None

    def __init__(self, model, compiled) -> None:
        self.compiled = compiled
        #: Files of the disk cache this graph was read from (named when it misbehaves).
        self.cache_files: list[Path] = []
        self._running = 0  # runs in flight on this compiled model (threads may share it)
        self._count = threading.Lock()
        # Names from the model as read (one per ONNX input, in order): compiling may give a
        # port further names of tensors it fused into it.
        self.inputs = {_name(port): _arg(_name(port), port) for port in model.inputs}
        self.outputs = {name: _arg(name, port)
                        for port in compiled.outputs for name in sorted(port.names)}

    def run(self, outputs: Sequence[str], feeds: dict, *, one_off: bool = False) -> list:
        """The named outputs for ``feeds``, from a request made for this run only.

        The working memory of a run belongs to the compiled model, not to its request, and
        stays reserved at the size of the largest run so far. After a ``one_off`` run
        (encoding a support set) it is handed back (``CompiledModel.release_memory``) unless
        another run is in flight on the same compiled model. Ctrl-C cancels the request and
        waits for it before the interrupt is raised again.
        """
        with self._count:
            self._running += 1
        try:
            return self._run(outputs, feeds)
        finally:
            with self._count:
                self._running -= 1
                idle = self._running == 0
            if one_off and idle:
                try:
                    self.compiled.release_memory()
                except Exception:  # a run began meanwhile (OpenVINO refuses): memory in use
                    pass

    def _run(self, outputs: Sequence[str], feeds: dict) -> list:
        request = self.compiled.create_infer_request()
        for name, array in feeds.items():
            request.set_tensor(name, _tensor(array))
        request.start_async()
        try:
            while not request.wait_for(50):
                pass
        except KeyboardInterrupt:
            request.cancel()
            try:
                request.wait()
            except Exception:  # a cancelled request may report the cancellation
                pass
            raise
        try:
            return [_array(request.get_tensor(name)) for name in outputs]
        finally:
            del request


def _array(tensor) -> np.ndarray:
    # Not a copy: the output tensor is the request's own (a request per run), and the array
    # keeps it alive when the request is gone; later runs and release_memory leave it as it
    # is (tests/mitra/test_openvino.py). Copying an encoded support set (277 MB for the
    # full-size model at 512 x 10) cost 10% of an encode and held it twice at its peak.
    # Reshaped, since .data gives a scalar as [1].
    return tensor.data.reshape(tuple(tensor.shape))


def _tensor(array: np.ndarray):
    openvino = _openvino()
    # np.require keeps a 0-d array 0-d (np.ascontiguousarray would make it [1])
    return openvino.Tensor(np.require(array, requirements="C"), shared_memory=True)


def _name(port) -> str:
    names = port.get_names()
    return min(names, key=lambda name: (name.startswith("/"), len(name), name))


def _arg(name: str, port) -> Arg:
    shape = port.get_partial_shape()
    sizes = None
    if shape.rank.is_static:
        sizes = [dim.get_length() if dim.is_static else None for dim in shape]
    return Arg(name, _dtype(port.get_element_type()), sizes)


def _dtype(element_type) -> str:
    name = element_type.get_type_name()
    return {"f32": "float32", "i64": "int64", "boolean": "bool", "f16": "float16",
            "i32": "int32", "bf16": "bfloat16"}.get(name, name)


def open_graph(
    source: ModelSource,
    *,
    precision: str = "fp32",
    threads: int | None = None,
    sha256: str | None = None,
    optimized_dir: str | os.PathLike | None = None,
) -> OpenVinoGraph:
    """The compiled graph of ``source`` (shared while any engine holds it).

    The ONNX graph is first saved in OpenVINO's own format (:func:`ir_path`), once per model
    and precision, and compiled from there: OpenVINO maps that format's weights from disk
    instead of copying them, and at bf16 they are stored as float16 (OpenVINO's standard
    weight compression), which the bf16 arithmetic rounds further anyway. So the process
    holds the compiled weights and not also the float32 ones it read (measured in
    bench/README.md, "Memory of the warm path"). With ``optimized_dir``, OpenVINO's own
    cache of compiled blobs is kept in its ``openvino`` subfolder.
    """
    global compilations
    check_threads(threads)
    check_precision(precision)
    sha256 = sha256 or sha256_of(source)
    key = (sha256, precision, threads, SHAPE_POLICY)
    with _lock:
        graph = _compiled.get(key)
        if graph is not None:
            return graph
        ov_core = core()
        config = {
            "INFERENCE_PRECISION_HINT": _HINTS[precision],
            "PERFORMANCE_HINT": "LATENCY",
            "NUM_STREAMS": "1",
        }
        if threads is not None:
            config["INFERENCE_NUM_THREADS"] = str(int(threads))
        folder = Path(optimized_dir) if optimized_dir is not None else default_cache_dir()
        if optimized_dir is not None:
            cache = folder / "openvino"
            try:
                cache.mkdir(parents=True, exist_ok=True)
                config["CACHE_DIR"] = str(cache)
            except OSError as exc:
                cache_warning(f"cannot keep OpenVINO's compiled models in {cache} ({exc}): "
                              "compiling without that cache")
        ir = ir_path(folder, sha256, precision)
        files = [ir, ir.with_suffix(".bin")]
        try:
            model, compiled, files = _compile(ov_core, source, ir, precision, config)
        except _DamagedIR as damaged:
            discard(*files)
            cache_warning(f"OpenVINO could not read its saved graph {ir} (weights "
                          f"{files[1].name}), removed and made again ({CACHE_NOTE}): "
                          f"{damaged.__cause__}")
            model, compiled, files = _compile(ov_core, source, ir, precision, config)
        compilations += 1
        graph = OpenVinoGraph(model, compiled)
        graph.cache_files = files
        graph.key = key
        del model
        _compiled[key] = graph
        return graph


class _DamagedIR(Exception):
    """The saved graph in OpenVINO's format exists but does not read or compile."""


def _compile(ov_core, source: ModelSource, ir: Path, precision: str, config: dict):
    """``(model, compiled, cache files read)`` of ``source`` through its saved IR, or of the
    ONNX graph itself where the IR cannot be written (with a CacheWarning)."""
    files = [ir, ir.with_suffix(".bin")]
    existed = ir.is_file() and files[1].is_file()
    if not existed:
        try:
            _save_ir(source, ir, compress=precision == "bf16")
        except Exception as exc:  # OSError, or OpenVINO's RuntimeError for a failed write
            compiled = _compile_onnx(ov_core, source, config)  # the model's own error first
            cache_warning(f"cannot keep the model in OpenVINO's format as {ir} ({exc}): "
                          "compiled it from the ONNX graph, for this process only")
            return (*compiled, [])
    try:
        model = ov_core.read_model(str(ir))
        return model, ov_core.compile_model(model, "CPU", config), files
    except Exception as exc:
        if existed:
            raise _DamagedIR() from exc
        raise ModelLoadError(f"OpenVINO could not load the model: {exc}") from exc


def _compile_onnx(ov_core, source: ModelSource, config: dict):
    try:
        if isinstance(source, bytes):
            with tempfile.TemporaryDirectory() as scratch:
                path = Path(scratch) / "model.onnx"
                path.write_bytes(source)
                model = ov_core.read_model(str(path))
        else:
            model = ov_core.read_model(str(source))
        return model, ov_core.compile_model(model, "CPU", config)
    except OSError as exc:
        raise ModelLoadError(f"OpenVINO could not read the model: no folder to write it to "
                              f"({exc})") from exc
    except Exception as exc:
        raise ModelLoadError(f"OpenVINO could not load the model: {exc}") from exc


def forget(graph: "OpenVinoGraph") -> None:
    """Stop sharing ``graph``: the next ``open_graph`` of its model compiles anew (after its
    cache files were found damaged)."""
    with _lock:
        key = getattr(graph, "key", None)
        if key is not None and _compiled.get(key) is graph:
            del _compiled[key]


def _save_ir(source: ModelSource, ir: Path, *, compress: bool) -> None:
    """``source`` saved as ``ir``, whole or not at all: written under temporary names and
    renamed, the weights before the graph that names them."""
    openvino = _openvino()
    ir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=ir.parent) as scratch:
        if isinstance(source, bytes):
            onnx_path = Path(scratch) / "model.onnx"
            onnx_path.write_bytes(source)
        else:
            onnx_path = source
        model = core().read_model(str(onnx_path))
        staged = Path(scratch) / "model.xml"
        openvino.save_model(model, str(staged), compress_to_fp16=compress)
        del model
        os.replace(staged.with_suffix(".bin"), ir.with_suffix(".bin"))
        os.replace(staged, ir)
