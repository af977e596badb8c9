"""Mitra-v2 checkpoints through ``wlearn-mitra convert`` and ``verify``: by local folder and by
Hugging Face id (``autogluon/mitra-classifier-2``, ``autogluon/mitra-regressor-2``, served by a
stand-in ``huggingface_hub``), with random weights in the exact checkpoint layout AutoGluon's
``Tab2D.save_pretrained`` writes (``config.json`` by ``json.dump``: dim, dim_output, n_layers,
n_heads, task), small dims for speed. The converted graphs then run in the estimators."""

from __future__ import annotations

import json
import sys
import types

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
pytest.importorskip("safetensors")

from wlearn_mitra import MitraClassifier, MitraRegressor  # noqa: E402
from wlearn_mitra.cli import main  # noqa: E402
from wlearn_mitra.convert import load_model, random_checkpoint  # noqa: E402
from wlearn_mitra.engine import MitraEngine  # noqa: E402

V2 = {
    "autogluon/mitra-classifier-2": ("classifier", 10, "CLASSIFICATION"),
    "autogluon/mitra-regressor-2": ("regressor", 1000, "REGRESSION"),
}


def save_pretrained_layout(folder, variant: str, dim_output: int, task: str):
    random_checkpoint(folder, variant, dim=16, n_layers=2, n_heads=4, seed=3,
                      dim_output=dim_output)
    # Byte for byte what AutoGluon's save_pretrained writes.
    with open(folder / "config.json", "w") as f:
        json.dump({"dim": 16, "dim_output": dim_output, "n_layers": 2, "n_heads": 4,
                   "task": task}, f)
    return folder


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """Folders standing in for the two v2 repositories."""
    root = tmp_path_factory.mktemp("hub")
    return {repo: save_pretrained_layout(root / repo.replace("/", "--"), *spec)
            for repo, spec in V2.items()}


@pytest.mark.parametrize("repo", sorted(V2))
def test_convert_and_verify_by_hub_id_and_folder(repo, hub, tmp_path, monkeypatch, capsys):
    calls = []

    def hf_hub_download(repo_id, filename):
        calls.append((repo_id, filename))
        return str(hub[repo_id] / filename)

    fake = types.ModuleType("huggingface_hub")
    fake.hf_hub_download = hf_hub_download
    monkeypatch.setitem(sys.modules, "huggingface_hub", fake)
    monkeypatch.chdir(tmp_path)
    variant, dim_output, task = V2[repo]

    out = tmp_path / "v2.onnx"
    assert main(["convert", "--checkpoint", repo, "--out", str(out), "--split"]) == 0
    assert (repo, "config.json") in calls and (repo, "model.safetensors") in calls
    assert main(["verify", "--checkpoint", repo, "--onnx", str(out)]) == 0
    assert "OK: largest difference" in capsys.readouterr().out
    # The local folder gives the same graph.
    local = tmp_path / "local.onnx"
    assert main(["convert", "--checkpoint", str(hub[repo]), "--out", str(local)]) == 0
    assert local.read_bytes() == out.read_bytes()
    assert main(["verify", "--checkpoint", str(hub[repo]), "--onnx", str(local),
                 "--variant", variant]) == 0

    model = load_model(hub[repo])
    assert model.config["task"] == task and model.dim_output == dim_output
    rng = np.random.default_rng(0)
    X, Xq = rng.standard_normal((40, 3)), rng.standard_normal((6, 3))
    if variant == "classifier":
        assert MitraEngine(out, task="classification").n_bins is None
        proba = MitraClassifier(onnx=out).fit(X, np.arange(40) % 3).predict_proba(Xq)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    else:
        assert MitraEngine(out, task="regression").n_bins == 1000
        regressor = MitraRegressor(onnx=out).fit(X, X[:, 0] * 5)
        interval = regressor.predict_interval(Xq, 0.8)
        assert interval.shape == (6, 2) and np.all(interval[:, 0] <= interval[:, 1])


def test_verify_fails_a_graph_of_other_weights(hub, tmp_path, capsys):
    repo = "autogluon/mitra-regressor-2"
    out = tmp_path / "reg.onnx"
    assert main(["convert", "--checkpoint", str(hub[repo]), "--out", str(out)]) == 0
    other = random_checkpoint(tmp_path / "other", "regressor", dim=16, n_layers=2, n_heads=4,
                              seed=4, dim_output=1000)
    assert main(["verify", "--checkpoint", str(other), "--onnx", str(out)]) == 1
    assert "FAIL" in capsys.readouterr().out
