"""ONNX Runtime session settings for Mitra, measured (full-size random weights).

Each setting runs in a fresh process on the query decoder (the warm path) with an encoded
support set of 512 x 10: session load time, then two predicts with different query counts
(shapes that change between calls, as chunking and real use produce), and peak RSS.

    python bench/bench_mitra_ort.py [--queries 128,192] [--settings default,ours,...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchlib.mitra import FULL, Workload, build_models, hwm_mb

SETTINGS = {
    "default": "ONNX Runtime defaults (what the JS package uses)",
    "ours": "ENABLE_EXTENDED, memory pattern off (the engine's choice)",
    "basic": "ours at ORT_ENABLE_BASIC",
    "all": "ours at ORT_ENABLE_ALL",
    "no_arena": "ours with the CPU memory arena off",
    "threads1": "ours with 1 intra-op thread",
    "opt_file_first": "ours, writing the optimised graph to a file (first engine)",
    "opt_file_reuse": "ours, loading that optimised graph file (later engines)",
}


def options(setting: str, scratch: Path):
    import onnxruntime as ort

    o = ort.SessionOptions()
    if setting == "default":
        return o
    o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    o.enable_mem_pattern = False
    if setting == "basic":
        o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    elif setting == "all":
        o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    elif setting == "no_arena":
        o.enable_cpu_mem_arena = False
    elif setting == "threads1":
        o.intra_op_num_threads = 1
    elif setting == "opt_file_first":
        o.optimized_model_filepath = str(scratch / "decoder.opt.onnx")
        o.log_severity_level = 3
    return o


def child(setting: str, queries: list[int], scratch: Path, models: Path) -> None:
    import onnxruntime as ort

    from wlearn_mitra.engine import MitraEngine

    _, single = build_models(models, dict(FULL))
    saved = scratch / "encoded.npz"
    if not saved.is_file():  # encode once for all settings
        encoder_engine = MitraEngine(single, task="classification")
        xs, ys, _ = Workload("ort", 512, 10, 1).data()
        np.savez(saved, **dict(zip(encoder_engine.cache_names, encoder_engine.encode(xs, ys))))
        del encoder_engine
    with np.load(saved) as data:
        names = list(data.files)
        encoded = [data[name] for name in names]

    decoder = single.with_name(single.name.replace(".onnx", ".decoder.onnx"))
    source = str(scratch / "decoder.opt.onnx") if setting == "opt_file_reuse" else str(decoder)
    start = time.perf_counter()
    session = ort.InferenceSession(source, options(setting, scratch), providers=["CPUExecutionProvider"])
    load = time.perf_counter() - start
    runs = []
    rng = np.random.default_rng(1)
    for q in queries:
        feeds = dict(zip(names, encoded))
        feeds["x_query"] = rng.normal(size=(1, q, 10)).astype(np.float32)
        start = time.perf_counter()
        session.run(["output"], feeds)
        runs.append(time.perf_counter() - start)
    print(json.dumps({
        "setting": setting, "load_s": load, "runs_s": runs,
        "peak_rss_mb": hwm_mb(),
    }))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", default="128,192")
    parser.add_argument("--settings", default=",".join(SETTINGS))
    parser.add_argument("--models", type=Path, default=Path.home() / ".cache" / "wlearn-mitra" / "bench")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--scratch", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    queries = [int(q) for q in args.queries.split(",")]
    if args.child:
        child(args.child, queries, args.scratch, args.models)
        return 0
    with tempfile.TemporaryDirectory() as scratch:
        for setting in args.settings.split(","):
            command = [sys.executable, __file__, "--child", setting, "--scratch", scratch,
                       "--queries", args.queries, "--models", str(args.models)]
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                print(f"{setting}: failed: {done.stderr.strip().splitlines()[-1:]}")
                continue
            r = json.loads(done.stdout.strip().splitlines()[-1])
            runs = ", ".join(f"{s:.2f}" for s in r["runs_s"])
            print(f"{setting:<15} load {r['load_s']:5.2f} s  runs [{runs}] s  peak RSS {r['peak_rss_mb']:5.0f} MB"
                  f"   ({SETTINGS[setting]})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
