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
    agree = total = 0
    for case in ("a_binary_all", "b_3class_strat_s42", "d_labels_2_5_7"):
        xs, ys, xq, k = fixture_case(case)
        a = fp32.predict(xs, ys, xq, n_classes=k)
        b = int8.predict(xs, ys, xq, n_classes=k)
        assert 0 < np.abs(a - b).max() < 0.05  # really quantised, and close
        agree += int((a.argmax(1) == b.argmax(1)).sum())
        total += len(a)
    assert agree / total >= 0.99


def test_int8_graph_is_quantised_and_made_once(tmp_path):
    MitraEngine(CLASSIFIER, task="classification", precision="int8", optimized_dir=tmp_path).session
    (made,) = tmp_path.glob("*.int8pc.onnx")
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
