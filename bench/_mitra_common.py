"""Shared pieces of the Mitra benchmarks: FLOP counts, a GEMM peak, peak-RSS sampling."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

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
