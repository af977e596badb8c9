"""Reduced precision: int8 dynamic quantisation of the weight matrices (opt-in).

``onnxruntime.quantization.quantize_dynamic`` stores every MatMul weight as int8 and quantises
the activations row-block by row-block at run time; ONNX Runtime then multiplies with its
integer kernels (AVX-512 VNNI / AMX where the CPU has them). Attention scores, softmax,
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

from ._hints import install_hint
from ._layout import default_cache_dir

#: A MatMul weight with a side shorter than this stays float32.
THIN = 16


def _thin_matmuls(model: bytes | Path) -> list[str]:
    import onnx

    proto = onnx.load_from_string(model) if isinstance(model, bytes) else onnx.load(str(model))
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
    target = folder / f"{sha256}.int8pc.onnx"
    if not target.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=folder) as scratch:
            output = Path(scratch) / "model.int8.onnx"
            source = model
            if isinstance(model, bytes):
                source = Path(scratch) / "model.onnx"
                source.write_bytes(model)
            # quantize_dynamic logs advice about static pre-processing to the root logger
            quiet = _DropAdvice()
            logging.getLogger().addFilter(quiet)
            try:
                quantize_dynamic(
                    source,
                    output,
                    weight_type=QuantType.QInt8,
                    op_types_to_quantize=["MatMul"],
                    per_channel=True,
                    nodes_to_exclude=_thin_matmuls(model),
                )
            finally:
                logging.getLogger().removeFilter(quiet)
            os.replace(output, target)  # atomic: a half-written file is never seen
    return target
