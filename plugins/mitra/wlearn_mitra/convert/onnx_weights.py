"""Recover a Tab2D state dict from a plain Mitra ONNX graph.

Users of the JS package often have only ``mitra-classifier.onnx``. The PyTorch exporter names
each node after the module that made it (``/layers.3/attention1/q/MatMul``), so every weight can
be found by its own name or else by the node that consumes it: a ``MatMul`` holds a Linear
weight (transposed, renamed by constant folding), the ``Add`` after it the bias,
``LayerNormalization`` its scale and shift, ``Gather`` an embedding table. The exporter may
share one initializer between equal tensors; the values are what count.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from wlearn.errors import ValidationError

from ..graphs._onnxinfo import CONFIG_METADATA_KEY  # the Tab2D config's metadata key

_SUFFIX = re.compile(r"_\d+$")
_LAYER = re.compile(r"^layers\.(\d+)\.")


def _module_path(node_name: str) -> str | None:
    """'/layers.0/linear1_1/Add' -> 'layers.0.linear1' (scope parts lose call-count suffixes)."""
    parts = node_name.strip("/").split("/")
    if len(parts) < 2:
        return None
    path = ".".join(_SUFFIX.sub("", part) for part in parts[:-1])
    # This package exports through a wrapper module whose attribute is ``model``.
    return path[len("model."):] if path.startswith("model.") else path


def _infer_heads(graph, constants: dict, dim: int) -> int | None:
    """Head count from the attention's reshape to [N, T, heads, dim / heads or -1]."""
    for node in graph.node:
        scope = node.name.removeprefix("/model")
        if node.op_type != "Concat" or not scope.startswith("/layers.0/attention1"):
            continue
        values = [constants.get(name) for name in node.input]
        scalars = [int(v.reshape(-1)[0]) if v is not None and v.size == 1 else None for v in values]
        for heads, width in zip(scalars, scalars[1:]):
            if heads and heads > 0 and dim % heads == 0 and width in (dim // heads, -1):
                return heads
    return None


def read_onnx_weights(path: str | Path, n_heads: int | None = None) -> tuple[dict, dict]:
    """``(config, state_dict)`` of the Tab2D inside a single Mitra ONNX graph."""
    import numpy as np
    import onnx
    import torch
    from onnx import numpy_helper

    path = Path(path)
    if not path.is_file():
        raise ValidationError(f"ONNX model file not found: {path}")
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # onnx raises DecodeError and friends
        raise ValidationError(f"cannot read ONNX model {path}: {exc}") from exc
    graph = model.graph

    tensors = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    constants = {}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            constants[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
        elif node.op_type == "Identity" and node.input[0] in tensors:
            tensors[node.output[0]] = tensors[node.input[0]]

    # An initializer that kept its parameter name holds that parameter: the exporter only
    # shares one initializer between tensors of equal value.
    found: dict[str, np.ndarray] = {}
    for init in graph.initializer:
        key = init.name[len("model."):] if init.name.startswith("model.") else init.name
        found[key] = tensors[init.name]

    def keep(key: str, value: np.ndarray) -> None:
        found.setdefault(key, value)

    for node in graph.node:
        module = _module_path(node.name)
        if module is None:
            continue
        if node.op_type == "LayerNormalization" and len(node.input) >= 3:
            if node.input[1] in tensors and node.input[2] in tensors:
                keep(f"{module}.weight", tensors[node.input[1]])
                keep(f"{module}.bias", tensors[node.input[2]])
        elif node.op_type == "MatMul" and node.input[1] in tensors:
            keep(f"{module}.weight", tensors[node.input[1]].T)
        elif node.op_type == "Add":
            held = [tensors[name] for name in node.input if name in tensors]
            if len(held) == 1 and held[0].ndim == 1:
                keep(f"{module}.bias", held[0])
        elif node.op_type == "Gather" and node.input[0] in tensors:
            if tensors[node.input[0]].ndim == 2:
                keep(f"{module}.weight", tensors[node.input[0]])

    metadata = {p.key: p.value for p in model.metadata_props}
    if CONFIG_METADATA_KEY in metadata:
        config = json.loads(metadata[CONFIG_METADATA_KEY])
    else:
        try:
            dim = found["x_embedding.x_embedding.weight"].shape[0]
            dim_output = found["final_layer.bias"].shape[0]
        except KeyError:
            raise ValidationError(
                f"{path} is not a Mitra Tab2D graph exported from PyTorch"
            ) from None
        layers = {int(m.group(1)) for key in found if (m := _LAYER.match(key))}
        y_inputs = [i for i in graph.input if i.name == "y_support"]
        if not y_inputs:
            raise ValidationError(f"{path} has no y_support input: not a Mitra graph")
        is_int = y_inputs[0].type.tensor_type.elem_type == onnx.TensorProto.INT64
        config = {
            "dim": int(dim),
            "dim_output": int(dim_output),
            "n_layers": max(layers) + 1 if layers else 0,
            "n_heads": n_heads or _infer_heads(graph, constants, int(dim)) or 4,
            "task": "CLASSIFICATION" if is_int else "REGRESSION",
        }
    if n_heads is not None:
        config["n_heads"] = n_heads

    from .tab2d import Tab2D

    expected = Tab2D(**config).state_dict()
    missing = sorted(set(expected) - set(found))
    if missing:
        raise ValidationError(
            f"{path}: weights of {len(missing)} Tab2D parameters not found (e.g. {missing[:4]}); "
            "only graphs exported by PyTorch from Tab2D keep the names needed"
        )
    state_dict = {
        key: torch.from_numpy(np.array(found[key], dtype=np.float32, order="C", copy=True))
        for key in expected
    }
    return config, state_dict
