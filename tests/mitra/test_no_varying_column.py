"""Tables where no training column varies (one row, identical rows, every column constant or
missing): every model the package ships answers with the support set's class shares or mean
target instead of running a graph with no feature (the built-in models' Reshape divided by
that zero: SIGFPE, the interpreter killed). Each model runs in a child process, so a
regression fails the test instead of killing pytest."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import wlearn_mitra
from wlearn_mitra.graphs import _builtin

from _paths import fixtures_dir

DATA = Path(wlearn_mitra.__file__).parent / "data"
FIXTURES = fixtures_dir("onnx")

SHIPPED = [
    ("builtin", "classification", DATA / "mitra-builtin-classifier.onnx"),
    ("builtin", "regression", DATA / "mitra-builtin-regressor.onnx"),
    ("packaged-tiny", "classification", DATA / "tiny-mitra-classifier.onnx"),
    ("packaged-tiny", "regression", DATA / "tiny-mitra-regressor.onnx"),
    ("fixture", "classification", FIXTURES / "tiny-mitra-classifier.onnx"),
    ("fixture", "regression", FIXTURES / "tiny-mitra-regressor.onnx"),
    ("fixture-bins", "regression",
     Path(__file__).resolve().parents[1] / "data" / "mitra-v2" / "tiny-regressor-2.onnx"),
    # the built-in models of earlier releases, kept for their bundles (graphs._builtin)
    *(("previous", task, Path(file)) for task in ("classification", "regression")
      for file in sorted(_builtin.previous(task).values())),
]

CHILD = r"""
import json, sys, warnings
import numpy as np
warnings.simplefilter("ignore")
from wlearn_mitra import MitraClassifier, MitraRegressor
path, task = sys.argv[1], sys.argv[2]
bins = task == "regression" and MitraRegressor(onnx=path).open()._handle.engine.n_bins
tables = {
    "one_row": np.array([[1.0, 2.0, 3.0]]),
    "identical_rows": np.tile([[1.0, 2.0, 3.0]], (6, 1)),
    "constant_columns": np.column_stack([np.full(6, 7.0), np.zeros(6), np.full(6, -1.5)]),
    "all_missing": np.full((6, 3), np.nan),
}
out = {}
rng = np.random.default_rng(0)
for name, X in tables.items():
    n = len(X)
    Xq = rng.normal(size=(5, X.shape[1]))
    for members in (1, 3):
        if task == "classification":
            y = np.array(["b", "a", "b", "b", "c", "b"][:n])
            m = MitraClassifier(onnx=path, n_estimators=members).fit(X, y)
            out[f"{name}/{members}"] = [m.predict_proba(Xq).tolist(), m.predict(Xq).tolist(),
                                        m.classes_.tolist()]
        else:
            y = np.array([1.0, 4.0, 2.0, 8.0, 0.5, 3.0][:n])
            for scaling in ("minmax",) if bins else ("minmax", "none"):  # bins: min-max only
                m = MitraRegressor(onnx=path, n_estimators=members, target_scaling=scaling)
                out[f"{name}/{members}/{scaling}"] = m.fit(X, y).predict(Xq).tolist()
print(json.dumps({"n_bins": bins or None, "answers": out}))
"""


def _models():
    models = [pytest.param(task, path, id=f"{kind}-{task}") for kind, task, path in SHIPPED]
    return models


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """The tiny checkpoints converted by this package's converter (needs torch)."""
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    pytest.importorskip("safetensors")
    from wlearn_mitra.convert import convert

    out = tmp_path_factory.mktemp("converted")
    return {
        "classification": convert(FIXTURES / "tiny-mitra-classifier", out / "c.onnx"),
        "regression": convert(FIXTURES / "tiny-mitra-regressor", out / "r.onnx"),
    }


def _check(task: str, path: Path) -> None:
    assert Path(path).is_file(), path
    done = subprocess.run([sys.executable, "-c", CHILD, str(path), task],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (
        f"{path.name} ({task}) ended with return code {done.returncode} "
        f"(negative: killed by signal {-done.returncode}): {done.stderr[-2000:]}"
    )
    got = json.loads(done.stdout.strip().splitlines()[-1])
    n_bins = got["n_bins"]
    for key, value in got["answers"].items():
        n = {"one_row": 1}.get(key.split("/")[0], 6)
        if task == "classification":
            proba, labels, classes = value
            y = np.array(["b", "a", "b", "b", "c", "b"][:n])
            prior = np.array([np.mean(y == c) for c in classes])
            np.testing.assert_allclose(proba, np.tile(prior, (5, 1)), atol=1e-12, err_msg=key)
            assert labels == ["b"] * 5, key
        else:
            y = np.array([1.0, 4.0, 2.0, 8.0, 0.5, 3.0][:n])
            # a bin-head model answers the targets' histogram over its bins: its mean moves
            # each target to its bin's centre, at most half a bin (span / n_bins) away
            atol = 0.0 if not n_bins else (y.max() - y.min()) / n_bins
            np.testing.assert_allclose(value, np.full(5, y.mean()), rtol=1e-12, atol=atol,
                                       err_msg=key)


@pytest.mark.parametrize(("task", "path"), _models())
def test_every_shipped_model_answers_a_table_with_no_varying_column(task, path):
    _check(task, path)


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_a_converted_model_answers_a_table_with_no_varying_column(converted, task):
    _check(task, converted[task])


def test_engine_forward_refuses_zero_features():
    # The raw pass has no answer of its own for no feature: a clear error, in a child
    # process since the old graph run killed the interpreter.
    code = (
        "import numpy as np, sys\n"
        "from wlearn.errors import ValidationError\n"
        "from wlearn_mitra.engine import MitraEngine\n"
        "e = MitraEngine(sys.argv[1], task='classification', split=None)\n"
        "try:\n"
        "    e.forward(np.zeros((3, 0)), np.array([0, 1, 0]), np.zeros((2, 0)))\n"
        "except ValidationError as exc:\n"
        "    print('refused:', exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(DATA / "mitra-builtin-classifier.onnx")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"return code {done.returncode}: {done.stderr[-1000:]}"
    assert "refused:" in done.stdout and "no features" in done.stdout
