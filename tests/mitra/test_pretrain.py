"""The synthetic prior and the pretraining run (torch, schedulefree)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from wlearn_mitra.pretrain import prior

torch = pytest.importorskip("torch")
pytest.importorskip("schedulefree")
pytestmark = pytest.mark.torch


def _batch(seed: int, task: str = "classification", easy: bool = False):
    rng = np.random.default_rng(seed)
    return prior.sample_batch(rng, prior.sample_shape(rng, easy=easy), 3, task)


def test_tables_are_a_function_of_the_generator():
    a, b, c = _batch(7), _batch(7), _batch(8)
    assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)
    assert a.x.shape != c.x.shape or not np.array_equal(a.x, c.x)


@pytest.mark.parametrize("seed", range(20))
def test_support_classes_are_indices_and_absent_query_classes_are_marked(seed):
    batch = _batch(seed)
    s = batch.n_support
    for y, k in zip(batch.y, batch.n_classes):
        assert 2 <= k <= 10 or (k == 1 and len(np.unique(y[:s])) == 1)
        assert set(np.unique(y[:s])) == set(range(k))  # every index 0..K-1 in the support
        assert set(np.unique(y[s:])) <= set(range(k)) | {-1}
        assert np.all(np.isfinite(batch.x))


def test_regression_targets_are_standardised_and_finite():
    batch = _batch(3, "regression")
    assert batch.y.dtype == np.float32 and np.all(batch.n_classes == 0)
    assert np.allclose(batch.y.mean(axis=1), 0, atol=1e-4)
    assert np.allclose(batch.y.std(axis=1), 1, atol=1e-3)


@pytest.mark.parametrize("name", ["mlp", "tree", "cluster"])
def test_each_prior_draws_learnable_tables(name, monkeypatch):
    """A random forest beats the majority class on the prior's tables: labels depend on
    the features (a prior whose labels were noise would teach the model nothing)."""
    from sklearn.ensemble import RandomForestClassifier

    monkeypatch.setitem(prior.MIXTURE, "classification", {name: 1.0})
    rng = np.random.default_rng(0)
    gains = []
    for _ in range(12):
        shape = prior.Shape(150, 150, int(rng.integers(2, 12)), 5)
        x, y, _ = prior.sample_table(rng, shape, "classification")
        seen = y[150:] >= 0
        forest = RandomForestClassifier(30, random_state=0).fit(x[:150], y[:150])
        accuracy = np.mean(forest.predict(x[150:])[seen] == y[150:][seen])
        majority = np.max(np.bincount(y[150:][seen])) / seen.sum()
        gains.append(accuracy - majority)
    assert np.mean(gains) > 0.1


def _settings(**changes):
    from wlearn_mitra.pretrain.trainer import RunSettings

    base = dict(dim=16, n_layers=1, n_heads=2, tokens_per_step=1024, max_features=6,
                max_support=48, warmup_steps=2, report_seconds=1e9)
    return RunSettings(**{**base, **changes})


def test_a_resumed_run_equals_one_that_never_stopped(tmp_path):
    from wlearn_mitra.pretrain.trainer import Run

    whole = Run(tmp_path / "whole", _settings())
    whole.train(steps=4)
    parts = Run(tmp_path / "parts", _settings())
    parts.train(steps=2)
    resumed = Run(tmp_path / "parts")  # settings read back from run.json
    assert resumed.step == 2
    resumed.train(steps=2)
    for key, value in whole.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
    log = [json.loads(line) for line in (tmp_path / "parts" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [2, 4]


def test_a_run_refuses_other_settings_for_its_folder(tmp_path):
    from wlearn_mitra.pretrain.trainer import Run

    Run(tmp_path, _settings()).train(steps=1)
    with pytest.raises(ValueError, match="other settings"):
        Run(tmp_path, _settings(seed=5))


def test_training_lowers_the_loss(tmp_path):
    """Forty steps on the prior take the loss below that of the first steps."""
    from wlearn_mitra.pretrain.trainer import Run, _step_batch, loss_of

    run = Run(tmp_path, _settings(lr=3e-3, seed=1))
    held_out = [_step_batch(run.settings, 10_000 + i) for i in range(8)]

    def loss() -> float:
        model = run.averaged_model()
        with torch.no_grad():
            return float(np.mean([loss_of(model, b, "classification").item() for b in held_out]))

    before = loss()
    run.train(steps=40)
    assert loss() < before - 0.05


def test_exported_checkpoint_runs_in_the_estimators(tmp_path):
    """The run's checkpoint has AutoGluon's keys: the converter takes it and the ONNX model
    predicts what the torch module does."""
    from wlearn_mitra import MitraRegressor
    from wlearn_mitra.convert import convert
    from wlearn_mitra.pretrain.trainer import Run

    classifier = Run(tmp_path / "c", _settings())
    classifier.train(steps=1)
    body = classifier.export()
    regressor = Run(tmp_path / "r", _settings(task="regression", init=str(body)))
    # Warm start: everything but the target embedding and the head comes from the classifier.
    for key, value in classifier.averaged_model().state_dict().items():
        if not key.startswith(("y_embedding.y_embedding", "final_layer.")):
            assert torch.equal(value, regressor.model.state_dict()[key]), key
    regressor.train(steps=1)
    # Resuming needs only the run's own folder, not the checkpoint it started from.
    import shutil

    shutil.rmtree(body)
    regressor = Run(tmp_path / "r")
    assert regressor.step == 1
    onnx = convert(regressor.export(), tmp_path / "r.onnx")
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), rng.normal(size=40)
    model = MitraRegressor(onnx=str(onnx)).fit(X[:30], y[:30])
    scaled = (y[:30] - y[:30].min()) / np.ptp(y[:30])
    with torch.no_grad():
        expected = regressor.averaged_model()(
            torch.tensor(X[None, :30], dtype=torch.float32),
            torch.tensor(scaled[None], dtype=torch.float32),
            torch.tensor(X[None, 30:], dtype=torch.float32),
        )[0].double().numpy() * np.ptp(y[:30]) + y[:30].min()
    np.testing.assert_allclose(model.predict(X[30:]), expected, rtol=1e-4, atol=1e-4)


def test_pretrain_command_resumes_and_refuses_new_settings(tmp_path, capsys):
    from wlearn_mitra.cli import main

    run = str(tmp_path / "run")
    args = ["pretrain", "--run", run, "--minutes", "0.001", "--no-eval"]
    assert main([*args, "--dim", "16", "--layers", "1", "--heads", "2"]) == 0
    assert (tmp_path / "run" / "checkpoint" / "model.safetensors").is_file()
    assert main([*args, "--dim", "32"]) == 1
    assert "holds a run" in capsys.readouterr().err
    assert main(args) == 0
    assert "resuming" in capsys.readouterr().out


@pytest.mark.parametrize("bad, message", [
    (["--minutes", "-1"], "--minutes must be 0 or more"),
    (["--minutes", "nan"], "--minutes must be 0 or more"),
    (["--steps", "-2"], "--steps must be 0 or more"),
    (["--steps", "1", "--lr", "-1"], "lr must be a positive finite number"),
    (["--steps", "1", "--lr", "nan"], "lr must be a positive finite number"),
    (["--steps", "1", "--easy-fraction", "2"], r"easy_fraction must be in \[0, 1\]"),
    (["--steps", "1", "--layers", "0"], "n_layers must be at least 1"),
    (["--steps", "1", "--report-minutes", "-1"], "report minutes must be positive"),
    (["--steps", "1", "--seed", "-5"], "seed must be at least 0"),
    (["--steps", "1", "--dim", "0"], "dim must be at least 1"),
    (["--steps", "1", "--dim", "16", "--heads", "3"], "not divisible by n_heads 3"),
    (["--steps", "1", "--init", "/nonexistent"], "cannot open the run.*checkpoint not found"),
])
def test_pretrain_command_refuses_bad_settings_before_making_a_run(tmp_path, capsys, bad,
                                                                   message):
    from wlearn_mitra.cli import main

    run = tmp_path / "run"
    assert main(["pretrain", "--run", str(run), "--no-eval", *bad]) == 1
    assert re.search(f"^wlearn-mitra: .*{message}", capsys.readouterr().err)
    assert not run.exists()  # nothing made that a later resume would trip over


def test_pretrain_command_refuses_a_run_folder_it_cannot_resume(tmp_path, capsys):
    from wlearn_mitra.cli import main

    run = tmp_path / "run"
    args = ["pretrain", "--run", str(run), "--steps", "2", "--no-eval"]
    assert main([*args, "--dim", "16", "--layers", "1", "--heads", "2"]) == 0
    state, settings = (run / "state.pt").read_bytes(), (run / "run.json").read_bytes()
    trained = (run / "checkpoint" / "model.safetensors").read_bytes()
    cases = [  # (what is done to the folder, what the refusal says)
        (lambda: (run / "state.pt").unlink(), "without its state.pt"),
        (lambda: (run / "run.json").unlink(), "holds state.pt but not run.json"),
        (lambda: (run / "state.pt").write_bytes(state[:1000]), "cannot open the run"),
        (lambda: (run / "state.pt").write_bytes(b""), "cannot open the run"),
        (lambda: (run / "run.json").write_text("{bad"), "cannot open the run"),
    ]
    for damage, message in cases:
        damage()
        assert main(args) == 1
        assert message in capsys.readouterr().err
        (run / "state.pt").write_bytes(state)
        (run / "run.json").write_bytes(settings)
        assert (run / "checkpoint" / "model.safetensors").read_bytes() == trained
    (tmp_path / "file").write_text("")
    assert main(["pretrain", "--run", str(tmp_path / "file"), "--steps", "1"]) == 1
    assert "is a file, not a run folder" in capsys.readouterr().err


def test_pretrain_command_by_steps_reproduces_a_run(tmp_path):
    from safetensors.numpy import load_file

    from wlearn_mitra.cli import main

    for name in ("a", "b"):
        args = ["pretrain", "--run", str(tmp_path / name), "--steps", "3", "--no-eval",
                "--dim", "16", "--layers", "1", "--heads", "2", "--seed", "4"]
        assert main(args) == 0
    a = load_file(tmp_path / "a" / "checkpoint" / "model.safetensors")
    b = load_file(tmp_path / "b" / "checkpoint" / "model.safetensors")
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_pretrain_command_declares_max_node_classes_in_its_onnx(tmp_path, capsys):
    import onnx

    from wlearn_mitra.cli import main

    run = str(tmp_path / "run")
    args = ["pretrain", "--run", run, "--steps", "1", "--no-eval", "--dim", "16",
            "--layers", "1", "--heads", "2"]
    # refused before any training: no --onnx to declare it in, or a value outside 2..10
    assert main([*args, "--max-node-classes", "3"]) == 1
    assert "--onnx" in capsys.readouterr().err
    out = str(tmp_path / "m.onnx")
    assert main([*args, "--onnx", out, "--max-node-classes", "11"]) == 1
    assert "max_node_classes" in capsys.readouterr().err
    assert main([*args, "--onnx", out, "--max-node-classes", "3", "--task", "regression"]) == 1
    assert "classifier" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # no run folder made for a refused command
    assert main([*args, "--onnx", out, "--max-node-classes", "3"]) == 0
    props = {p.key: p.value for p in onnx.load(out).metadata_props}
    assert props["wlearn.max_node_classes"] == "3"
