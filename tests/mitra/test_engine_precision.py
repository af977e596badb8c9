"""Opt-in int8 precision and the optimised-graph files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from wlearn.errors import ValidationError
from wlearn_mitra.engine import MitraEngine

onnx = pytest.importorskip("onnx")

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures"
CLASSIFIER = FIXTURES / "onnx" / "tiny-mitra-classifier.onnx"


def fixture_case(name):
    root = FIXTURES / "mitra-js" / name
    idx = np.load(root / "support_indices.npy")
    y = np.load(root / "y.npy")
    classes = np.unique(y)
    return np.load(root / "X.npy")[idx], np.searchsorted(classes, y[idx]), np.load(root / "Xq.npy"), len(classes)


def test_int8_agrees_with_fp32_on_the_fixtures(tmp_path):
    fp32 = MitraEngine(CLASSIFIER, task="classification")
    int8 = MitraEngine(CLASSIFIER, task="classification", precision="int8", optimized_dir=tmp_path)
    single = MitraEngine(CLASSIFIER, task="classification", precision="int8", split=None,
                         optimized_dir=tmp_path)
    assert int8.uses_cache and not single.uses_cache
    for case in ("a_binary_all", "b_3class_strat_s42", "d_labels_2_5_7"):
        xs, ys, xq, k = fixture_case(case)
        a = fp32.predict(xs, ys, xq, n_classes=k)
        b = int8.predict(xs, ys, xq, n_classes=k)
        assert 0 < np.abs(a - b).max() < 0.05  # really quantised, and close
        # the pair is cut from the quantised graph: the same int8 arithmetic
        np.testing.assert_allclose(single.predict(xs, ys, xq, n_classes=k), b, rtol=0, atol=1e-6)
        # The tiny models are near-tied (a fifth of one case's rows have a top-two margin
        # under 0.05), so flips there measure ties: every row float32 decides by a margin
        # of 0.1 keeps its class (an AVX2 CPU's saturating int8 kernel flipped half of them).
        top2 = np.sort(a, axis=1)[:, -2:]
        clear = top2[:, 1] - top2[:, 0] > 0.1
        assert clear.sum() >= len(a) // 2
        np.testing.assert_array_equal(a[clear].argmax(1), b[clear].argmax(1))


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


def test_optimised_graph_file_is_reused_and_equivalent(tmp_path):
    first = MitraEngine(CLASSIFIER, task="classification", optimized_dir=tmp_path, split=None)
    xs, ys, xq, k = fixture_case("b_3class_strat_s42")
    want = first.predict(xs, ys, xq, n_classes=k)
    (made,) = tmp_path.glob("*.opt.onnx")
    assert made.name.startswith(first.onnx_sha256)
    second = MitraEngine(CLASSIFIER, task="classification", optimized_dir=tmp_path, split=None)
    np.testing.assert_allclose(second.predict(xs, ys, xq, n_classes=k), want, rtol=0, atol=1e-6)
    assert len(list(tmp_path.glob("*.onnx"))) == 1


def test_unknown_precision_is_rejected():
    with pytest.raises(ValidationError, match="precision"):
        MitraEngine(CLASSIFIER, task="classification", precision="fp8")


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
