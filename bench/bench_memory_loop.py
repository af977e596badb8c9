"""RSS over a GridSearchCV-style loop: many fits and predicts with new, undisposed estimators.

Each iteration fits a new MitraClassifier (or MitraRegressor) on a fresh random table, predicts
with it and drops it without ``dispose()``, as scikit-learn's model selection does. Before the
support cache was tied to its estimators, every encoded support set stayed in the engine's
in-memory cache until ``cache_mb`` (2 GB): RSS grew with the loop. Prints the RSS samples and
a JSON summary.

    python bench/bench_memory_loop.py --fits 10000 [--model tiny|builtin] [--task clf|reg]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np


def rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fits", type=int, default=10_000)
    parser.add_argument("--model", choices=("tiny", "builtin"), default="tiny")
    parser.add_argument("--task", choices=("clf", "reg"), default="clf")
    parser.add_argument("--rows", type=int, default=200, help="training rows per fit")
    parser.add_argument("--features", type=int, default=8)
    parser.add_argument("--every", type=int, default=500, help="sample RSS every N fits")
    parser.add_argument("--json", help="write the summary here too")
    args = parser.parse_args(argv)

    warnings.simplefilter("ignore")
    import wlearn_mitra
    from wlearn_mitra import MitraClassifier, MitraRegressor

    task = "classifier" if args.task == "clf" else "regressor"
    onnx = None
    if args.model == "tiny":
        onnx = str(Path(wlearn_mitra.__file__).parent / "data" / f"tiny-mitra-{task}.onnx")
    cls = MitraClassifier if args.task == "clf" else MitraRegressor
    rng = np.random.default_rng(0)
    samples = []
    started = time.perf_counter()
    for i in range(args.fits + 1):
        if i % args.every == 0:
            gc.collect()
            samples.append((i, round(rss_mb(), 1)))
            print(f"fits {i:6d}  rss {samples[-1][1]:8.1f} MB  "
                  f"{time.perf_counter() - started:7.1f} s", flush=True)
        if i == args.fits:
            break
        X = rng.normal(size=(args.rows, args.features))
        y = (X[:, 0] + 0.3 * rng.normal(size=args.rows) > 0).astype(int)
        if args.task == "reg":
            y = X[:, 0] + 0.1 * rng.normal(size=args.rows)
        est = cls(onnx=onnx).fit(X[: args.rows // 2 * 2], y)
        est.predict(X[:20])
        del est
    first = samples[1][1] if len(samples) > 1 else samples[0][1]
    summary = {
        "fits": args.fits, "model": args.model, "task": args.task, "rows": args.rows,
        "features": args.features, "wlearn_mitra": wlearn_mitra.__file__,
        "rss_start_mb": samples[0][1], f"rss_after_{args.every}_mb": first,
        "rss_end_mb": samples[-1][1], "growth_after_warmup_mb": round(samples[-1][1] - first, 1),
        "seconds": round(time.perf_counter() - started, 1), "samples": samples,
    }
    print(json.dumps(summary))
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
