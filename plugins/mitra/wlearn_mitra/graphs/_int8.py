"""Reduced precision: int8 dynamic quantisation of the weight matrices (opt-in).

``onnxruntime.quantization.quantize_dynamic`` stores every MatMul weight as int8 and quantises
the activations row-block by row-block at run time; ONNX Runtime then multiplies with its
integer kernels (AVX-512 VNNI / AMX where the CPU has them). On x86-64 CPUs without VNNI the
weights are stored as uint8 instead (:func:`._cpu.int8_saturates`: there ONNX Runtime's
uint8 x int8 kernel saturates and its answers are far from float32's). Attention scores, softmax,
LayerNorm and GELU stay in float32. Weights are quantised per output channel, and the thin
matrices (the scalar embeddings and the final layer, under 1% of the work) stay float32: on the
fixtures' tiny models this lifts argmax agreement with float32 from 92-97% to 98-100%. The
accuracy cost on full-size weights is measured by bench/bench_mitra.py.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import tempfile
from pathlib import Path

from wlearn.errors import ResourceLimitError

from ._cachedir import WRITABLE_HINT, cache_warning, default_cache_dir, int8_path
from .._cpu import int8_saturates

from ..exceptions import MissingDependencyError

#: A MatMul weight with a side shorter than this stays float32.
THIN = 16


def weights_without_identities(proto) -> int:
    """Feed every weight routed through an ``Identity`` node (PyTorch's exporter does so for
    weights used twice) straight to its consumers; returns how many were rerouted.

    ``quantize_dynamic`` quantises a MatMul only when its weight is an initializer, so behind
    an Identity the support and query sides' shared matrices stayed float32 (111 of the
    full-size graph's MatMuls)."""
    graph = proto.graph
    weights = {init.name for init in graph.initializer}
    outputs = {value.name for value in graph.output}
    rename = {
        node.output[0]: node.input[0]
        for node in graph.node
        if node.op_type == "Identity" and node.input[0] in weights and node.output[0] not in outputs
    }
    if not rename:
        return 0
    kept = [node for node in graph.node
            if not (node.op_type == "Identity" and node.output and node.output[0] in rename)]
    for node in kept:
        node.input[:] = [rename.get(name, name) for name in node.input]
    del graph.node[:]
    graph.node.extend(kept)
    return len(rename)


def _thin_matmuls(proto) -> list[str]:
    graph = proto.graph
    dims = {init.name: list(init.dims) for init in graph.initializer}
    return [
        node.name
        for node in graph.node
        if node.op_type == "MatMul"
        and any(name in dims and min(dims[name] or [0]) < THIN for name in node.input)
    ]


class _DropAdvice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()


def quantize_int8(
    model: bytes | Path, sha256: str, folder: str | os.PathLike | None = None
) -> Path:
    """The int8 version of a graph (bytes or path with SHA-256 ``sha256``), made once and
    kept in ``folder`` under that hash; returns its path.

    The file is only a cache: written whole under a temporary name and renamed, never left
    half-written. Where ``folder`` cannot take it (not a folder, read-only, full) it is made
    in a private temporary folder for this process instead, with a
    :class:`~wlearn_mitra.exceptions.CacheWarning`; where no folder can, ResourceLimitError
    says so (a disk full is not reported as a damaged model).
    """
    folder = Path(folder) if folder is not None else default_cache_dir()
    target = int8_path(folder, sha256, int8_saturates())
    if target.is_file():
        return target  # made before: the quantisation tools (2-3 s to import) are not needed
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic  # noqa: F401
    except ImportError as exc:  # the quantisation tools need the onnx package
        raise MissingDependencyError("precision='int8' needs the onnx package", "int8",
                                     detail=str(exc)) from exc
    try:
        _quantize(model, target)
        return target
    except OSError as exc:
        first = exc
    fallback = Path(_private_dir()) / target.name
    if fallback.is_file():
        return fallback
    try:
        _quantize(model, fallback)
    except OSError as exc:
        raise ResourceLimitError(
            f"precision='int8' could not write the int8 graph {target} ({first}) nor "
            f"{fallback} ({exc}): free some disk space, {WRITABLE_HINT}, or use "
            "precision='fp32'"
        ) from exc
    cache_warning(f"cannot keep the int8 graph in {target} ({first}): made it in {fallback} "
                  "for this process instead")
    return fallback


_private: list[str] = []


def _private_dir() -> str:
    """A temporary folder of this process, removed at exit."""
    if not _private:
        import atexit
        import shutil

        path = tempfile.mkdtemp(prefix="wlearn-mitra-")
        atexit.register(shutil.rmtree, path, True)
        _private.append(path)
    return _private[0]


def _quantize(model: bytes | Path, target: Path) -> None:
    """Write the int8 graph of ``model`` to ``target``, whole or not at all. OSError for
    anything the file system refuses (a write that ran out of space shows up later as a
    protobuf DecodeError of the half-written file, which is reported as the OSError it is)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    import onnx

    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        output = Path(scratch) / "model.int8.onnx"
        proto = (onnx.load_model_from_string(model) if isinstance(model, bytes)
                 else onnx.load_model(str(model)))
        weights_without_identities(proto)
        thin = _thin_matmuls(proto)
        source = Path(scratch) / "model.onnx"
        _checked_write(lambda: onnx.save_model(proto, str(source)), source, proto.ByteSize())
        del proto
        # quantize_dynamic logs advice about static pre-processing to the root logger
        quiet = _DropAdvice()
        logging.getLogger().addFilter(quiet)
        try:
            quantize_dynamic(
                source,
                output,
                weight_type=QuantType.QUInt8 if int8_saturates() else QuantType.QInt8,
                op_types_to_quantize=["MatMul"],
                per_channel=True,
                nodes_to_exclude=thin,
            )
        except OSError:
            raise
        except Exception as exc:  # a truncated file reads as a DecodeError
            if _short_of_space(target.parent):
                raise OSError(errno.ENOSPC, f"no space left on the device ({exc})") from exc
            raise
        finally:
            logging.getLogger().removeFilter(quiet)
        os.replace(output, target)  # atomic: a half-written file is never seen


def _checked_write(write, path: Path, size: int) -> None:
    write()
    if path.stat().st_size < size:  # a write cut short without an error
        raise OSError(errno.ENOSPC, f"{path} was cut short: no space left on the device")


def _short_of_space(folder: Path) -> bool:
    try:
        return shutil.disk_usage(folder).free < 64 * 2**20
    except OSError:
        return False
