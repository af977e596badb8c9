"""Mitra inference benchmark: our engine vs the JS package's way vs AutoGluon's PyTorch eager.

Builds random full-size weights with the project's converter (single graph + the support
encoder / query decoder pair), then, per workload and in one run:

  (a) cold     our predict on a support set not yet encoded: encode + decode
  (b) warm     our predict again on the same fitted support set: decode only (the cache)
  (c) js       the single graph in one session.run with ONNX Runtime's default options,
               as the JS package runs it
  (d) torch    AutoGluon's Tab2D, PyTorch eager fp32 (subprocess, --torch-python; the
               better of two calls, so PyTorch's one-time start-up is not held against it)
  (e) int8     our cold and warm predict with precision="int8", and its accuracy vs fp32

and reports seconds, ratios, achieved GFLOP/s against a measured numpy GEMM peak, and the
peak RSS of each phase. Timings on a shared machine are noisy: compare ratios within a run.

    python bench/bench_mitra.py                       # W1, W2, W3 (slow: tens of minutes)
    python bench/bench_mitra.py --quick               # small sizes, a smoke run
    python bench/bench_mitra.py --torch-python PATH/TO/python   # the python of an environment
                                                                # with autogluon.tabular[mitra]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchlib.mitra import (FULL, QUICK, WORKLOADS, Workload, build_models, forward_flops,
                            gemm_peak, hwm_mb, single_graph_feeds, softmax, timed, torch_eager)

FIXTURES = Path(__file__).resolve().parents[1] / ".." / "shared" / "fixtures"


def agreement(reference: np.ndarray, other: np.ndarray) -> tuple[float, float]:
    """(argmax agreement, max probability difference) of two probability arrays."""
    return float((reference.argmax(1) == other.argmax(1)).mean()), float(np.abs(reference - other).max())


def fixture_agreement() -> tuple[float, float] | None:
    """int8 vs fp32 on the JS fixture cases (tiny models): argmax agreement, max prob diff."""
    from wlearn_mitra.engine import MitraEngine

    onnx = FIXTURES / "onnx" / "tiny-mitra-classifier.onnx"
    if not onnx.is_file():
        return None
    fp32 = MitraEngine(onnx, task="classification")
    int8 = MitraEngine(onnx, task="classification", precision="int8")
    agree, total, worst = 0, 0, 0.0
    for case in ("a_binary_all", "b_3class_strat_s42", "d_labels_2_5_7"):
        root = FIXTURES / "mitra-js" / case
        idx = np.load(root / "support_indices.npy")
        y = np.load(root / "y.npy")
        classes = np.unique(y)
        xs, ys, xq = np.load(root / "X.npy")[idx], np.searchsorted(classes, y[idx]), np.load(root / "Xq.npy")
        a = fp32.predict(xs, ys, xq, n_classes=len(classes))
        b = int8.predict(xs, ys, xq, n_classes=len(classes))
        agree += int((a.argmax(1) == b.argmax(1)).sum())
        total += len(a)
        worst = max(worst, float(np.abs(a - b).max()))
    return agree / total, worst


def phase(name: str, w: Workload, single: Path, scratch: Path, threads: int | None) -> dict:
    """One measured phase, in this (fresh) process. Saves its output to ``scratch``."""
    from wlearn_mitra.engine import MitraEngine

    xs, ys, xq = w.data()
    k = w.n_classes
    result: dict = {}
    if name == "js":
        # the JS package's way: default session options, one run over every query row
        import onnxruntime as ort

        start = time.perf_counter()
        session = ort.InferenceSession(str(single), providers=["CPUExecutionProvider"])
        result["load_s"] = time.perf_counter() - start
        feeds = single_graph_feeds(xs, ys, xq)
        cpu = time.process_time()
        result["seconds"], _, (output,) = timed(session.run, ["output"], feeds)
        result["cpu_seconds"] = time.process_time() - cpu
        proba = softmax(output[0][:, :k])
    else:
        precision = "int8" if name == "int8" else "fp32"
        start = time.perf_counter()
        engine = MitraEngine(single, task="classification", threads=threads, precision=precision)
        result["load_s"] = time.perf_counter() - start
        assert engine.uses_cache
        cpu = time.process_time()
        result["seconds"], _, proba = timed(engine.predict, xs, ys, xq, n_classes=k)
        result["cpu_seconds"], cpu = time.process_time() - cpu, time.process_time()
        result["warm_seconds"], _, warm = timed(engine.predict, xs, ys, xq, n_classes=k)
        result["warm_cpu_seconds"] = time.process_time() - cpu
        np.testing.assert_allclose(warm, proba, atol=1e-6)
    np.save(scratch / f"{name}.npy", proba)
    result["peak_rss_mb"] = hwm_mb()
    return result


def run_phase(name: str, w: Workload, args, scratch: Path) -> dict | None:
    command = [sys.executable, __file__, "--phase", name, "--scratch", str(scratch),
               "--models", str(args.models), "--workloads", w.name]
    if args.quick:
        command.append("--quick")
    if args.threads:
        command += ["--threads", str(args.threads)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        print(f"  {name} failed: {done.stderr.strip().splitlines()[-3:]}", flush=True)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_workload(w: Workload, single: Path, checkpoint: Path, args, size: dict) -> dict:
    xs, ys, xq = w.data()
    k = w.n_classes
    flops = forward_flops(size["dim"], size["n_layers"], w.n_support, w.n_features, w.n_query)
    peak = gemm_peak()
    row = {"workload": w.name, "S": w.n_support, "F": w.n_features, "Q": w.n_query,
           "tflop": flops["total"] / 1e12, "gemm_peak_gflops": peak}
    print(f"\n{w.name}: support {w.n_support} x {w.n_features}, {w.n_query} queries, "
          f"{flops['total'] / 1e12:.2f} TFLOP per forward ({flops['support'] / flops['total']:.0%} support side); "
          f"numpy float32 GEMM peak now {peak:.0f} GFLOP/s", flush=True)

    def report(name, seconds, rss, work):
        row[name] = seconds
        if rss is not None:
            row[f"{name}_rss_mb"] = rss
        rate = work / seconds / 1e9
        memory = f"  peak RSS {rss:6.0f} MB" if rss is not None else ""
        print(f"  {name:<10} {seconds:8.2f} s  {rate:7.1f} GFLOP/s ({rate / peak:5.1%} of GEMM peak){memory}",
              flush=True)

    best: dict[str, dict] = {}

    def keep(name: str, result: dict | None) -> None:
        """Per phase, the fastest of the rounds (contention only ever slows a run down)."""
        if result is not None and (name not in best or result["seconds"] < best[name]["seconds"]):
            best[name] = result

    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        for round_ in range(args.rounds):
            order = (["js"] if not args.skip_js else []) + ["fp32"]
            order += (["torch"] if args.torch_python else []) + ([] if args.skip_int8 else ["int8"])
            for name in order:
                if name == "torch":
                    keep(name, torch_eager(args.torch_python, checkpoint, xs, ys, xq))
                else:
                    result = run_phase(name, w, args, scratch)
                    if result is not None:
                        result["proba"] = np.load(scratch / f"{name}.npy")
                    keep(name, result)

    cold = best["fp32"]["proba"] if "fp32" in best else None
    if "js" in best:
        report("js", best["js"]["seconds"], best["js"]["peak_rss_mb"], flops["total"])
    if "fp32" in best:
        ours = best["fp32"]
        row["load_s"] = ours["load_s"]
        report("cold", ours["seconds"], ours["peak_rss_mb"], flops["total"])
        report("warm", ours["warm_seconds"], None, flops["query"])
        print(f"  (engine load {ours['load_s']:.1f} s, not in the timings)", flush=True)
    if "torch" in best:
        eager = best["torch"]
        report("torch", eager["seconds"], eager["peak_rss_mb"], flops["total"])
        print(f"  (torch: best of 2 calls per round; a first call took {eager['first_seconds']:.2f} s)", flush=True)
        if cold is not None:
            row["argmax_vs_torch"], row["max_diff_vs_torch"] = agreement(softmax(eager["output"][:, :k]), cold)
    if "int8" in best:
        report("int8_cold", best["int8"]["seconds"], best["int8"]["peak_rss_mb"], flops["total"])
        report("int8_warm", best["int8"]["warm_seconds"], None, flops["query"])
        if cold is not None:
            row["int8_argmax_agreement"], row["int8_max_prob_diff"] = agreement(cold, best["int8"]["proba"])
    if "js" in best and cold is not None:
        row["argmax_vs_js"], row["max_diff_vs_js"] = agreement(best["js"]["proba"], cold)
    cpu = {"js": ("js", "cpu_seconds"), "cold": ("fp32", "cpu_seconds"), "warm": ("fp32", "warm_cpu_seconds"),
           "torch": ("torch", "cpu_seconds"), "int8_cold": ("int8", "cpu_seconds"),
           "int8_warm": ("int8", "warm_cpu_seconds")}
    for name, (phase_name, key) in cpu.items():
        if phase_name in best and key in best[phase_name]:
            row[f"{name}_cpu"] = best[phase_name][key]
    print("  CPU seconds (all threads): " + ", ".join(
        f"{name} {row[f'{name}_cpu']:.1f}" for name in cpu if f"{name}_cpu" in row), flush=True)

    ratios = {
        "torch / cold (target >= 1.3)": ("torch", "cold"),
        "js / cold": ("js", "cold"),
        "cold / warm (target >= 3 at 256 queries)": ("cold", "warm"),
        "cold / int8 cold (target >= 2)": ("cold", "int8_cold"),
        "warm / int8 warm": ("warm", "int8_warm"),
    }
    for label, (a, b) in ratios.items():
        if a in row and b in row:
            row[f"{a}/{b}"] = row[a] / row[b]
            by_cpu = ""
            if f"{a}_cpu" in row and f"{b}_cpu" in row:
                by_cpu = f"   (by CPU seconds {row[f'{a}_cpu'] / row[f'{b}_cpu']:5.2f}x)"
            print(f"  {label:<42} {row[a] / row[b]:5.2f}x{by_cpu}", flush=True)
    for key in ("argmax_vs_js", "max_diff_vs_js", "argmax_vs_torch", "max_diff_vs_torch",
                "int8_argmax_agreement", "int8_max_prob_diff"):
        if key in row:
            text = f"{row[key]:.2e}" if "diff" in key else f"{row[key]:.2%}"
            print(f"  {key:<42} {text}", flush=True)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small workloads (a smoke run; never the default)")
    parser.add_argument("--workloads", default="W1,W2,W3")
    parser.add_argument("--models", type=Path, default=Path.home() / ".cache" / "wlearn-mitra" / "bench",
                        help="where the random weights and their graphs are built (reused)")
    parser.add_argument("--torch-python", default=None,
                        help="python of an environment with autogluon.tabular[mitra] (default: skip (d))")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--skip-js", action="store_true")
    parser.add_argument("--skip-int8", action="store_true")
    parser.add_argument("--rounds", type=int, default=1,
                        help="repeat every phase this many times, interleaved, and keep each one's fastest")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--phase", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--scratch", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    table = QUICK if args.quick else WORKLOADS
    names = [n.strip() for n in args.workloads.split(",") if n.strip()]
    size = dict(FULL)
    checkpoint, single = build_models(args.models, size)
    if args.phase:
        by_name = {w.name: w for w in table.values()}
        print(json.dumps(phase(args.phase, by_name[names[0]], single, args.scratch, args.threads)))
        return 0
    import onnxruntime

    print(f"onnxruntime {onnxruntime.__version__}, {os.cpu_count()} CPUs; each phase runs in a fresh "
          "process (its peak RSS is its own)", flush=True)
    results = {"workloads": []}
    if not args.skip_int8:
        fixtures = fixture_agreement()
        if fixtures is not None:
            results["int8_fixture_argmax_agreement"], results["int8_fixture_max_prob_diff"] = fixtures
            print(f"int8 vs fp32 on the JS fixtures (tiny models): argmax agreement {fixtures[0]:.2%}, "
                  f"max probability difference {fixtures[1]:.4f}", flush=True)
    for name in names:
        results["workloads"].append(run_workload(table[name], single, checkpoint, args, size))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
