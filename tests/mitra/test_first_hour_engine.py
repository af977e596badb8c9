"""Small things users hit in the first hour, on the engine's side (a garbage model is its own
clear error on every runtime: tests/mitra/runtimes): the out-of-memory message names
parameters the estimators take; worker processes share the cores (OMP_NUM_THREADS, as joblib
and Dask set it) and do not repeat the built-in model notice."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from wlearn.errors import ResourceLimitError
from wlearn_mitra import MitraClassifier, MitraRegressor
from wlearn_mitra.graphs import _builtin
from wlearn_mitra.engine import _shared as _sources


def test_out_of_memory_names_parameters_the_estimators_take():
    import inspect

    from wlearn_mitra.runtimes._ort import run_interruptible

    class Fail(Exception):
        pass

    Fail.__module__ = "onnxruntime.capi.onnxruntime_pybind11_state"

    class Session:
        def run(self, *args):
            raise Fail("Failed to allocate memory for requested buffer of size 123")

    with pytest.raises(ResourceLimitError) as info:
        run_interruptible(Session(), ["output"], {})
    message = str(info.value)
    assert "chunk_size" not in message
    named = [p for p in ("max_memory_mb", "max_support") if p in message]
    assert named == ["max_memory_mb", "max_support"]
    for cls in (MitraClassifier, MitraRegressor):
        accepted = inspect.signature(cls).parameters
        assert all(p in accepted for p in named)


@pytest.mark.parametrize(("env", "want"), [
    ({}, None),
    ({"OMP_NUM_THREADS": "3"}, 3),  # joblib's workers: cores // n_jobs
    ({"OMP_NUM_THREADS": "2,1"}, 2),  # OpenMP's nested list
    ({"OMP_NUM_THREADS": "x"}, None),
    ({"OMP_NUM_THREADS": "3", "WLEARN_MITRA_THREADS": "1"}, 1),  # ours first
])
def test_thread_policy(monkeypatch, env, want):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("WLEARN_MITRA_THREADS", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert _sources.threads() == want


def test_joblib_workers_share_the_cores():
    joblib = pytest.importorskip("joblib")
    import os

    from wlearn_mitra.engine import _shared as sources

    def threads_in_worker():
        return sources.threads(), os.environ.get("OMP_NUM_THREADS")

    env = {k: v for k, v in os.environ.items()}
    if "OMP_NUM_THREADS" in env or "WLEARN_MITRA_THREADS" in env:
        pytest.skip("the environment sets the threads already")
    got = joblib.Parallel(n_jobs=2, backend="loky")(
        joblib.delayed(threads_in_worker)() for _ in range(2))
    want = max(joblib.cpu_count() // 2, 1)
    assert all(threads == want for threads, _ in got), got


CHILD = r"""
import json, multiprocessing, warnings
import numpy as np

def fit_in_worker(_):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from wlearn_mitra import MitraClassifier
        X = np.random.default_rng(0).normal(size=(20, 2))
        MitraClassifier().fit(X, np.arange(20) % 2).predict(X[:3])
    return sum("built-in" in str(w.message) for w in caught)

if __name__ == "__main__":
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from wlearn_mitra import MitraClassifier
        X = np.random.default_rng(0).normal(size=(20, 2))
        MitraClassifier().fit(X, np.arange(20) % 2)
    parent = sum("built-in" in str(w.message) for w in caught)
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        workers = pool.map(fit_in_worker, range(4))
    print(json.dumps([parent, workers]))
"""


def test_builtin_notice_once_per_session_not_per_worker(tmp_path):
    script = tmp_path / "session.py"
    script.write_text(CHILD)
    import os

    # a fresh session: not one that earlier tests in this process already told
    env = {k: v for k, v in os.environ.items() if k != _builtin.NOTICED_VAR}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    parent, workers = json.loads(done.stdout.strip().splitlines()[-1])
    assert parent == 1 and sum(workers) == 0, (parent, workers)


def test_builtin_notice_is_still_given_in_a_plain_process(monkeypatch):
    monkeypatch.setattr(_builtin, "_noticed", set())
    monkeypatch.delenv(_builtin.NOTICED_VAR, raising=False)
    with pytest.warns(_builtin.BuiltinModelWarning):
        _builtin.notice("regression", "get it", "VAR")
    import os

    assert "regression" in os.environ[_builtin.NOTICED_VAR]
