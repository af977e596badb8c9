"""The support encoder and query decoder cut out of any single Mitra graph, with ``onnx`` alone.

Query rows never reach the support side of Tab2D, so every tensor of the single graph depends
on the support inputs only, on ``x_query`` (and maybe the support too), or on neither (weights,
constants). The tensors of the first kind that a query-dependent node reads are the *frontier*:
everything the query side needs from the support set (the bucketing statistics, each layer's
row-attention keys and values, a few shape scalars). The encoder is the graph that computes the
frontier from the support inputs; the decoder is the rest, with the frontier as inputs beside
``x_query``. Both keep the single graph's nodes and weights untouched, so the pair computes the
same arithmetic as the single graph (within the rounding of fusions that ONNX Runtime or
OpenVINO applies on either side of the cut), whoever exported it: the JS package's graphs and
ours alike. No torch is needed, unlike re-exporting the weights.

Derived pairs are kept under the single graph's identity (:func:`derived_paths`), written
atomically, with the weights in the ``.onnx`` file or, past 64 MB, in one external ``.data``
file beside it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from wlearn.errors import ValidationError

from ..exceptions import MissingDependencyError
from ._cachedir import EXTERNAL_WEIGHTS_BYTES, SURGERY_VERSION, derived_paths
from ._layout import ENCODER_INPUTS

_SUPPORT, _QUERY = 1, 2


def _needs_onnx() -> None:
    try:
        import onnx  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError(
            "cutting the support cache out of a graph needs the onnx package", "cache",
            detail=str(exc)) from exc


def _dependence(graph) -> dict[str, int]:
    """Tensor name -> bit set of the input kinds (support, query) it depends on."""
    kinds = {value.name: 0 for value in graph.initializer}
    for value in graph.input:
        if value.name not in kinds:  # an input shadowed by an initializer is a constant
            kinds[value.name] = _SUPPORT if value.name in ENCODER_INPUTS else _QUERY
    for node in graph.node:
        kind = 0
        for name in node.input:
            if name:
                kind |= kinds.get(name, 0)
        for name in node.output:
            kinds[name] = kind
    return kinds


def _closure(graph, targets: list[str], stops: set[str]) -> list:
    """The nodes needed for ``targets``, in graph order, not looking behind ``stops``."""
    producer = {name: index for index, node in enumerate(graph.node) for name in node.output}
    wanted: set[int] = set()
    pending = [name for name in targets if name not in stops]
    seen = set(pending)
    while pending:
        index = producer.get(pending.pop())
        if index is None or index in wanted:
            continue
        wanted.add(index)
        for name in graph.node[index].input:
            if name and name not in stops and name not in seen:
                seen.add(name)
                pending.append(name)
    return [node for index, node in enumerate(graph.node) if index in wanted]


def _value_info(name: str, types: dict, rename: str | None = None):
    """A value info for ``name`` with its element type and the shape inference found (fixed
    sizes kept: OpenVINO's attention fusions need the head sizes; the rest dynamic)."""
    from onnx import helper

    if name not in types:
        raise ValidationError(f"cannot tell the type of the graph's tensor {name!r}")
    elem_type, shape = types[name]
    return helper.make_tensor_value_info(rename or name, elem_type, shape)


def _types(model) -> dict[str, tuple[int, list | None]]:
    """Element type and shape (sizes, axis names or None per axis) of every tensor, from ONNX
    shape inference."""
    from onnx import shape_inference

    inferred = shape_inference.infer_shapes(model, strict_mode=False)
    graph = inferred.graph
    out = {}
    for value in (*graph.input, *graph.output, *graph.value_info):
        tensor = value.type.tensor_type
        if tensor.elem_type:
            shape = None
            if tensor.HasField("shape"):
                shape = [dim.dim_value if dim.HasField("dim_value")
                         else (dim.dim_param or None) for dim in tensor.shape.dim]
            out[value.name] = (tensor.elem_type, shape)
    for init in graph.initializer:
        out[init.name] = (init.data_type, list(init.dims))
    return out


def cut(model) -> tuple[object, object, list[str]]:
    """Split a single Mitra graph (an ``onnx.ModelProto``) into (encoder, decoder, cache).

    ``cache`` names the frontier tensors, in the decoder's input order after ``x_query``;
    they are the encoder's outputs. Raises ValidationError for a graph that is not a single
    Mitra graph or that the cut cannot handle (subgraphs, no query-independent work).
    """
    from onnx import helper

    graph = model.graph
    names = [value.name for value in graph.input]
    missing = [name for name in (*ENCODER_INPUTS, "x_query") if name not in names]
    if missing:
        raise ValidationError(f"not a single Mitra graph: inputs {missing} are missing")
    if any(attr.type in (attr.GRAPH, attr.GRAPHS) for node in graph.node for attr in node.attribute):
        raise ValidationError("the graph has control-flow subgraphs, which the cut does not follow")
    kinds = _dependence(graph)
    frontier: list[str] = []
    for node in graph.node:
        if any(kinds.get(name, 0) & _QUERY for name in node.input if name):
            for name in node.input:
                if name and kinds.get(name) == _SUPPORT and name not in frontier:
                    frontier.append(name)
    if not frontier:
        raise ValidationError("no support-only work to cache in this graph")
    outputs = [value.name for value in graph.output]
    if any(not kinds.get(name, 0) & _QUERY for name in outputs):
        raise ValidationError("the graph's output does not depend on the query rows")
    types = _types(model)
    # A frontier tensor that is itself a graph input leaves the encoder under a name of its own.
    renamed = {name: f"{name}.cached" if name in names else name for name in frontier}

    enc_nodes = _closure(graph, frontier, set(ENCODER_INPUTS))
    enc_nodes += [helper.make_node("Identity", [name], [renamed[name]])
                  for name in frontier if renamed[name] != name]
    dec_nodes = _closure(graph, outputs, {*frontier, "x_query"})

    def build(nodes, inputs, outputs_, role):
        used = {name for node in nodes for name in node.input}
        used |= {value.name for value in outputs_}
        initializers = [init for init in graph.initializer if init.name in used]
        made = helper.make_graph(nodes, f"{graph.name or 'mitra'}_{role}", inputs, outputs_,
                                 initializer=initializers)
        derived = helper.make_model(made, opset_imports=list(model.opset_import),
                                    ir_version=model.ir_version, producer_name="wlearn-mitra")
        for entry in model.metadata_props:
            if entry.key != "mitra.graph":
                derived.metadata_props.add().CopyFrom(entry)
        for key, value in (("mitra.graph", role), ("mitra.split", f"derived{SURGERY_VERSION}")):
            prop = derived.metadata_props.add()
            prop.key, prop.value = key, value
        return derived

    by_name = {value.name: value for value in graph.input}
    encoder = build(
        enc_nodes,
        [by_name[name] for name in ENCODER_INPUTS],
        [_value_info(name, types, renamed[name]) for name in frontier],
        "encoder",
    )
    decoder_nodes = [_rewired(node, renamed) for node in dec_nodes]
    decoder = build(
        decoder_nodes,
        [by_name["x_query"], *(_value_info(name, types, renamed[name]) for name in frontier)],
        list(graph.output),
        "decoder",
    )
    return encoder, decoder, [renamed[name] for name in frontier]


def _rewired(node, renamed: dict[str, str]):
    if not any(renamed.get(name, name) != name for name in node.input):
        return node
    copy = type(node)()
    copy.CopyFrom(node)
    copy.input[:] = [renamed.get(name, name) for name in node.input]
    return copy


def _save(model, path: Path) -> None:
    import onnx

    if model.ByteSize() > EXTERNAL_WEIGHTS_BYTES:  # (protobuf itself stops at 2 GB)
        onnx.save_model(model, str(path), save_as_external_data=True,
                        all_tensors_to_one_file=True, location=f"{path.name}.data")
    else:
        onnx.save_model(model, str(path))


#: Two small support sets (batch, rows, features) whose sizes share no factor, run through the
#: encoder to learn which axes of the cache tensors are fixed by the weights.
_PROBES = ((1, 5, 2), (2, 7, 4))


def _measured_shapes(encoder: Path, names: list[str]) -> dict[str, list]:
    """The cache tensors' shapes, measured: an axis that differs between the two probes is
    dynamic (None); one that does not is fixed. ONNX shape inference cannot be trusted here
    (it calls some [1]-shaped tensors of exporters' shape arithmetic scalars), and OpenVINO
    needs the fixed sizes right."""
    import numpy as np
    import onnxruntime as ort

    session = ort.InferenceSession(str(encoder), providers=["CPUExecutionProvider"])
    integer = "int64" in {i.name: i.type for i in session.get_inputs()}["y_support"]
    rng = np.random.default_rng(0)
    runs = []
    for batch, rows, features in _PROBES:
        y = (np.arange(batch * rows).reshape(batch, rows) % 2).astype(np.int64 if integer
                                                                       else np.float32)
        feeds = {"x_support": rng.normal(size=(batch, rows, features)).astype(np.float32),
                 "y_support": y, "padding_obs_support": np.zeros((batch, rows), bool)}
        runs.append([a.shape for a in session.run(names, feeds)])
    del session
    shapes = {}
    for name, first, second in zip(names, *runs):
        if len(first) != len(second):
            raise ValidationError(f"the cached tensor {name!r} changes rank with the input size")
        shapes[name] = [a if a == b else None for a, b in zip(first, second)]
    return shapes


def _set_shapes(values, shapes: dict[str, list]) -> None:
    for value in values:
        if value.name in shapes:
            dims = value.type.tensor_type.shape.dim
            del dims[:]
            for size in shapes[value.name]:
                dim = dims.add()
                if size is not None:
                    dim.dim_value = size


def derive_pair(single: bytes | Path, folder: Path, identity: str) -> tuple[Path, Path]:
    """Cut the single graph ``single`` (bytes or path, external data beside it included) into
    the encoder/decoder pair and keep it in ``folder`` under ``identity``; returns the paths.

    Needs the ``onnx`` package (the ``cache`` extra). Nothing half-written is ever left under
    the final names: the files are written in a scratch folder and moved in, decoder first,
    since a pair is only looked for once its encoder exists.
    """
    _needs_onnx()
    import onnx

    try:
        if isinstance(single, bytes):
            model = onnx.load_model_from_string(single)
        else:
            model = onnx.load_model(str(single))
    except Exception as exc:  # onnx raises DecodeError, OSError, ValueError
        raise ValidationError(f"cannot read the ONNX graph to cut the support cache: {exc}") from exc
    encoder, decoder, names = cut(model)
    del model
    targets = derived_paths(folder, identity)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as scratch:
        temps = [Path(scratch) / target.name for target in targets]
        _save(encoder, temps[0])
        shapes = _measured_shapes(temps[0], names)
        _set_shapes(encoder.graph.output, shapes)
        _set_shapes(decoder.graph.input, shapes)
        _save(encoder, temps[0])
        del encoder
        _save(decoder, temps[1])
        del decoder
        for temp, target in zip(temps[::-1], targets[::-1]):
            data = temp.with_name(f"{temp.name}.data")
            if data.exists():
                os.replace(data, target.with_name(data.name))
            os.replace(temp, target)
    return targets
