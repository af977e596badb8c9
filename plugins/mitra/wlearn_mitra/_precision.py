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

import logging
import os
import tempfile
from pathlib import Path

from wlearn.errors import ValidationError

from ._cpu import int8_saturates
from ._hints import install_hint
from ._layout import default_cache_dir

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
    kept in ``folder`` under that hash; returns its path."""
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as exc:  # the quantisation tools need the onnx package
        raise ValidationError(
            f"precision='int8' needs the onnx package: {install_hint('int8')} ({exc})"
        ) from exc
    folder = Path(folder) if folder is not None else default_cache_dir()
    import onnx

    # "2": weights behind Identity nodes are quantised too (files before that were not);
    # "u8": uint8 weights, for CPUs where uint8 x int8 products saturate
    unsigned = int8_saturates()
    target = folder / f"{sha256}.int8pc2{'u8' if unsigned else ''}.onnx"
    if not target.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=folder) as scratch:
            output = Path(scratch) / "model.int8.onnx"
            proto = (onnx.load_model_from_string(model) if isinstance(model, bytes)
                     else onnx.load_model(str(model)))
            weights_without_identities(proto)
            thin = _thin_matmuls(proto)
            source = Path(scratch) / "model.onnx"
            onnx.save_model(proto, str(source))
            del proto
            # quantize_dynamic logs advice about static pre-processing to the root logger
            quiet = _DropAdvice()
            logging.getLogger().addFilter(quiet)
            try:
                quantize_dynamic(
                    source,
                    output,
                    weight_type=QuantType.QUInt8 if unsigned else QuantType.QInt8,
                    op_types_to_quantize=["MatMul"],
                    per_channel=True,
                    nodes_to_exclude=thin,
                )
            finally:
                logging.getLogger().removeFilter(quiet)
            os.replace(output, target)  # atomic: a half-written file is never seen
    return target
