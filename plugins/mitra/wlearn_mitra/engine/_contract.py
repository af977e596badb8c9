"""Private: Mitra's graph contract, what a graph must take and give to be run as Mitra.

The inputs and output of the single graph and of the split pair (names from
:mod:`wlearn_mitra.graphs._layout`), their element types and ranks, and the shape a run's output
must have. Checked once, when a graph set is opened (:mod:`._graphset`), and on every output.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from wlearn.errors import ValidationError

from ..graphs._layout import cache_layers
from ..graphs._modelfile import buffer
from ..graphs._onnxinfo import graph_input_names
from ..runtimes._graph import Arg, Graph

#: The classifier graph always emits this many logits per query row.
MAX_CLASSES = 10


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


def _describe(arg: Arg) -> str:
    kind = _onnx_type(arg.dtype)
    return kind if arg.shape is None else f"{kind} of rank {len(arg.shape)}"


def _fixed(arg: Arg) -> list[tuple[int, int]]:
    """Sizes fixed in the graph, other than a batch of 1: Mitra's axes are all dynamic."""
    return [] if arg.shape is None else [
        (axis, size) for axis, size in enumerate(arg.shape)
        if size is not None and not (axis == 0 and size == 1)
    ]


def check_inputs(graph: Graph, required: tuple[str, ...], what: str) -> dict:
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


def check_output(graph: Graph, rank: int, what: str) -> None:
    arg = graph.outputs.get("output")
    if arg is None:
        raise ValidationError(f"ONNX model is not a Mitra {what}: it has no output 'output' "
                              f"(outputs: {list(graph.outputs)})")
    if arg.dtype != "float32" or (arg.shape is not None and len(arg.shape) != rank):
        raise ValidationError(f"ONNX model is not a Mitra {what}: output 'output' is "
                              f"{_describe(arg)}, expected tensor(float) of rank {rank}")


STACKED = (
    "the query decoder takes all layers' keys/values as one stacked tensor (the converter's "
    "older layout, which needs twice their memory); write the pair again with "
    "`wlearn-mitra convert --split`, or remove it to let the engine cut the pair out of the "
    "single graph"
)


def cache_names_between(encoder: Graph, decoder: Graph) -> tuple:
    """The tensors passed from encoder to decoder: the decoder's inputs after ``x_query``."""
    inputs = list(decoder.inputs)
    if "x_query" not in inputs:
        raise ValidationError(f"ONNX model is not a Mitra query decoder: its inputs are {inputs}")
    if cache_layers(inputs) is None and {"keys", "values"} <= set(inputs):
        raise ValidationError(STACKED)
    names = tuple(name for name in inputs if name != "x_query")
    missing = [n for n in names if n not in encoder.outputs]
    if missing:
        raise ValidationError(f"the support encoder lacks the decoder's inputs {missing}")
    return names


def stacked(decoder: Path) -> bool:
    """Whether a decoder file takes all layers' keys/values stacked (read, not loaded)."""
    try:
        with buffer(decoder) as view:
            inputs = graph_input_names(view)
    except (ValueError, IndexError):
        return False  # not readable here: the runtime will say what is wrong with it
    return cache_layers(inputs) is None and {"keys", "values"} <= set(inputs)


def y_dtype(graph: Graph, required: tuple[str, ...], what: str) -> type:
    inputs = check_inputs(graph, required, what)
    return np.int64 if inputs["y_support"] == "int64" else np.float32




def output_shape(classification: bool, n_bins: int | None, n_query: int) -> tuple[int, ...]:
    """The shape a run's output must have: [1, Q, 10] logits, [1, Q, n_bins] bin logits or
    [1, Q] values (a graph declares its output's rank, not its sizes)."""
    if n_bins:
        return (1, n_query, n_bins)
    return (1, n_query, MAX_CLASSES) if classification else (1, n_query)
