"""Reading a Tab2D graph's sizes from its ONNX bytes without the ``onnx`` package.

Only the protobuf wire format is walked: ModelProto.graph (field 7) -> GraphProto.initializer
(field 5) -> TensorProto.dims (1) and .name (8), GraphProto.input (11) -> ValueInfoProto.name
(1), and ModelProto.metadata_props (14) -> key (1) / value (2). Tensor data is skipped, never
copied.
"""

from __future__ import annotations

import json

from ._chunking import ModelShape

#: What upstream's released models use; assumed when a graph does not say.
FULL_SIZE = ModelShape(dim=512, n_heads=4, n_slots=10)


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _fields(buf: memoryview, start: int = 0, end: int | None = None):
    """Yield (field number, wire type, value or (start, end) for length-delimited fields)."""
    pos, end = start, len(buf) if end is None else end
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
            yield number, wire, value
        elif wire == 2:
            length, pos = _varint(buf, pos)
            yield number, wire, (pos, pos + length)
            pos += length
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")


def _submessages(buf: memoryview, field: int, start: int = 0, end: int | None = None):
    """The (start, end) spans of every length-delimited ``field`` in ``buf[start:end]``."""
    for number, wire, span in _fields(buf, start, end):
        if number == field and wire == 2:
            yield span


def _text(buf: memoryview, span: tuple[int, int]) -> str:
    return bytes(buf[span[0] : span[1]]).decode("utf-8", "replace")


_GRAPH, _INITIALIZER, _INPUT, _METADATA = 7, 5, 11, 14  # ModelProto / GraphProto fields


def initializer_dims(model_bytes: bytes | memoryview) -> dict[str, tuple[int, ...]]:
    """Name -> dims of every initializer in the main graph."""
    buf = memoryview(model_bytes)
    out: dict[str, tuple[int, ...]] = {}
    for graph in _submessages(buf, _GRAPH):
        for tensor in _submessages(buf, _INITIALIZER, *graph):
            dims: list[int] = []
            name = ""
            for number, wire, value in _fields(buf, *tensor):
                if number == 1 and wire == 0:
                    dims.append(value)
                elif number == 1 and wire == 2:  # packed dims
                    p, e = value
                    while p < e:
                        d, p = _varint(buf, p)
                        dims.append(d)
                elif number == 8 and wire == 2:
                    name = _text(buf, value)
            out[name] = tuple(dims)
    return out


def graph_input_names(model_bytes: bytes | memoryview) -> list[str]:
    """The main graph's input names, in order."""
    buf = memoryview(model_bytes)
    return [_text(buf, name)
            for graph in _submessages(buf, _GRAPH)
            for value_info in _submessages(buf, _INPUT, *graph)
            for name in _submessages(buf, 1, *value_info)]


def metadata(model_bytes: bytes | memoryview) -> dict[str, str]:
    """The model's metadata properties (``key -> value``)."""
    buf = memoryview(model_bytes)
    out: dict[str, str] = {}
    for entry in _submessages(buf, _METADATA):
        fields = {n: _text(buf, v) for n, w, v in _fields(buf, *entry) if w == 2}
        out[fields.get(1, "")] = fields.get(2, "")
    return out


def _shape_from_config(model_bytes: bytes | memoryview, slots: int) -> ModelShape | None:
    # Graphs written by our converter carry their config; the JS package's do not.
    try:
        config = json.loads(metadata(model_bytes).get("mitra.config", "null"))
        return ModelShape(dim=int(config["dim"]), n_heads=int(config["n_heads"]), n_slots=slots)
    except (ValueError, TypeError, KeyError):
        return None


def model_shape(model_bytes: bytes | memoryview | None, classification: bool) -> ModelShape:
    """The graph's sizes; upstream's full size for anything that cannot be read."""
    slots = FULL_SIZE.n_slots if classification else 1
    if model_bytes is None:
        return ModelShape(FULL_SIZE.dim, FULL_SIZE.n_heads, slots)
    try:
        shape = _shape_from_config(model_bytes, slots)
        if shape is not None:
            return shape
        dims = initializer_dims(model_bytes)
    except (ValueError, IndexError):
        dims = {}
    # Initializer names are the state-dict keys, with a prefix when the exported module wraps
    # the model (our encoder and decoder graphs do).
    for suffix, axis in (("x_embedding.x_embedding.bias", 0), ("y_embedding.y_mask.weight", 1)):
        for name, shape_dims in dims.items():
            if name.endswith(suffix) and len(shape_dims) > axis:
                # The head count is not stored in any initializer; every released model uses 4.
                return ModelShape(dim=shape_dims[axis], n_heads=FULL_SIZE.n_heads, n_slots=slots)
    return ModelShape(FULL_SIZE.dim, FULL_SIZE.n_heads, slots)
