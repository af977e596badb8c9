"""Long contexts (Mitra-v2's longer support sets) on a CPU: fit + first predict time and peak
RSS at 512, 2,048 and 8,192 support rows, full-size random weights (dim 512, 12 layers, 4
heads: the shape of ``autogluon/mitra-classifier-2`` and of v1), with the support cache
(encoder + decoder pair, the default) and without it (the single graph).

    python bench/bench_mitra_context.py --support 512,2048,8192 --features 10 --query 256

Each (support rows, mode) runs in a fresh process, one after the other. Before running, the
engine's plan (spec/mitra.md "Wide data") estimates the support side's memory; a size whose
estimate exceeds the machine's available memory is refused by the engine with
ResourceLimitError, and the line says so with the engine's message instead of a time. Each
child's address space is capped (``--cap-mb``, default 12,000) so that a size the estimate lets
through cannot take a shared machine's memory; hitting the cap is reported as a failure. Times
are also given relative to 512 rows in the same run (the figure to quote on a shared machine).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

from benchlib.mitra import FULL, Workload, build_models, hwm_mb


def child(args) -> dict:
    from wlearn.errors import ResourceLimitError
    from wlearn_mitra.engine import MitraEngine

    _, single = build_models(args.models, dict(FULL))
    engine = MitraEngine(single, task="classification", threads=args.threads,
                         split="auto" if args.mode == "cache" else None)
    xs, ys, xq = Workload("context", args.child, args.features, args.query).data()
    result = {"support": args.child, "mode": args.mode, "features": args.features,
              "query": args.query}
    try:
        engine.plan(len(xs), args.features)
    except ResourceLimitError as exc:
        return {**result, "refused": str(exc)}
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # VmHWM from here on: the predict's own peak above the loaded model
    start = time.perf_counter()
    engine.predict(xs, ys, xq, n_classes=3)
    return {**result, "seconds": time.perf_counter() - start, "peak_rss_mb": hwm_mb()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--support", default="512,2048,8192")
    parser.add_argument("--features", type=int, default=10)
    parser.add_argument("--query", type=int, default=256)
    parser.add_argument("--modes", default="cache,single")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--models", type=Path,
                        default=Path.home() / ".cache" / "wlearn-mitra" / "bench")
    parser.add_argument("--cap-mb", type=int, default=12000,
                        help="address-space cap of each child process (MB)")
    parser.add_argument("--json", type=Path, help="also save the results here")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="cache", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(child(args)))
        return 0
    build_models(args.models, dict(FULL))  # once, before any timing
    results = []
    for mode in args.modes.split(","):
        for support in (int(s) for s in args.support.split(",")):
            command = [sys.executable, __file__, "--child", str(support), "--mode", mode,
                       "--features", str(args.features), "--query", str(args.query),
                       "--models", str(args.models)]
            if args.threads is not None:
                command += ["--threads", str(args.threads)]
            cap = args.cap_mb * 2**20
            done = subprocess.run(command, stdout=subprocess.PIPE, text=True, preexec_fn=lambda:
                                  resource.setrlimit(resource.RLIMIT_AS, (cap, cap)))
            if done.returncode != 0:
                results.append({"support": support, "mode": mode,
                                "failed": f"exit status {done.returncode}"})
            else:
                results.append(json.loads(done.stdout.strip().splitlines()[-1]))
            r = results[-1]
            base = next((b for b in results if b["mode"] == mode and "seconds" in b), None)
            if "seconds" in r:
                print(f"{support:>6} support rows, {mode:>6}: {r['seconds']:7.1f} s "
                      f"({r['seconds'] / base['seconds']:5.1f}x {base['support']} rows), "
                      f"peak RSS {r['peak_rss_mb']:8.0f} MB", flush=True)
            else:
                print(f"{support:>6} support rows, {mode:>6}: "
                      f"{r.get('refused') or r.get('failed')}", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"argv": sys.argv[1:], "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
