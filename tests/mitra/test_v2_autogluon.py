"""Mitra-v2's regressor against AutoGluon 1.6.3: the converted graph equals AutoGluon's Tab2D,
and MitraRegressor's predictions equal AutoGluon's regression cross-entropy predict path with
the released mean decode.

AutoGluon's outputs for the committed tiny bin-head checkpoint are in
tests/data/mitra-v2/autogluon.npz (made by ``make_reference.py`` there), so the comparisons
run everywhere; where AutoGluon itself is importable they are also recomputed live, on other
inputs. The table's targets sit on bin edges (AutoGluon's float32 edges and numpy's float64
ones), where binning against any other edges moves them.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from wlearn_mitra import MitraRegressor
from wlearn_mitra.inputs import _bins

DATA = Path(__file__).resolve().parents[1] / "data" / "mitra-v2"
ONNX = DATA / "tiny-regressor-2.onnx"
CHECKPOINT = DATA / "tiny-regressor-2"
NAMES = ("x_support", "y_support", "x_query", "padding_obs_support")
#: Largest accepted |ours - AutoGluon| on the logits (as the v1 converter tests).
GRAPH_TOLERANCE = 1e-4
#: Largest accepted |ours - AutoGluon| on predictions, as a fraction of the target range.
PREDICTION_TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def reference():
    return np.load(DATA / "autogluon.npz")


def run_graph(inputs: dict) -> np.ndarray:
    session = ort.InferenceSession(str(ONNX), providers=["CPUExecutionProvider"])
    return session.run(["output"], {n: inputs[n] for n in NAMES})[0]


def test_graph_equals_autogluons_tab2d(reference):
    inputs = {n: reference[f"graph_{n}"] for n in NAMES}
    assert inputs["y_support"].dtype == np.int64 and inputs["padding_obs_support"].any()
    got = run_graph(inputs)
    assert got.shape == reference["graph_output"].shape == (2, 13, 1000)
    np.testing.assert_allclose(got, reference["graph_output"], rtol=0, atol=GRAPH_TOLERANCE)


def test_torch_module_equals_autogluons_tab2d(reference):
    torch = pytest.importorskip("torch")
    pytest.importorskip("safetensors")
    from wlearn_mitra.convert import load_model

    model = load_model(CHECKPOINT)
    assert model.config == {"dim": 16, "dim_output": 1000, "n_layers": 2, "n_heads": 4,
                            "task": "REGRESSION"}
    with torch.no_grad():
        got = model(*(torch.from_numpy(reference[f"graph_{n}"]) for n in NAMES)).numpy()
    np.testing.assert_allclose(got, reference["graph_output"], rtol=0, atol=GRAPH_TOLERANCE)


def _ours(X, y, X_query) -> np.ndarray:
    # AutoGluon keeps up to 8192 support rows; the table has fewer, so both use them all.
    return MitraRegressor(onnx=ONNX, max_support=8192).fit(X, y).predict(X_query)


def test_predictions_equal_autogluons_regression_ce_path(reference):
    X, y, X_query = reference["X"], reference["y"], reference["X_query"]
    span = y.max() - y.min()
    np.testing.assert_allclose(_ours(X, y, X_query), reference["prediction"], rtol=0,
                               atol=PREDICTION_TOLERANCE * span)


def test_the_reference_table_tells_wrong_bins_apart(reference):
    # The comparison above can fail: binned against numpy's edges, targets move bins.
    y = reference["y"]
    s = (y - y.min()) / (y.max() - y.min())
    numpy_edges = np.linspace(-0.5, 1.5, 1001).astype(np.float32)
    wrong = np.clip(np.searchsorted(numpy_edges, s.astype(np.float32)) - 1, 0, 999)
    assert np.sum(wrong != _bins.bin_ids(s, 1000)) >= 5


# -- live, where AutoGluon is installed ------------------------------------------------------------


def _make_reference():
    pytest.importorskip("torch")
    pytest.importorskip("autogluon.tabular.models.mitra.sklearn_interface")
    spec = importlib.util.spec_from_file_location("mitra_v2_reference", DATA / "make_reference.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)
    spec.loader.exec_module(module)
    return module


def test_live_graph_equals_autogluons_tab2d():
    ref = _make_reference()
    model = ref.autogluon_tab2d(CHECKPOINT)
    for seed in (1, 2):
        inputs = ref.graph_inputs(seed, rows=70, queries=9, features=5)
        expected = ref.autogluon_logits(model, inputs)
        got = run_graph({n: t.numpy() for n, t in zip(NAMES, inputs)})
        np.testing.assert_allclose(got, expected, rtol=0, atol=GRAPH_TOLERANCE)


def test_live_predictions_equal_autogluons():
    ref = _make_reference()
    X, y, X_val, y_val, X_query = ref.table(21)
    y = y * 37.5 - 4.0  # targets in other units: the min-max scaling is exercised too
    y_val = y[:20]
    expected = ref.autogluon_predictions(CHECKPOINT, X, y, X_val, y_val, X_query)
    np.testing.assert_allclose(_ours(X, y, X_query), expected, rtol=0,
                               atol=PREDICTION_TOLERANCE * (y.max() - y.min()))
