"""The main job: `wlearn-mitra demo` on the data shipped in the package."""

from __future__ import annotations

import re

import pytest

import wlearn
from wlearn_mitra.graphs import _builtin
from wlearn_mitra import cli

from _paths import fixtures_dir

FIXTURES = fixtures_dir()
CLF_ONNX = FIXTURES / "onnx" / "tiny-mitra-classifier.onnx"


def _scores(text: str, metric: str) -> dict[str, float]:
    return {name.strip(): float(value)
            for value, name in re.findall(rf"{re.escape(metric)} (-?[0-9.]+)  (.+)", text)}


def test_demo_with_the_built_in_models(capsys, tmp_path):
    out = tmp_path / "fitted.wlrn"
    assert cli.main(["demo", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "gives byte-identical bytes, and predictions agree" in text
    assert "small built-in classifier" in text and "wlearn-mitra convert" in text
    accuracy = _scores(text, "accuracy")
    r2 = _scores(text, "R^2")
    # The built-in models predict for real: close to the classical baselines of the same split.
    assert accuracy["Mitra (built-in model)"] >= 0.9
    assert accuracy["Mitra (built-in model)"] >= max(accuracy.values()) - 0.06
    assert r2["Mitra (built-in model)"] >= 0.3
    # The built-in regressor's 80% intervals hold about 80% of the scored targets.
    held = re.search(r"80% intervals \(predict_interval\) hold ([0-9.]+)% of the 221", text)
    assert held and 70 <= float(held.group(1)) <= 90
    assert "predictions agree on all 285 rows" in text and text.rstrip().endswith("Done.")
    # The bundle written names the built-in model, which wlearn.load finds by itself.
    assert wlearn.load(out).onnx_sha256_ == _builtin.sha256("classification")


def test_demo_with_a_model_from_the_environment(capsys, monkeypatch):
    monkeypatch.setenv("WLEARN_MITRA_CLASSIFIER_ONNX", str(CLF_ONNX))
    assert cli.main(["demo"]) == 0
    text = capsys.readouterr().out
    assert f"Model: {CLF_ONNX}" in text and "small built-in classifier" not in text
    assert "Mitra (given model)" in text and "predictions agree on all 285 rows" in text


def test_demo_reports_a_wrong_model_plainly(capsys):
    regressor = FIXTURES / "onnx" / "tiny-mitra-regressor.onnx"
    assert cli.main(["demo", "--onnx", str(regressor)]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "regressor" in err and "Traceback" not in err
