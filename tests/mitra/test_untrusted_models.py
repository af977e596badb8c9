"""ONNX models that are not what they claim: each case is a fuzzer finding, minimised.

Before the fixes, each of these escaped the model checks as a raw exception (RecursionError,
UnicodeDecodeError, ONNX Runtime's InvalidArgument at the first prediction), planned chunks
for a zero-width model, or returned probabilities that do not sum to 1.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from wlearn.errors import ValidationError
from wlearn_mitra.graphs import _onnxinfo
from wlearn_mitra.engine import MitraEngine

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

FLOAT, INT64, BOOL = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL
MITRA_INPUTS = {
    "x_support": (FLOAT, ["b", "s", "f"]),
    "y_support": (INT64, ["b", "s"]),
    "x_query": (FLOAT, ["b", "q", "f"]),
    "padding_obs_support": (BOOL, ["b", "s"]),
}


def _graph(inputs=None, *, width: int | None = 10, output_shape=("b", "q", 10), metadata=None,
           dims=(4,)) -> bytes:
    """A graph with Mitra's signature whose output is x_query's row sums, ``width`` wide
    (``width=None``: the sums alone, [b, q])."""
    inputs = MITRA_INPUTS if inputs is None else inputs
    zeros = helper.make_tensor("zeros", FLOAT, [width or 1], [0.0] * (width or 1))
    axes = helper.make_tensor("axes", INT64, [1], [2])
    bias = helper.make_tensor("x_embedding.x_embedding.bias", FLOAT, list(dims),
                              [0.0] * int(np.prod(dims)))
    graph = helper.make_graph(
        [helper.make_node("ReduceSum", ["x_query", "axes"], ["output"], keepdims=0)]
        if width is None else
        [helper.make_node("ReduceSum", ["x_query", "axes"], ["summed"], keepdims=1),
         helper.make_node("Add", ["summed", "zeros"], ["output"])],
        "g",
        [helper.make_tensor_value_info(n, t, s) for n, (t, s) in inputs.items()],
        [helper.make_tensor_value_info("output", FLOAT, list(output_shape))],
        [zeros, axes, bias],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if metadata is not None:
        helper.set_model_props(model, metadata)
    return model.SerializeToString()


def _predict(engine: MitraEngine) -> np.ndarray:
    rng = np.random.default_rng(0)
    return engine.predict(rng.normal(size=(6, 3)), np.array([0, 1, 2, 0, 1, 2]),
                          rng.normal(size=(2, 3)), n_classes=3)


def test_a_plain_graph_with_mitras_signature_runs():
    # the baseline the cases below break one thing of
    proba = _predict(MitraEngine(_graph(), task="classification", split=None))
    np.testing.assert_allclose(proba, np.full((2, 3), 1 / 3))


@pytest.mark.parametrize("inputs, message", [
    ({**MITRA_INPUTS, "keys": (FLOAT, ["l", "s"])}, r"also takes inputs \['keys'\]"),
    ({**MITRA_INPUTS, "x_support": (FLOAT, ["b", "s"])}, "'x_support' is tensor.float. of rank 2"),
    ({**MITRA_INPUTS, "padding_obs_support": (FLOAT, ["b", "s"])}, "'padding_obs_support'"),
    ({**MITRA_INPUTS, "x_support": (FLOAT, ["b", "s", 10])}, "axis 2 fixed to 10"),
])
def test_graphs_the_engine_cannot_feed_are_refused_when_opened(inputs, message):
    with pytest.raises(ValidationError, match=message):
        MitraEngine(_graph(inputs), task="classification", split=None)


def test_a_batch_of_one_fixed_in_the_graph_is_accepted():
    inputs = {name: (t, [1, *shape[1:]]) for name, (t, shape) in MITRA_INPUTS.items()}
    assert _predict(MitraEngine(_graph(inputs), task="classification", split=None)).shape == (2, 3)


def test_an_output_of_the_wrong_rank_is_refused_when_opened():
    with pytest.raises(ValidationError, match="output 'output' is tensor.float. of rank 2"):
        MitraEngine(_graph(width=None, output_shape=("b", "q")), task="classification",
                    split=None)


def test_an_output_narrower_than_the_logits_is_an_error_not_wrong_probabilities():
    # Declared [b, q, n] but 1 wide: the readout used to broadcast it into rows summing to 3.
    engine = MitraEngine(_graph(width=1, output_shape=("b", "q", "n")), task="classification",
                         split=None)
    with pytest.raises(ValidationError, match=r"output of shape \(1, 2, 1\), expected \(1, 2, 10\)"):
        _predict(engine)


def test_names_that_are_not_utf8_are_a_clear_error():
    model = onnx.load_from_string(_graph())
    model.graph.input[0].type.tensor_type.shape.dim[1].dim_param = "s"
    raw = model.SerializeToString().replace(b"\x12\x01s", b"\x12\x01\xff", 1)  # dim_param "s"
    with pytest.raises(ValidationError, match="not UTF-8"):
        MitraEngine(raw, task="classification", split=None)


# --- reading sizes from the bytes (_onnxinfo) --------------------------------------------------

def _config_model(config: str) -> bytes:
    return _graph(metadata={"mitra.config": config}, dims=(32,))


@pytest.mark.parametrize("config", [
    "[" * 100_000,  # used to raise RecursionError out of model_shape
    json.dumps({"dim": 0, "n_heads": 4}),
    json.dumps({"dim": -8, "n_heads": 4}),
    json.dumps({"dim": 32, "n_heads": 0}),
    '{"dim": Infinity, "n_heads": 4}',  # used to raise OverflowError
    json.dumps({"dim": 1.5, "n_heads": 4}),
    json.dumps({"dim": True, "n_heads": 4}),
    json.dumps([32, 4]),
])
def test_a_broken_config_falls_back_to_the_initializers(config):
    # the initializer x_embedding.x_embedding.bias is 32 wide
    assert _onnxinfo.model_shape(_config_model(config), True) == _onnxinfo.ModelShape(32, 4, 10)


def test_a_zero_width_initializer_falls_back_to_the_full_size():
    shape = _onnxinfo.model_shape(_graph(dims=(0,)), False)
    assert shape == _onnxinfo.ModelShape(_onnxinfo.FULL_SIZE.dim, _onnxinfo.FULL_SIZE.n_heads, 1)


def test_a_varint_longer_than_protobuf_allows_is_refused():
    # field 1, varint, then 11 continuation bytes: reading on built an ever larger integer
    # (quadratic in the run's length) instead of stopping at protobuf's 10 bytes.
    data = b"\x08" + b"\xff" * 11 + b"\x01"
    with pytest.raises(ValueError, match="longer than 10 bytes"):
        _onnxinfo.metadata(data)
    assert _onnxinfo.model_shape(b"\x3a" + b"\xff" * 100_000, True) == _onnxinfo.FULL_SIZE
