"""The main job: `wlearn-mitra demo` on the data shipped in the package."""

from __future__ import annotations

from pathlib import Path

import pytest

from wlearn_mitra import cli

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures"
CLF_ONNX = FIXTURES / "onnx" / "tiny-mitra-classifier.onnx"
JS_BUNDLE = FIXTURES / "mitra-js" / "b_3class_strat_s42" / "model.wlrn"


def test_demo_with_the_shipped_stand_in(capsys, tmp_path):
    out = tmp_path / "fitted.wlrn"
    assert cli.main(["demo", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "UNTRAINED stand-in" in text and "wlearn-mitra convert" in text
    assert "the same rows as the JS bundle" in text
    assert "byte-identical to the JS bundle" in text
    assert "predictions agree on all 60 rows" in text and text.rstrip().endswith("Done.")
    assert out.read_bytes() == JS_BUNDLE.read_bytes()


def test_demo_with_a_model_from_the_environment(capsys, monkeypatch, tmp_path):
    onnx = pytest.importorskip("onnx")
    model = onnx.load_from_string(CLF_ONNX.read_bytes())
    model.doc_string = "another classifier file"
    path = tmp_path / "other.onnx"
    path.write_bytes(model.SerializeToString())
    monkeypatch.setenv("WLEARN_MITRA_CLASSIFIER_ONNX", str(path))
    assert cli.main(["demo"]) == 0
    text = capsys.readouterr().out
    assert f"Model: {path}" in text and "UNTRAINED" not in text
    assert "onnxSha256 check is skipped" in text
    assert "byte-identical" not in text  # another model, another onnxSha256
    assert "predictions agree" in text


def test_demo_reports_a_wrong_model_plainly(capsys):
    regressor = FIXTURES / "onnx" / "tiny-mitra-regressor.onnx"
    assert cli.main(["demo", "--onnx", str(regressor)]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "regressor" in err and "Traceback" not in err
