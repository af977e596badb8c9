"""Shared pieces of the Mitra benchmarks: the workloads, full-size random models built with the
project's converter, FLOP counts, a GEMM peak, peak-RSS sampling, the single graph's feeds and
AutoGluon's PyTorch eager run."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Workload:
    name: str
    n_support: int
    n_features: int
    n_query: int
    n_classes: int = 3

    def data(self, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        xs = rng.normal(size=(self.n_support, self.n_features)).astype(np.float32)
        xq = rng.normal(size=(self.n_query, self.n_features)).astype(np.float32)
        ys = np.arange(self.n_support) % self.n_classes
        rng.shuffle(ys)
        return xs, ys, xq


def layer_flops_per_token(dim: int, n_support: int, n_tokens: int) -> tuple[float, float]:
    """(projection + MLP FLOPs, attention-score FLOPs) of one token in one Tab2D layer.

    Per token: q/k/v/o of two attentions (2 x 4 x 2 d^2), two MLPs d -> 4d -> d (2 x 16 d^2);
    row attention to ``n_support`` rows and feature attention over ``n_tokens`` tokens
    (QK^T and AV: 4 x keys x d each).
    """
    dense = 48.0 * dim * dim
    attention = 4.0 * dim * (n_support + n_tokens)
    return dense, attention


def forward_flops(dim: int, n_layers: int, n_support: int, n_features: int, n_query: int) -> dict:
    """FLOPs of one full forward pass, split into its support and query sides."""
    tokens = n_features + 1
    dense, attention = layer_flops_per_token(dim, n_support, tokens)
    per_row = n_layers * tokens * (dense + attention)
    return {
        "support": n_support * per_row,
        "query": n_query * per_row,
        "total": (n_support + n_query) * per_row,
    }


def gemm_peak(size: int = 2048, repeats: int = 5) -> float:
    """Best float32 GEMM rate numpy reaches here, in GFLOP/s (same threads as the run)."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=(size, size)).astype(np.float32)
    b = rng.normal(size=(size, size)).astype(np.float32)
    a @ b  # warm-up: thread pool, page faults
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2.0 * size**3 / best / 1e9


def hwm_mb() -> float:
    """This process's own peak RSS (VmHWM). Unlike ``ru_maxrss`` it does not carry over the
    parent's peak into a freshly exec'd child."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    import psutil

    return psutil.Process(os.getpid()).memory_info().rss / 2**20


class PeakRSS:
    """Samples this process's RSS every few milliseconds while the block runs."""

    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self.peak = self.start = 0.0
        self._stop = threading.Event()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mb())
            self._stop.wait(self.interval)

    def __enter__(self) -> "PeakRSS":
        self.start = self.peak = rss_mb()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb())


def timed(fn, *args, **kwargs):
    """(seconds, peak RSS MB, result) of one call."""
    with PeakRSS() as rss:
        start = time.perf_counter()
        result = fn(*args, **kwargs)
        seconds = time.perf_counter() - start
    return seconds, rss.peak, result


def softmax(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


WORKLOADS = {  # keyed by the name given to --workloads
    "W1": Workload("W1", 512, 10, 256),
    "W2": Workload("W2", 512, 10, 2048),
    "W3": Workload("W3", 1024, 30, 512),
}
QUICK = {
    "W1": Workload("W1q", 128, 10, 64),
    "W2": Workload("W2q", 128, 10, 512),
    "W3": Workload("W3q", 256, 30, 128),
}
FULL = {"dim": 512, "n_layers": 12, "n_heads": 4}


def build_models(folder: Path, size: dict) -> tuple[Path, Path]:
    """Random classifier weights -> (checkpoint folder, single graph with its split pair)."""
    from wlearn_mitra.convert.checkpoint import random_checkpoint
    from wlearn_mitra.convert.export import convert

    import hashlib

    import wlearn_mitra.convert as converter

    # graphs are rebuilt whenever the converter's source changes
    digest = hashlib.sha256()
    for source in sorted(Path(converter.__file__).parent.glob("*.py")):
        digest.update(source.read_bytes())
    tag = "mitra-random-{dim}x{n_layers}-".format(**size) + digest.hexdigest()[:10]
    checkpoint, single = folder / tag, folder / f"{tag}.onnx"
    if not (checkpoint / "model.safetensors").is_file():
        random_checkpoint(checkpoint, "classifier", seed=0, **size)
    if not single.with_name(f"{tag}.decoder.onnx").is_file():
        start = time.perf_counter()
        convert(checkpoint, single, split=True)
        print(f"converted in {time.perf_counter() - start:.1f} s", flush=True)
    return checkpoint, single


def single_graph_feeds(xs: np.ndarray, ys: np.ndarray, xq: np.ndarray) -> dict:
    """The feeds of one run of the single graph (batch 1, no padding), as the JS package
    gives them: float32 rows, int64 class indices."""
    return {"x_support": xs[None], "y_support": ys.astype(np.int64)[None], "x_query": xq[None],
            "padding_obs_support": np.zeros((1, len(xs)), dtype=bool)}


def torch_eager(python: str, checkpoint: Path, xs: np.ndarray, ys: np.ndarray, xq: np.ndarray,
                *, bf16: bool = False, converter: bool = False) -> dict | None:
    """Tab2D in PyTorch eager on ``checkpoint``, run by ``bench/_mitra_torch_eager.py`` under
    ``python`` (AutoGluon's Tab2D, or with ``converter`` this project's): its JSON result
    (seconds, cpu_seconds, first_seconds, peak_rss_mb, threads) with ``output``, the raw
    output [Q, slots]; None when it fails, said with its last error line."""
    script = Path(__file__).resolve().parents[1] / "_mitra_torch_eager.py"
    with tempfile.TemporaryDirectory() as scratch:
        inputs, output = Path(scratch) / "in.npz", Path(scratch) / "out.npz"
        np.savez(inputs, x_support=xs, y_support=ys.astype(np.int64), x_query=xq)
        command = [python, str(script), str(checkpoint), str(inputs), str(output)]
        command += (["--bf16"] if bf16 else []) + (["--converter"] if converter else [])
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            lines = done.stderr.strip().splitlines()
            print(f"  torch eager: not run: {lines[-1] if lines else done.returncode}",
                  flush=True)
            return None
        result = json.loads(done.stdout.strip().splitlines()[-1])
        result["output"] = np.load(output)["output"]
    return result
