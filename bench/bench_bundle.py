"""Decode + validate throughput of a large bundle, against hashlib.sha256 on the same bytes.

    python bench/bench_bundle.py            # 200 MB bundle
    python bench/bench_bundle.py --quick    # 20 MB, for a smoke run

Prints both throughputs, their ratio (target >= 0.80: validation should cost little more than
hashing) and the peak extra memory of decode + validate next to the bundle size (target: far
below it, i.e. no blob is copied).
"""

from __future__ import annotations

import argparse
import hashlib
import time
import tracemalloc

import numpy as np

import wlearn
import wlrn


def build(total_mb: int, n_artifacts: int) -> bytes:
    rng = np.random.default_rng(0)
    each = total_mb * 1_000_000 // n_artifacts
    artifacts = [{"id": f"layer_{i:02d}", "data": rng.bytes(each)} for i in range(n_artifacts)]
    artifacts.append({"id": "meta", "data": wlearn.encode_json({"n": n_artifacts}),
                      "mediaType": "application/json"})
    manifest = {"typeId": "wlearn.bench.model@1", "params": {"layers": n_artifacts}}
    return wlrn.encode_bundle(manifest, artifacts)


def timed(fn) -> tuple[float, float]:
    """Wall-clock and process CPU seconds of one call (CPU time is steadier on a shared box)."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 MB instead of 200 MB")
    parser.add_argument("--size-mb", type=int, default=None, help="bundle size in MB")
    parser.add_argument("--artifacts", type=int, default=8)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    size_mb = args.size_mb or (20 if args.quick else 200)

    data = build(size_mb, args.artifacts)
    size = len(data)

    def validate() -> None:
        manifest, toc, blobs = wlearn.validate_bundle(data)
        assert len(blobs) == args.artifacts + 1

    # Interleave so both see the same machine state; keep each one's best run.
    validate()  # warm up (first-touch page faults, imports)
    sha, val = [], []
    for _ in range(args.runs):
        sha.append(timed(lambda: hashlib.sha256(data).hexdigest()))
        val.append(timed(validate))
    sha_time, sha_cpu = min(t for t, _ in sha), min(c for _, c in sha)
    validate_time, validate_cpu = min(t for t, _ in val), min(c for _, c in val)

    tracemalloc.start()
    validate()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    mb = size / 1e6
    print(f"bundle           {mb:,.1f} MB, {args.artifacts + 1} artifacts, best of {args.runs} runs")
    print(f"hashlib.sha256   {mb / sha_time:8,.1f} MB/s  ({sha_time * 1e3:7.1f} ms)")
    print(f"decode+validate  {mb / validate_time:8,.1f} MB/s  ({validate_time * 1e3:7.1f} ms)")
    print(f"ratio            {sha_time / validate_time:8.3f}   (target >= 0.80; "
          f"{sha_cpu / validate_cpu:.3f} on process CPU time)")
    print(f"peak extra mem   {peak / 1e3:8,.1f} kB   ({peak / size:.5%} of the bundle; "
          "traced Python allocations during decode+validate)")


if __name__ == "__main__":
    main()
