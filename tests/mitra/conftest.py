from __future__ import annotations

from pathlib import Path

import pytest

from wlearn_mitra.engine import MitraEngine

ONNX = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "onnx"


@pytest.fixture(scope="module")
def clf() -> MitraEngine:
    """The tiny fixture classifier, one engine per test module."""
    return MitraEngine(ONNX / "tiny-mitra-classifier.onnx", task="classification")


@pytest.fixture(scope="module")
def reg() -> MitraEngine:
    """The tiny fixture regressor, one engine per test module."""
    return MitraEngine(ONNX / "tiny-mitra-regressor.onnx", task="regression")
