"""Peak RSS of a Mitra predict against the number of query rows (full-size random weights).

Each row count runs in a fresh process, so each peak is its own. With query chunking the peak
must stay flat as rows grow: weights + one encoded support set + one chunk's activations.

    python bench/bench_mitra_rss.py --rows 1000,4000 [--max-memory-mb 1024] [--no-cache]

Prints one line per count: seconds, seconds per 1000 rows, chunks, peak RSS, and the RSS
after each chunk. Predicting 100,000 rows is this per-row time x 100 (see bench/README.md).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from benchlib.mitra import FULL, Workload, build_models, hwm_mb, rss_mb


def child(args) -> None:
    from wlearn_mitra.engine import MitraEngine

    _, single = build_models(args.models, dict(FULL))
    engine = MitraEngine(single, task="classification", split="auto" if args.cache else None)
    xs, ys, xq = Workload("rss", args.support, args.features, args.rows).data()
    samples = []
    start = time.perf_counter()
    engine.predict(
        xs, ys, xq, n_classes=3, max_memory_mb=args.max_memory_mb,
        progress=lambda done, total: samples.append((done, round(rss_mb()))),
    )
    seconds = time.perf_counter() - start
    print(json.dumps({
        "rows": args.rows,
        "seconds": seconds,
        "chunks": len(samples),
        "peak_rss_mb": hwm_mb(),
        "rss_after_chunks_mb": [mb for _, mb in samples],
    }))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default="1000,4000")
    parser.add_argument("--support", type=int, default=512)
    parser.add_argument("--features", type=int, default=10)
    parser.add_argument("--max-memory-mb", type=float, default=None)
    parser.add_argument("--no-cache", dest="cache", action="store_false")
    parser.add_argument("--models", type=Path, default=Path.home() / ".cache" / "wlearn-mitra" / "bench")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        args.rows = args.child
        child(args)
        return 0
    for rows in (int(r) for r in args.rows.split(",")):
        command = [sys.executable, __file__, "--child", str(rows), "--support", str(args.support),
                   "--features", str(args.features), "--models", str(args.models)]
        if args.max_memory_mb is not None:
            command += ["--max-memory-mb", str(args.max_memory_mb)]
        if not args.cache:
            command.append("--no-cache")
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            print(done.stderr, file=sys.stderr)
            return 1
        r = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"{r['rows']:>7} rows: {r['seconds']:8.1f} s ({1000 * r['seconds'] / r['rows']:.1f} s per 1000 rows), "
              f"{r['chunks']} chunks, peak RSS {r['peak_rss_mb']:.0f} MB, "
              f"RSS after each chunk {r['rss_after_chunks_mb']}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
