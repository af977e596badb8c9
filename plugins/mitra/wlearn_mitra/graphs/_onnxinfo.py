"""Reading a Tab2D graph's sizes from its ONNX bytes without the ``onnx`` package.

Only the protobuf wire format is walked: ModelProto.graph (field 7) -> GraphProto.initializer
(field 5) -> TensorProto.dims (1) and .name (8), GraphProto.input (11) -> ValueInfoProto.name
(1), and ModelProto.metadata_props (14) -> key (1) / value (2). Tensor data is skipped, never
copied.
"""

from __future__ import annotations

import json
import mmap
import weakref
from dataclasses import dataclass
from typing import Mapping, NamedTuple

from wlearn.errors import ValidationError

from ..inputs._bins import check_n_bins
from ..inputs._manyclass import HEAD


@dataclass(frozen=True)
class ModelShape:
    """The sizes of a Tab2D graph that decide its activation memory."""

    dim: int
    n_heads: int
    n_slots: int  # logits per row (classifier) or 1 (regressor)


#: What upstream's released models use; assumed when a graph does not say.
FULL_SIZE = ModelShape(dim=512, n_heads=4, n_slots=10)


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    value = 0
    # Protobuf varints hold at most 64 bits (10 bytes); reading on through a run of
    # continuation bytes would build an ever larger integer, quadratic in the run's length.
    for shift in range(0, 70, 7):
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
    raise ValueError(f"protobuf varint longer than 10 bytes at offset {pos - 10}")


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
    """Name -> dims of every initializer in the main graph (see :func:`read_model`)."""
    return _part(read_model(model_bytes, locations=False).dims)


def graph_input_names(model_bytes: bytes | memoryview) -> list[str]:
    """The main graph's input names, in order."""
    buf = memoryview(model_bytes)
    return [_text(buf, name)
            for graph in _submessages(buf, _GRAPH)
            for value_info in _submessages(buf, _INPUT, *graph)
            for name in _submessages(buf, 1, *value_info)]


def metadata(model_bytes: bytes | memoryview) -> dict[str, str]:
    """The model's metadata properties (``key -> value``; see :func:`read_model`)."""
    return _part(read_model(model_bytes, locations=False).metadata)


def _positive_int(value: object) -> int | None:
    # bool is an int, and a float such as 32.0 is how some writers spell an integer
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not (value.is_integer() and value < 2**63):
        return None
    return int(value) if value >= 1 else None


def _shape_from_config(model_bytes: bytes | memoryview, slots: int) -> ModelShape | None:
    try:
        properties = metadata(model_bytes)
    except (ValueError, RecursionError):  # as a config that does not parse
        return None
    return _shape_in_metadata(properties, slots)


def _shape_in_metadata(properties: Mapping[str, str], slots: int) -> ModelShape | None:
    # Graphs written by our converter carry their config; the JS package's do not.
    try:
        config = json.loads(properties.get("mitra.config", "null"))
    except (ValueError, RecursionError):  # RecursionError: "[[[[..." nested past the stack
        return None
    if not isinstance(config, dict):
        return None
    dim, n_heads = _positive_int(config.get("dim")), _positive_int(config.get("n_heads"))
    if dim is None or n_heads is None:
        return None
    return ModelShape(dim=dim, n_heads=n_heads, n_slots=slots)


def session_shape(properties: Mapping[str, str], classification: bool) -> ModelShape:
    """The sizes of a graph known only by its metadata properties (an ONNX Runtime session's
    ``get_modelmeta().custom_metadata_map``): its ``mitra.config``, else upstream's full size."""
    slots = FULL_SIZE.n_slots if classification else 1
    shape = _shape_in_metadata(properties, slots)
    return shape if shape is not None else ModelShape(FULL_SIZE.dim, FULL_SIZE.n_heads, slots)


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
            if name.endswith(suffix) and len(shape_dims) > axis and shape_dims[axis] >= 1:
                # The head count is not stored in any initializer; every released model uses 4.
                return ModelShape(dim=shape_dims[axis], n_heads=FULL_SIZE.n_heads, n_slots=slots)
    return ModelShape(FULL_SIZE.dim, FULL_SIZE.n_heads, slots)


