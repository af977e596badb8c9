"""Prior version 2 (categories, informative missing values, lookups, imbalance, target
shapes) and the bin-head regressor of the pretraining run."""

from __future__ import annotations

import hashlib
import json
import signal

import numpy as np
import pytest

from wlearn_mitra.pretrain import prior

torch = pytest.importorskip("torch")
pytest.importorskip("schedulefree")
pytestmark = pytest.mark.torch


def _digest(settings, steps) -> str:
    from wlearn_mitra.pretrain.trainer import _step_batch

    h = hashlib.sha256()
    for i in steps:
        b = _step_batch(settings, i)
        for a in (b.x, b.y, b.n_classes.astype(np.int64)):
            h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


#: sha256 of the batches of steps 0, 1, 12592 and 12593 of the committed runs
#: spec/pretraining/{classifier,regressor}, drawn before prior versions existed.
V1_DIGESTS = {
    ("classification", 0): "39b8879785dbc4ea48ad6dc0b6af09af716db74ef74b4c3b7a91e9d45f4e4a60",
    ("regression", 1): "bf03424d7efade959932ab6087eb77cb9dc621453c0a1586bae4d8b9a659ee61",
}


@pytest.mark.parametrize("task,seed", list(V1_DIGESTS))
def test_runs_without_a_prior_version_draw_the_tables_they_were_trained_on(task, seed):
    from wlearn_mitra.pretrain.trainer import RunSettings

    # run.json of the committed runs has no "prior": it reads back as version 1.
    settings = RunSettings(**{"task": task, "seed": seed})
    assert settings.prior == 1
    assert _digest(settings, (0, 1, 12592, 12593)) == V1_DIGESTS[task, seed]


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_prior_2_batch_i_is_a_function_of_seed_step_and_version(task):
    from wlearn_mitra.pretrain.trainer import RunSettings

    v2 = RunSettings(task=task, seed=5, prior=2)
    assert _digest(v2, (3, 4)) == _digest(v2, (3, 4))
    assert _digest(v2, (3, 4)) != _digest(RunSettings(task=task, seed=5, prior=1), (3, 4))
    assert _digest(v2, (3, 4)) != _digest(RunSettings(task=task, seed=6, prior=2), (3, 4))


def test_unknown_prior_version_and_bad_bins_are_refused():
    from wlearn_mitra.pretrain.trainer import RunSettings

    with pytest.raises(ValueError, match="prior must be one of"):
        RunSettings(prior=3)
    with pytest.raises(ValueError, match="n_bins"):
        RunSettings(task="classification", n_bins=100)
    with pytest.raises(ValueError, match="n_bins"):
        RunSettings(task="regression", n_bins=1)
    with pytest.raises(ValueError, match="prior version"):
        prior.sample_table(np.random.default_rng(0), prior.Shape(8, 8, 2, 3), "regression", 7)


def _tables(task: str, count: int, shape=prior.Shape(120, 60, 6, 10), seed: int = 0):
    rng = np.random.default_rng(seed)
    return [prior.sample_table(rng, shape, task, 2) for _ in range(count)]


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_prior_2_tables_are_finite_and_classes_indexed(task):
    for x, y, k in _tables(task, 40):
        assert x.dtype == np.float32 and np.all(np.isfinite(x)) and np.all(np.isfinite(y))
        if task == "classification":
            assert set(np.unique(y[:120])) == set(range(k))
            assert set(np.unique(y[120:])) <= set(range(k)) | {-1}
        else:
            assert abs(y.mean()) < 1e-4 and abs(y.std() - 1) < 1e-3


def test_category_codes_are_positions_among_the_support_levels():
    values = np.array([30, 10, 20, 10, 40, 99, 20])  # support: the first five rows
    codes = prior._category_codes(values, 5)
    np.testing.assert_array_equal(codes[:5], [2, 0, 1, 0, 3])
    assert np.isnan(codes[5]) and codes[6] == 1  # 99 unseen in the support -> missing


def test_prior_2_has_category_columns_with_many_levels():
    """Columns coded 0..L-1 (every code present in the support rows), up to dozens of levels."""
    levels = []
    for x, _, _ in _tables("classification", 60) + _tables("regression", 60):
        for column in x[:120].T:
            u = np.unique(column)
            if len(u) >= 2 and np.array_equal(u, np.arange(len(u))):
                levels.append(len(u))
    assert len(levels) > 60
    assert max(levels) >= 30 and np.mean(np.array(levels) >= 10) > 0.1


def test_lookup_columns_carry_the_target():
    """An identifier-like column whose levels shift the target: the level means explain much
    of the target's variance."""
    rng = np.random.default_rng(3)
    explained = []
    for _ in range(20):
        x = rng.normal(size=(300, 4))
        x2, targets, nominal = prior._lookup(rng, x.copy(), rng.normal(size=(300, 1)))
        assert nominal and all(np.array_equal(x2[:, j], np.round(x2[:, j])) for j in nominal)
        level = x2[:, nominal[0]].astype(int)
        means = np.bincount(level, targets[:, 0]) / np.maximum(np.bincount(level), 1)
        explained.append(1 - np.var(targets[:, 0] - means[level]) / np.var(targets[:, 0]))
    # The effect's strength is drawn (0.3-3 target standard deviations, level shares from a
    # Dirichlet): weak in some tables, dominant in others.
    assert np.median(explained) > 0.2 and np.mean(np.array(explained) > 0.4) > 0.25


