"""ONNX Runtime's int8 graph: weights for the CPU's kernels, made once, every float weight
quantised. What every runtime keeps (reduced precision close to fp32, refused precisions,
graph files reused) is tests/mitra/runtimes/test_runtime_suite.py."""

from __future__ import annotations


import pytest

from wlearn_mitra.engine import MitraEngine

from _paths import fixtures_dir

onnx = pytest.importorskip("onnx")

FIXTURES = fixtures_dir()
CLASSIFIER = FIXTURES / "onnx" / "tiny-mitra-classifier.onnx"


def test_int8_weights_are_unsigned_where_the_cpu_saturates(tmp_path, monkeypatch):
    from wlearn_mitra import _cpu
    from wlearn_mitra.graphs import _int8 as _precision

    for flags, machine, unsigned in [({"avx2"}, "x86_64", True),
                                     ({"avx2", "avx512_vnni"}, "x86_64", False),
                                     ({"avx2", "avx_vnni"}, "AMD64", False),
                                     (set(), "aarch64", False)]:
        monkeypatch.setattr(_cpu, "cpu_flags", lambda flags=flags: frozenset(flags))
        monkeypatch.setattr(_cpu.platform, "machine", lambda machine=machine: machine)
        assert _cpu.int8_saturates() is unsigned
        monkeypatch.setattr(_precision, "int8_saturates", lambda unsigned=unsigned: unsigned)
        made = _precision.quantize_int8(CLASSIFIER.read_bytes(), f"{machine}{len(flags)}",
                                        tmp_path)
        assert made.name.endswith("u8.onnx") is unsigned
        types = {init.data_type for init in onnx.load(str(made)).graph.initializer
                 if init.name.endswith("_quantized")}
        assert types == {onnx.TensorProto.UINT8 if unsigned else onnx.TensorProto.INT8}


def test_int8_graph_is_quantised_and_made_once(tmp_path):
    MitraEngine(CLASSIFIER, task="classification", precision="int8", optimized_dir=tmp_path).session
    (made,) = tmp_path.glob("*.int8pc2*.onnx")
    ops = {node.op_type for node in onnx.load(str(made)).graph.node}
    assert {"DynamicQuantizeLinear", "MatMulInteger"} & ops
    stamp = made.stat().st_mtime_ns
    MitraEngine(CLASSIFIER, task="classification", precision="int8", optimized_dir=tmp_path).session
    assert made.stat().st_mtime_ns == stamp


def float_weight_matmuls(model) -> list[str]:
    """MatMuls still multiplying by a float32 weight, directly or through an Identity."""
    graph = model.graph
    weights = {init.name: list(init.dims) for init in graph.initializer
               if init.data_type == onnx.TensorProto.FLOAT}
    through = {node.output[0]: node.input[0] for node in graph.node
               if node.op_type == "Identity" and node.input[0] in weights}
    out = []
    for node in graph.node:
        if node.op_type == "MatMul":
            for name in node.input:
                name = through.get(name, name)
                if name in weights and min(weights[name]) >= 16:  # thin ones stay float
                    out.append(node.name)
    return out


def test_int8_quantises_weights_behind_identity_nodes(tmp_path):
    # PyTorch's exporter routes a weight used twice through Identity nodes; those MatMuls
    # used to stay float32 (half of them in the full-size graph)
    source = onnx.load(str(CLASSIFIER))
    assert float_weight_matmuls(source)  # the fixture has such weights
    assert any(n.op_type == "Identity" for n in source.graph.node)
    MitraEngine(CLASSIFIER, task="classification", precision="int8", optimized_dir=tmp_path,
                split=None).session
    (made,) = tmp_path.glob("*.int8pc2*.onnx")
    assert float_weight_matmuls(onnx.load(str(made))) == []