# Where a tensor can sit: GraphProto.initializer (5), .sparse_initializer (15), .node (1) ->
# NodeProto.attribute (5) -> AttributeProto.t (5), .tensors (10), .sparse_tensor (22),
# .sparse_tensors (23), .g (6), .graphs (11); SparseTensorProto.values (1), .indices (2);
# ModelProto.functions (25) -> FunctionProto.node (7).
_GRAPH_NODE, _GRAPH_SPARSE = 1, 15
_ATTRIBUTE, _ATTR_TENSOR, _ATTR_TENSORS, _ATTR_GRAPH, _ATTR_GRAPHS = 5, 5, 10, 6, 11
_ATTR_SPARSE, _ATTR_SPARSES = 22, 23
_FUNCTIONS, _FUNCTION_NODE = 25, 7
_EXTERNAL_DATA, _DATA_LOCATION, _EXTERNAL = 13, 14, 1  # TensorProto fields, DataLocation
#: Subgraphs nested deeper than this are refused rather than walked.
MAX_GRAPH_DEPTH = 64


def _tensor_location(buf: memoryview, span: tuple[int, int],
                     dims: dict[str, tuple[int, ...]] | None = None) -> str | None:
    """A TensorProto's external data location (None when its data is inside the file); with
    ``dims``, its name -> dims are put there too, from the same read of its fields."""
    external, location = False, None
    shape: list[int] = []
    name = ""
    for number, wire, value in _fields(buf, *span):
        if number == _DATA_LOCATION and wire == 0:
            external = value == _EXTERNAL
        elif number == _EXTERNAL_DATA and wire == 2:
            entry = {n: _text(buf, v) for n, w, v in _fields(buf, *value) if w == 2}
            if entry.get(1) == "location":
                location = entry.get(2, "")
        elif dims is not None and number == 1 and wire == 0:
            shape.append(value)
        elif dims is not None and number == 1 and wire == 2:  # packed dims
            p, e = value
            while p < e:
                d, p = _varint(buf, p)
                shape.append(d)
        elif dims is not None and number == 8 and wire == 2:
            name = _text(buf, value)
    if dims is not None:
        dims[name] = tuple(shape)
    return location if external else None


def external_locations(model_bytes: bytes | memoryview) -> list[str]:
    """The ``location`` of every tensor stored outside the model file (ONNX external data),
    each once, in order of appearance: initializers, sparse initializers and tensors in node
    attributes, in the main graph, its subgraphs and the model's functions.

    Raises ValueError for bytes that are not a readable protobuf or nest graphs deeper than
    :data:`MAX_GRAPH_DEPTH` (see :func:`read_model`).
    """
    return list(_part(read_model(model_bytes).locations))


class ModelFacts(NamedTuple):
    """What one read of a model's protobuf finds; each part is the error that reading it
    raised instead, when it did (so each reader fails as it would alone)."""

    metadata: "dict[str, str] | Exception"
    dims: "dict[str, tuple[int, ...]] | Exception"
    locations: "list[str] | Exception | None"  #: None: not looked for


def _part(value):
    if isinstance(value, Exception):
        raise value
    return value


#: The last model read: (a weak reference to its buffer, what was found). Opening a model asks
#: for its identity (external data), sizes and metadata from the same buffer: one read.
_last: "tuple[weakref.ref, ModelFacts] | None" = None


