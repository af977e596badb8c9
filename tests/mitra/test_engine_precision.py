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
    agree = total = 0
    for case in ("a_binary_all", "b_3class_strat_s42", "d_labels_2_5_7"):
        xs, ys, xq, k = fixture_case(case)
        a = fp32.predict(xs, ys, xq, n_classes=k)
        b = int8.predict(xs, ys, xq, n_classes=k)
        assert 0 < np.abs(a - b).max() < 0.05  # really quantised, and close
        # the pair is cut from the quantised graph: the same int8 arithmetic
        np.testing.assert_allclose(single.predict(xs, ys, xq, n_classes=k), b, rtol=0, atol=1e-6)
        agree += int((a.argmax(1) == b.argmax(1)).sum())
        total += len(a)
    # 134 of 140 with every weight matrix quantised: the tiny models are near-tied (a fifth
    # of one case's rows have a top-two margin under 0.05), so flips measure ties
    assert agree / total >= 0.95


def test_int8_graph_is_quantised_and_made_once(tmp_path):
    MitraEngine(CLASSIFIER, task="classification", precision="int8", optimized_dir=tmp_path).session
    (made,) = tmp_path.glob("*.int8pc2.onnx")
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
    (made,) = tmp_path.glob("*.int8pc2.onnx")
    assert float_weight_matmuls(onnx.load(str(made))) == []
