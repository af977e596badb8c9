from __future__ import annotations

from pathlib import Path

import pytest

from wlearn_mitra.engine import MitraEngine

ONNX = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "onnx"


@pytest.fixture(scope="session", autouse=True)
def _private_cache_folder(tmp_path_factory):
    """Graphs the engine derives (support-cache pairs, int8) go to a folder of the test run,
    never to the user's ~/.cache."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
        yield


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