def read_model(model_bytes: bytes | memoryview, locations: bool = True) -> ModelFacts:
    """The model's metadata, its main graph's initializer dims and its external data
    locations, from one walk of the protobuf (tensor data skipped, never copied). A buffer
    read last time is not read again. ``locations=False``: the locations are not looked
    for (``ModelFacts.locations`` is None), which spares a search through every byte."""
    global _last
    last = _last
    if (last is not None and isinstance(model_bytes, memoryview) and last[0]() is model_bytes
            and (last[1].locations is not None or not locations)):
        return last[1]
    # Without the bytes of the key "location" nowhere can a tensor name an external file:
    # the walk through every node's attributes (most of a large model's fields) is skipped.
    external = locations and _may_name_external_data(model_bytes)
    buf = memoryview(model_bytes)
    meta: dict | Exception = {}
    dims: dict | Exception = {}
    in_graphs: dict[str, None] = {}
    in_functions: dict[str, None] = {}
    failed: Exception | None = None
    graph, nodes = _location_walk(buf, external)
    try:
        for number, wire, span in _fields(buf):
            if wire != 2:
                continue
            if number == _GRAPH:
                # the main graph's initializers give their dims in the same visit that looks
                # for external data; an error among them fails both, one in the nodes only
                # the external data
                want_dims = not isinstance(dims, Exception)
                if want_dims or failed is None:
                    read: list = []
                    try:
                        graph(span, 0, in_graphs if failed is None else {},
                              dims if want_dims else None, read)
                    except (ValueError, IndexError) as exc:
                        failed = failed or exc
                        if want_dims and not read:
                            dims = exc
            elif number == _METADATA and not isinstance(meta, Exception):
                try:
                    fields = {n: _text(buf, v) for n, w, v in _fields(buf, *span) if w == 2}
                    meta[fields.get(1, "")] = fields.get(2, "")
                except (ValueError, IndexError) as exc:
                    meta = exc
            elif number == _FUNCTIONS and failed is None and external:
                try:
                    nodes(span, _FUNCTION_NODE, 0, in_functions)
                except (ValueError, IndexError) as exc:
                    failed = exc
    except (ValueError, IndexError) as exc:  # the model itself is no readable protobuf
        meta = meta if isinstance(meta, Exception) else exc
        dims = dims if isinstance(dims, Exception) else exc
        failed = failed or exc
    finally:
        buf.release()  # the nested walkers hold it in a cycle; a mapped file must close
    found: list | Exception | None = (None if not locations else failed if failed is not None
                                      else list({**in_graphs, **in_functions}))
    facts = ModelFacts(meta, dims, found)
    if isinstance(model_bytes, memoryview):
        _last = (weakref.ref(model_bytes), facts)
    return facts


def _may_name_external_data(model_bytes: bytes | memoryview) -> bool:
    """False when the model's bytes hold no ``location`` at all (a C-speed search), which
    proves that no tensor keeps its data outside the file: external data is named by an
    ``external_data`` entry whose key is that word. True when it may (or cannot be told)."""
    whole = model_bytes.obj if isinstance(model_bytes, memoryview) else model_bytes
    if not isinstance(whole, (bytes, mmap.mmap)) or len(whole) != len(model_bytes):
        return True
    return whole.find(_LOCATION_KEY) >= 0


_LOCATION_KEY = b"location"


def _location_walk(buf: memoryview, external: bool = True):
    """The walkers of :func:`read_model` that find external data locations (``external``
    False: the main graph's initializers only, read for their dims)."""

    def tensor(span: tuple[int, int], found: dict, dims: dict | None = None) -> None:
        location = _tensor_location(buf, span, dims)
        if location is not None:
            found.setdefault(location)

    def sparse(span: tuple[int, int], found: dict) -> None:
        for part in (1, 2):
            for inner in _submessages(buf, part, *span):
                tensor(inner, found)

    def nodes(span: tuple[int, int], field: int, depth: int, found: dict) -> None:
        for node in _submessages(buf, field, *span):
            for attribute in _submessages(buf, _ATTRIBUTE, *node):
                for number, wire, value in _fields(buf, *attribute):
                    if wire != 2:
                        continue
                    if number in (_ATTR_TENSOR, _ATTR_TENSORS):
                        tensor(value, found)
                    elif number in (_ATTR_SPARSE, _ATTR_SPARSES):
                        sparse(value, found)
                    elif number in (_ATTR_GRAPH, _ATTR_GRAPHS):
                        graph(value, depth + 1, found)

    def graph(span: tuple[int, int], depth: int, found: dict, dims: dict | None = None,
              read: list | None = None) -> None:
        """``dims``: the main graph's initializer dims go there; ``read`` is marked once
        they are all read."""
        if depth > MAX_GRAPH_DEPTH:
            raise ValueError(f"subgraphs nested deeper than {MAX_GRAPH_DEPTH}")
        for initializer in _submessages(buf, _INITIALIZER, *span):
            tensor(initializer, found, dims)
        if read is not None:
            read.append(True)
        if not external:
            return
        for initializer in _submessages(buf, _GRAPH_SPARSE, *span):
            sparse(initializer, found)
        nodes(span, _GRAPH_NODE, depth, found)

    return graph, nodes