def test_missing_values_depend_on_the_target_and_are_imputed_with_the_support_mean():
    rng = np.random.default_rng(1)
    n, s = 400, 300
    correlations = []
    for _ in range(60):
        signal_ = rng.normal(size=n)
        x = prior._missing(rng, rng.normal(size=(n, 5)), signal_, s)
        for j in range(5):
            missing = np.isnan(x[:, j])
            if 0 < missing.sum() < n:
                correlations.append(abs(np.corrcoef(missing, signal_)[0, 1]))
    correlations = np.array(correlations)
    assert len(correlations) > 20
    # Some columns' missingness follows the target (MNAR), others are at random.
    assert np.mean(correlations > 0.2) > 0.15 and np.mean(correlations < 0.1) > 0.15
    x = np.array([[1.0, np.nan], [np.nan, 4.0], [3.0, 6.0], [np.nan, np.nan]])
    np.testing.assert_array_equal(prior._impute(x, 3), [[1, 5], [2, 4], [3, 6], [2, 5]])


def test_prior_2_weights_many_classes_and_imbalance():
    ks, minority = [], []
    for _, y, k in _tables("classification", 150, prior.Shape(300, 50, 5, 10), seed=2):
        ks.append(k)
        minority.append(np.bincount(y[:300]).min() / 300)
    ks = np.array(ks)
    assert np.mean(ks >= 3) > 0.6 and np.mean(ks >= 7) > 0.2
    assert np.mean(np.array(minority) < 0.05) > 0.2  # imbalanced tables are common


def test_prior_2_regression_targets_have_many_shapes():
    from scipy.stats import skew

    targets = [y for _, y, _ in _tables("regression", 120)]
    skews = np.array([skew(y) for y in targets])
    distinct = np.array([len(np.unique(y)) for y in targets])
    assert np.mean(skews > 1) > 0.1 and np.mean(skews < -0.5) > 0.03
    assert np.mean(distinct <= 21) > 0.05  # discrete targets (counts, ratings)


@pytest.mark.parametrize("name", ["linear", "mlp", "tree", "cluster"])
def test_each_prior_2_component_is_learnable(name, monkeypatch):
    """A random forest's balanced accuracy beats chance (classes are imbalanced on purpose,
    so plain accuracy against the majority class would say little)."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import balanced_accuracy_score

    monkeypatch.setitem(prior.MIXTURE_V2, "classification", {name: 1.0})
    rng = np.random.default_rng(0)
    gains = []
    for _ in range(10):
        shape = prior.Shape(150, 150, int(rng.integers(2, 12)), 5)
        x, y, _ = prior.sample_table(rng, shape, "classification", 2)
        seen = y[150:] >= 0
        forest = RandomForestClassifier(30, random_state=0).fit(x[:150], y[:150])
        score = balanced_accuracy_score(y[150:][seen], forest.predict(x[150:])[seen])
        gains.append(score - 1 / len(np.unique(y[150:][seen])))
    assert np.mean(gains) > 0.1


def _settings(**changes):
    from wlearn_mitra.pretrain.trainer import RunSettings

    base = dict(dim=16, n_layers=1, n_heads=2, tokens_per_step=1024, max_features=6,
                max_support=48, warmup_steps=2, report_seconds=1e9, prior=2)
    return RunSettings(**{**base, **changes})


def test_bin_ids_follow_autogluon_bucketize():
    from wlearn_mitra.pretrain.trainer import bin_ids

    y = torch.tensor([-3.0, -0.5, -0.499, 0.0, 0.5, 1.0, 1.5, 9.0])
    # Bin i holds (edge_i, edge_i+1]; outside values land in the first / last bin.
    ids = bin_ids(y, 4)  # edges -0.5, 0, 0.5, 1, 1.5
    assert ids.tolist() == [0, 0, 0, 0, 1, 2, 3, 3]
    assert bin_ids(y, 1000).dtype == torch.int64


def test_bin_head_loss_is_the_cross_entropy_of_the_query_bins():
    """The trainer's loss equals a numpy cross-entropy over the bins, computed apart: the
    targets min-max scaled by the support, bucketed, support bins fed as class ids."""
    from wlearn_mitra.pretrain.trainer import new_model, loss_of

    n_bins = 12
    model = new_model(_settings(task="regression", n_bins=n_bins)).eval()
    rng = np.random.default_rng(0)
    shape = prior.Shape(9, 5, 3, 0)
    batch = prior.sample_batch(rng, shape, 2, "regression", 2)
    with torch.no_grad():
        loss = loss_of(model, batch, "regression").item()

    y = batch.y.astype(np.float64)
    low, high = y[:, :9].min(1, keepdims=True), y[:, :9].max(1, keepdims=True)
    scaled = ((y - low) / (high - low)).astype(np.float32)
    edges = np.linspace(-0.5, 1.5, n_bins + 1).astype(np.float32)
    ids = np.clip(np.searchsorted(edges, scaled, side="left") - 1, 0, n_bins - 1)
    with torch.no_grad():
        logits = model(torch.from_numpy(batch.x[:, :9]), torch.from_numpy(ids[:, :9]),
                       torch.from_numpy(batch.x[:, 9:])).double().numpy()
    logp = logits - logits.max(-1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(-1, keepdims=True))
    target = ids[:, 9:]
    expected = -np.mean(np.take_along_axis(logp, target[..., None], -1))
    assert loss == pytest.approx(expected, rel=1e-5)
    assert logits.shape == (2, 5, n_bins)


def test_bin_regressor_warm_started_from_a_scalar_one_predicts_its_mean(tmp_path):
    """Bin embeddings = the scalar y embedding at the bin centres and a Gaussian head around
    the scalar prediction: the two models' predicted means agree at the start."""
    from wlearn_mitra.pretrain.trainer import Run, bin_centres, bin_ids

    scalar = Run(tmp_path / "scalar", _settings(task="regression"))
    scalar.train(steps=3)
    bins = Run(tmp_path / "bins", _settings(task="regression", n_bins=1000,
                                             init=str(tmp_path / "scalar")))
    a, b = scalar.averaged_model(), bins.averaged_model()
    body = [k for k in a.state_dict() if not k.startswith(("y_embedding.y_emb", "final_layer"))]
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in body)
    rng = np.random.default_rng(0)
    xs, xq = rng.normal(size=(1, 30, 3)), rng.normal(size=(1, 10, 3))
    ys = rng.uniform(size=(1, 30))
    f = lambda v: torch.tensor(v, dtype=torch.float32)  # noqa: E731
    with torch.no_grad():
        point = a(f(xs), f(ys), f(xq))[0].numpy()
        probs = torch.softmax(b(f(xs), bin_ids(f(ys), 1000), f(xq))[0].double(), -1)
        mean = (probs @ bin_centres(1000).double()).numpy()
    # Same body inputs up to the bin width (0.002); a Gaussian of width 0.2 cut at the bin
    # range moves the mean a little for predictions near its ends.
    np.testing.assert_allclose(mean, point, atol=0.02)
    bins.train(steps=2)  # and it trains
    assert np.isfinite(json.loads((tmp_path / "bins" / "log.jsonl").read_text())["loss"])


