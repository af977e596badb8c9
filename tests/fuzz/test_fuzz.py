"""The fuzz campaign's short pass for CI: a bounded number of structure-aware executions of
every reader of untrusted bytes (see fuzz.py for the long, coverage-guided campaign).

Without atheris, the structure-aware mutators are driven by seeded ``random`` generators
(reproducible); with atheris installed, a short coverage-guided libFuzzer run follows.
"""

from __future__ import annotations

import collections
import importlib.util
import random
import subprocess
import sys
from pathlib import Path

import pytest

import fuzz
import onnx_mutator
import targets
import wlrn_mutator

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module", autouse=True)
def _restore_bindings():
    """targets.setup() binds the tiny models and caches the entry points: undo both, so
    later tests see the registry they expect."""
    from wlearn import registry
    from wlearn_mitra import loaders

    saved = dict(registry._registry), dict(loaders._bound), registry._entry_points
    yield
    registry._registry.clear()
    registry._registry.update(saved[0])
    loaders._bound.clear()
    loaders._bound.update(saved[1])
    registry._entry_points = saved[2]
    targets._ready = False


def _campaign(target: str, n: int, **options) -> collections.Counter:
    args = [target, *(f"--{k.replace('_', '-')}={v}" for k, v in options.items())]
    run = fuzz.make_runner(fuzz._options(args)[0])
    seeds = fuzz._seeds(target)
    mutate = wlrn_mutator.mutate if target == "bundle" else onnx_mutator.mutate
    outcomes: collections.Counter = collections.Counter()
    pool = list(seeds)
    for i in range(n):
        rng = random.Random(i)
        data = mutate(rng.choice(pool), rng, seeds, 1 << 16)
        try:
            outcomes[run(data)] += 1
        except targets.Finding as finding:
            pytest.fail(f"input {i} ({data[:2000]!r}...): {finding}")
        if rng.random() < 0.1:  # grow the pool a little so mutations stack
            pool.append(data)
    return outcomes


def test_every_seed_is_read_as_expected():
    outcomes = {p.name: targets.check_bundle(p.read_bytes(), predict=True)
                for p in sorted((HERE / "corpus" / "bundle").iterdir())}
    mitra = {name: outcome for name, outcome in outcomes.items()
             if name.startswith(("py-", "js-mitra-"))}
    assert set(mitra.values()) == {"loaded"}, mitra
    assert outcomes["js-mlp_classifier.wlrn"] == "refused by loader"  # no loader installed
    for path in sorted((HERE / "corpus" / "onnx").iterdir()):
        # the stacked decoder takes an input Mitra does not feed; external data needs a path
        want = "refused" if path.name.startswith(("decoder-stacked", "classifier-external")) \
            else "opened"
        assert targets.check_onnx(path.read_bytes(), engine=True) == want, path.name


def test_bundle_readers_structure_aware():
    # A generous CPU bound: the long campaign holds inputs to 1 CPU second; here only a
    # true hang should fail CI.
    outcomes = _campaign("bundle", 1500, predict_every=8, trace_every=4, max_cpu_seconds=30)
    # Most inputs must get past the codec, or the mutator has stopped being structure-aware.
    assert outcomes["loaded"] + outcomes["refused by loader"] > 0.5 * sum(outcomes.values()), \
        outcomes
    assert outcomes["loaded"] > 100, outcomes


def test_onnx_checks_structure_aware():
    outcomes = _campaign("onnx", 600, engine_every=20, trace_every=4, max_cpu_seconds=30)
    assert outcomes["opened"] + outcomes["refused"] > 10, outcomes


@pytest.mark.skipif(importlib.util.find_spec("atheris") is None, reason="atheris not installed")
@pytest.mark.parametrize("target", ["bundle", "onnx"])
def test_coverage_guided_pass(target, tmp_path):
    (tmp_path / "corpus").mkdir()
    result = subprocess.run(
        [sys.executable, str(HERE / "fuzz.py"), target, "--findings", str(tmp_path / "findings"),
         "--max-cpu-seconds=30",
         str(tmp_path / "corpus"), str(HERE / "corpus" / target), "-runs=1500", "-timeout=10",
         "-max_len=65536", f"-artifact_prefix={tmp_path}/"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Done 1500 runs" in result.stderr, result.stderr[-3000:]
    findings = sorted((tmp_path / "findings").glob("*.txt"))
    assert not findings, [f.read_text() for f in findings]