#: The metadata entry in which the converter records a graph's Tab2D config.
CONFIG_METADATA_KEY = "mitra.config"
#: The metadata entry in which the converter records, in each graph of a split pair, the
#: SHA-256 of the single graph written with it: the pair serves that model and no other.
SINGLE_SHA256_METADATA_KEY = "wlearn.single_sha256"


def readable_metadata(model_bytes: bytes | memoryview) -> Mapping[str, str]:
    """The graph's metadata properties (:func:`metadata`), empty when they cannot be read: a
    graph whose metadata does not parse declares nothing (:func:`bins_in_metadata`,
    :func:`node_classes_in_metadata`)."""
    try:
        return metadata(model_bytes)
    except (ValueError, IndexError, RecursionError):
        return {}


def bins_in_metadata(properties: Mapping[str, str]) -> int | None:
    """The number of value bins a graph declares, or None when it is no bin-head regressor,
    from its metadata properties (``key -> value``, as :func:`readable_metadata` reads them or
    an ONNX Runtime session's ``custom_metadata_map`` gives them).

    A graph is a bin-head regressor when its ``mitra.config`` metadata (the checkpoint's
    config, written by the converter) says ``task`` REGRESSION with ``dim_output`` above 1:
    its ``y_support`` then takes int64 bin ids and its output is [B, Q, dim_output] logits.
    Raises ValidationError when that config declares an unusable number of bins.
    """
    try:
        config = json.loads(properties.get(CONFIG_METADATA_KEY, "null"))
    except (ValueError, IndexError, RecursionError):
        return None
    if not isinstance(config, dict):
        return None
    task = str(config.get("task", "")).upper().removeprefix("TASK.")
    n_bins = config.get("dim_output")
    if task != "REGRESSION" or n_bins == 1:
        return None
    try:
        return check_n_bins(n_bins)
    except ValidationError as exc:
        raise ValidationError(f"the graph's {CONFIG_METADATA_KEY} metadata: {exc}") from None


#: The metadata entry in which a classifier graph declares the ``max_node_classes`` its
#: estimators default to (a decimal integer, 2..10; spec/mitra-onnx.md "Declared defaults").
NODE_CLASSES_METADATA_KEY = "wlearn.max_node_classes"


def node_classes_in_metadata(properties: Mapping[str, str]) -> int | None:
    """The ``max_node_classes`` a graph declares, or None when it declares none, from its
    metadata properties (as :func:`bins_in_metadata`). Raises ValidationError for a
    declaration that is not 2..10 in decimal."""
    text = properties.get(NODE_CLASSES_METADATA_KEY)
    if text is None:
        return None
    if text not in _DECLARABLE:
        raise ValidationError(
            f"the graph's {NODE_CLASSES_METADATA_KEY} metadata must be an integer from 2 to "
            f"{HEAD} written in decimal, got {text[:40]!r}")
    return _DECLARABLE[text]


_DECLARABLE = {str(m): m for m in range(2, HEAD + 1)}

#: The metadata entry in which a graph declares the ``target_encoding`` its estimators default
#: to ("true" or "false", nothing else; spec/mitra-onnx.md "Declared defaults").
TARGET_ENCODING_METADATA_KEY = "wlearn.target_encoding"


def target_encoding_in_metadata(properties: Mapping[str, str]) -> bool | None:
    """The ``target_encoding`` a graph declares, or None when it declares none, from its
    metadata properties. Raises ValidationError for a declaration other than "true" or
    "false"."""
    text = properties.get(TARGET_ENCODING_METADATA_KEY)
    if text is None:
        return None
    if text not in ("true", "false"):
        raise ValidationError(
            f"the graph's {TARGET_ENCODING_METADATA_KEY} metadata must be \"true\" or "
            f"\"false\", got {text[:40]!r}")
    return text == "true"
