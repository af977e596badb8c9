from __future__ import annotations

from pathlib import Path

import pytest

from wlearn_mitra.engine import MitraEngine

ONNX = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "onnx"


@pytest.fixture(autouse=True)
def _no_env_models(monkeypatch):
    """No test sees a model named by the user's environment unless it sets one itself."""
    monkeypatch.delenv("WLEARN_MITRA_CLASSIFIER_ONNX", raising=False)
    monkeypatch.delenv("WLEARN_MITRA_REGRESSOR_ONNX", raising=False)


@pytest.fixture(scope="module")
def clf() -> MitraEngine:
    """The tiny fixture classifier, one engine per test module."""
    return MitraEngine(ONNX / "tiny-mitra-classifier.onnx", task="classification")


@pytest.fixture(scope="module")
def reg() -> MitraEngine:
    """The tiny fixture regressor, one engine per test module."""
    return MitraEngine(ONNX / "tiny-mitra-regressor.onnx", task="regression")
