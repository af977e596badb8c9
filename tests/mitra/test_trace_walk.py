"""bench/trace_walk.py counts the walk of one predict and one wlearn.load (its figures are
read by people; this checks that it counts what it says, on the tiny fixture model)."""

from __future__ import annotations

import json

import trace_walk  # bench/ is on pytest's pythonpath


def test_module_switches_count_consecutive_project_calls_only():
    walk = trace_walk.Walk()
    walk.calls = [("wlearn_mitra.a", "f"), ("numpy", "g"), ("wlearn_mitra.a", "h"),
                  ("wlearn_mitra.b", "f"), ("wlrn.x", "check_x"), ("wlearn_mitra.b", "f"),
                  ("abc", "ABCMeta.__instancecheck__")]
    summary = walk.summary()
    assert summary["calls"] == 5 and summary["python_calls"] == 7
    assert summary["modules"] == 3 and summary["functions"] == 4
    assert summary["module_switches"] == 3  # a -> b -> wlrn.x -> b; numpy is not counted
    assert summary["input_checks"] == {"wlrn.x:check_x": 1}


def test_the_walks_of_a_predict_and_a_load(fixtures_dir, tmp_path, capsys):
    out = tmp_path / "walk.json"
    onnx = fixtures_dir / "onnx" / "tiny-mitra-classifier.onnx"
    assert trace_walk.main(["--onnx", str(onnx), "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    for walk in ("predict", "load"):
        counts = result[walk]
        assert counts["modules"] >= 2 and counts["functions"] >= counts["modules"]
        assert counts["calls"] >= counts["functions"] and counts["module_switches"] >= 1
        assert all(name.split(".")[0] in trace_walk.PROJECT for name in counts["calls_per_module"])
    checks = result["predict"]["input_checks"]
    assert checks and all(count >= 1 for count in checks.values())
    assert "module_switches" in capsys.readouterr().out
