from __future__ import annotations

import pytest

from wlearn_mitra.engine import MitraEngine


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


@pytest.fixture(scope="session")
def unshipped(fixtures_dir, tmp_path_factory) -> dict[str, str]:
    """Per task, the tiny test model with another doc string: the same graph under another
    hash, a model the package does not ship, so no load finds it by hash (the tiny models
    themselves ship in wlearn_mitra/data/ and are found)."""
    onnx = pytest.importorskip("onnx")
    folder = tmp_path_factory.mktemp("unshipped")
    out = {}
    for task, kind in (("classification", "classifier"), ("regression", "regressor")):
        graph = onnx.load(str(fixtures_dir / "onnx" / f"tiny-mitra-{kind}.onnx"))
        graph.doc_string = "a model the package does not ship"
        out[task] = str(folder / f"unshipped-{kind}.onnx")
        onnx.save(graph, out[task])
    return out


@pytest.fixture(scope="module")
def clf(fixtures_dir) -> MitraEngine:
    """The tiny fixture classifier, one engine per test module."""
    return MitraEngine(fixtures_dir / "onnx" / "tiny-mitra-classifier.onnx",
                       task="classification")


@pytest.fixture(scope="module")
def reg(fixtures_dir) -> MitraEngine:
    """The tiny fixture regressor, one engine per test module."""
    return MitraEngine(fixtures_dir / "onnx" / "tiny-mitra-regressor.onnx", task="regression")


#: How far a JS fixture's recorded raw output may be from the same graph run here on the same
#: feed. The fixtures were made by onnxruntime-node on an AVX-512 CPU; ONNX Runtime's float32
#: kernels sum in another order on other CPUs (AVX2: up to 4.8e-6 on the tiny models' logits,
#: 1.7e-5 on one row). The engine's own feed is checked exactly against a bare session instead.
CROSS_CPU_ATOL = 5e-5


@pytest.fixture(scope="session")
def cross_cpu_atol() -> float:
    return CROSS_CPU_ATOL


@pytest.fixture(scope="session")
def nan_rows():
    """``nan_rows(seed, n_support=60, n_query=37, n_features=5)``: float64 support rows (a
    rounded first column, 5% NaN), class indices cycling 0, 1, 2, and query rows."""
    import numpy as np

    def rows(seed, n_support=60, n_query=37, n_features=5):
        rng = np.random.default_rng(seed)
        xs = rng.normal(size=(n_support, n_features))
        xq = rng.normal(size=(n_query, n_features))
        xs[:, 0] = np.round(xs[:, 0])
        xs[rng.random(xs.shape) < 0.05] = np.nan
        return xs, np.arange(n_support) % 3, xq

    return rows


@pytest.fixture(scope="session")
def bare_forward():
    """``bare_forward(path, x_support, y_support, x_query)``: one run of a plain ONNX Runtime
    session on the feed JS gives the graph (float32 rows, int64 classes or float32 targets,
    no padding), squeezed to [Q, 10] or [Q]."""
    import numpy as np
    import onnxruntime as ort

    sessions: dict = {}

    def run(path, x_support, y_support, x_query):
        session = sessions.setdefault(str(path), ort.InferenceSession(
            str(path), providers=["CPUExecutionProvider"]))
        y_type = session.get_inputs()[1].type
        feeds = {
            "x_support": np.asarray(x_support, dtype=np.float32)[None],
            "y_support": np.asarray(y_support, dtype=np.int64 if "int64" in y_type
                                    else np.float32)[None],
            "x_query": np.asarray(x_query, dtype=np.float32)[None],
            "padding_obs_support": np.zeros((1, len(x_support)), dtype=bool),
        }
        return session.run(["output"], feeds)[0][0]

    return run
