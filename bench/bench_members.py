"""Would batching ensemble members pay? ``n_estimators`` members run one after another; the
graphs take a batch dimension, so B members could run as one batch. This measures, on the
built-in classifier and a small real-table-sized workload, B members run one by one against
the same B members in one batched run of the same session (each member its own support set,
as the random transforms make them), at 1 and 2 threads, and whether the batched answers are
bit-identical to the one-by-one answers (the engine's fp32 promise).

    python bench/bench_members.py [--members 4] [--support 300] [--query 300] [--features 12]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main(argv: list[str] | None = None) -> int:
    import onnxruntime as ort

    from wlearn_mitra.graphs import _builtin

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=4)
    parser.add_argument("--support", type=int, default=300)
    parser.add_argument("--query", type=int, default=300)
    parser.add_argument("--features", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    b, s, q, f = args.members, args.support, args.query, args.features
    rng = np.random.default_rng(0)
    feeds = {
        "x_support": rng.normal(size=(b, s, f)).astype(np.float32),
        "y_support": rng.integers(0, 3, (b, s)).astype(np.int64),
        "x_query": rng.normal(size=(b, q, f)).astype(np.float32),
        "padding_obs_support": np.zeros((b, s), dtype=bool),
    }
    for threads in (1, 2):
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        options.enable_mem_pattern = False
        session = ort.InferenceSession(_builtin.path("classification"), options,
                                       providers=["CPUExecutionProvider"])

        def one_by_one():
            return np.concatenate([session.run(None, {k: v[i:i + 1] for k, v in feeds.items()})[0]
                                   for i in range(b)])

        def batched():
            return session.run(None, feeds)[0]

        serial = together = float("inf")
        one_by_one(), batched()  # warm-up
        for _ in range(args.rounds):  # interleaved; each one's best
            start = time.perf_counter()
            a = one_by_one()
            serial = min(serial, time.perf_counter() - start)
            start = time.perf_counter()
            c = batched()
            together = min(together, time.perf_counter() - start)
        print(f"{threads} thread(s): {b} members one by one {serial:.3f} s, batched "
              f"{together:.3f} s ({serial / together:.2f}x); batched answers bit-identical: "
              f"{np.array_equal(a, c)} (max difference {np.abs(a - c).max():.1e})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
