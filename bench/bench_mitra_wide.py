"""Peak RSS of a Mitra predict on wide data under a memory budget (full-size random weights).

The support side costs support rows x features^2 (attention across features) and features x
rows^2 (attention across rows); the plan (wlearn_mitra/_planning.py) keeps the whole run in
``--max-memory-mb`` by giving ensemble members feature subsets when all features do not fit.
Each feature count runs in a fresh process, one after the other, so each peak is its own.

    python bench/bench_mitra_wide.py --features 100,500,2000 --support 512 --max-memory-mb 2048

Prints one line per count: the plan (cached or single graph, features per member, members,
rows per chunk), the RSS before predicting (weights loaded), the peak RSS during the predict
and the peak above the RSS before. Peak RSS is VmHWM, reset with /proc/self/clear_refs once
the model is loaded. Counts and memory only: run timed benchmarks on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from benchlib.mitra import FULL, Workload, build_models, hwm_mb


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child(args) -> None:
    from wlearn_mitra.engine._preprocess import SupportStats
    from wlearn_mitra.engine import MitraEngine

    _, single = build_models(args.models, dict(FULL))
    engine = MitraEngine(single, task="classification", max_memory_mb=args.max_memory_mb or None,
                         threads=args.threads)
    xs, ys, xq = Workload("wide", args.support, args.features, args.query).data()
    n_features = int(SupportStats.fit(xs).keep.sum())
    chosen = engine.plan(len(xs), n_features)  # the engine's own plan, graphs as loaded
    before = _rss_mb()
    print(f"  {args.features} features: plan {chosen}, RSS before {before:.0f} MB",
          file=sys.stderr, flush=True)
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # VmHWM from here on
    def report(done: int, total: int) -> None:  # partial figures while a long run goes on
        print(f"  {args.features} features: {done}/{total} member rows, peak so far "
              f"{hwm_mb():.0f} MB", file=sys.stderr, flush=True)

    engine.predict(xs, ys, xq, n_classes=3, progress=report)
    print(json.dumps({
        "features": args.features, "support": args.support, "query": args.query,
        "cached": chosen.cached, "width": chosen.width, "members": chosen.members,
        "rows": chosen.rows, "rss_before_mb": before, "peak_rss_mb": hwm_mb(),
    }))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--features", default="100,500,2000")
    parser.add_argument("--support", type=int, default=512)
    parser.add_argument("--query", type=int, default=1)
    parser.add_argument("--max-memory-mb", type=float, default=2048,
                        help="the budget; 0 runs without one (the model's plain answer)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--models", type=Path,
                        default=Path.home() / ".cache" / "wlearn-mitra" / "bench")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        args.features = args.child
        child(args)
        return 0
    for features in (int(f) for f in args.features.split(",")):
        command = [sys.executable, __file__, "--child", str(features), "--support",
                   str(args.support), "--query", str(args.query), "--max-memory-mb",
                   str(args.max_memory_mb), "--models", str(args.models)]
        if args.threads is not None:
            command += ["--threads", str(args.threads)]
        done = subprocess.run(command, stdout=subprocess.PIPE, text=True)  # stderr: progress
        if done.returncode != 0:
            return 1
        r = json.loads(done.stdout.strip().splitlines()[-1])
        mode = "support cache" if r["cached"] else "single graph"
        print(f"{r['features']:>5} features x {r['support']} support rows: {mode}, "
              f"{r['width']} features x {r['members']} members, {r['rows']} rows per chunk; "
              f"RSS before {r['rss_before_mb']:.0f} MB, peak {r['peak_rss_mb']:.0f} MB "
              f"(+{r['peak_rss_mb'] - r['rss_before_mb']:.0f} MB, budget "
              f"{args.max_memory_mb:.0f} MB)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
