"""The bench script keeps working (its figures are read by people, not asserted here)."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_bundle.py"


def test_bench_runs(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", [str(BENCH), "--size-mb", "2", "--runs", "1"])
    runpy.run_path(str(BENCH), run_name="__main__")
    out = capsys.readouterr().out
    assert "decode+validate" in out and "ratio" in out and "peak extra mem" in out