def test_bin_regressor_exports_the_v2_regressor_interface(tmp_path):
    """The ONNX graph of a bin-head run takes int64 y_support and returns [B, Q, n_bins]
    logits, as the converted Mitra-v2 regressor does."""
    import onnxruntime as ort

    from wlearn_mitra.convert import convert
    from wlearn_mitra.pretrain.trainer import Run

    run = Run(tmp_path / "bins", _settings(task="regression", n_bins=50))
    run.train(steps=1)
    path = convert(run.export(), tmp_path / "bins.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    kinds = {i.name: i.type for i in session.get_inputs()}
    assert kinds["y_support"] == "tensor(int64)"
    rng = np.random.default_rng(0)
    feeds = {"x_support": rng.normal(size=(2, 7, 3)).astype(np.float32),
             "y_support": rng.integers(0, 50, (2, 7)).astype(np.int64),
             "x_query": rng.normal(size=(2, 4, 3)).astype(np.float32),
             "padding_obs_support": np.zeros((2, 7), dtype=bool)}
    feeds = {k: v for k, v in feeds.items() if k in kinds}
    (logits,) = session.run(None, feeds)
    assert logits.shape == (2, 4, 50)
    model = run.averaged_model()
    with torch.no_grad():
        expected = model(*(torch.from_numpy(feeds[k]) for k in
                           ("x_support", "y_support", "x_query"))).numpy()
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-4)


def test_a_classifier_run_started_from_another_takes_all_of_it(tmp_path):
    from wlearn_mitra.pretrain.trainer import Run

    first = Run(tmp_path / "a", _settings(prior=1))
    first.train(steps=2)
    second = Run(tmp_path / "b", _settings(init=str(tmp_path / "a"), seed=9))
    for key, value in first.averaged_model().state_dict().items():
        assert torch.equal(value, second.model.state_dict()[key]), key


def test_sigterm_stops_the_command_after_a_step_and_saves(tmp_path, monkeypatch):
    import os

    from wlearn_mitra.cli import main
    from wlearn_mitra.pretrain import trainer

    real = trainer._step_batch

    def step_batch(settings, step):
        if step == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return real(settings, step)

    monkeypatch.setattr(trainer, "_step_batch", step_batch)
    run = tmp_path / "run"
    args = ["pretrain", "--run", str(run), "--steps", "50", "--no-eval", "--dim", "16",
            "--layers", "1", "--heads", "2"]
    assert main(args) == 0
    assert trainer.Run(run).step == 3
    assert json.loads((run / "run.json").read_text())["prior"] == prior.LATEST
    assert signal.getsignal(signal.SIGTERM) is not None
