"""Mitra inference benchmark: our engine vs the JS package's way vs AutoGluon's PyTorch eager.

Builds random full-size weights with the project's converter (single graph + the support
encoder / query decoder pair), then, per workload and in one run:

  (a) cold     our predict on a support set not yet encoded: encode + decode
  (b) warm     our predict again on the same fitted support set: decode only (the cache)
  (c) js       the single graph in one session.run with ONNX Runtime's default options,
               as the JS package runs it
  (d) torch    AutoGluon's Tab2D, PyTorch eager fp32 (subprocess, --torch-python)
  (e) int8     our cold and warm predict with precision="int8", and its accuracy vs fp32

and reports seconds, ratios, achieved GFLOP/s against a measured numpy GEMM peak, and the
peak RSS of each phase. Timings on a shared machine are noisy: compare ratios within a run.

    python bench/bench_mitra.py                       # W1, W2, W3 (slow: tens of minutes)
    python bench/bench_mitra.py --quick               # small sizes, a smoke run
    python bench/bench_mitra.py --torch-python /work/venv-ag/bin/python
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _mitra_common import PeakRSS, Workload, forward_flops, gemm_peak, softmax, timed  # noqa: E402

WORKLOADS = {
    "W1": Workload("W1", 512, 10, 256),
    "W2": Workload("W2", 512, 10, 2048),
    "W3": Workload("W3", 1024, 30, 512),
}
QUICK = {
    "W1": Workload("W1q", 128, 10, 64),
    "W2": Workload("W2q", 128, 10, 512),
    "W3": Workload("W3q", 256, 30, 128),
}
FULL = {"dim": 512, "n_layers": 12, "n_heads": 4}
FIXTURES = Path(__file__).resolve().parents[1] / ".." / "shared" / "fixtures"


def build_models(folder: Path, size: dict) -> tuple[Path, Path]:
    """Random classifier weights -> (checkpoint folder, single graph with its split pair)."""
    from wlearn_mitra.convert.checkpoint import random_checkpoint
    from wlearn_mitra.convert.export import convert

    tag = "mitra-random-{dim}x{n_layers}".format(**size)
    checkpoint, single = folder / tag, folder / f"{tag}.onnx"
    if not (checkpoint / "model.safetensors").is_file():
        random_checkpoint(checkpoint, "classifier", seed=0, **size)
    if not single.with_name(f"{tag}.decoder.onnx").is_file():
        start = time.perf_counter()
        convert(checkpoint, single, split=True)
        print(f"converted in {time.perf_counter() - start:.1f} s", flush=True)
    return checkpoint, single


def js_style(single: Path, xs, ys, xq) -> tuple[float, float, np.ndarray]:
    """The JS package's way: default session options, one run over every query row."""
    import onnxruntime as ort

    with PeakRSS() as rss:
        session = ort.InferenceSession(str(single), providers=["CPUExecutionProvider"])
        feeds = {
            "x_support": xs[None],
            "y_support": ys.astype(np.int64)[None],
            "x_query": xq[None],
            "padding_obs_support": np.zeros((1, len(xs)), dtype=bool),
        }
        start = time.perf_counter()
        (output,) = session.run(["output"], feeds)
        seconds = time.perf_counter() - start
    del session
    return seconds, rss.peak, output[0]


def torch_eager(python: str, checkpoint: Path, xs, ys, xq, bf16: bool = False) -> dict | None:
    script = Path(__file__).resolve().parent / "_mitra_torch_eager.py"
    with tempfile.TemporaryDirectory() as scratch:
        inputs, output = Path(scratch) / "in.npz", Path(scratch) / "out.npz"
        np.savez(inputs, x_support=xs, y_support=ys.astype(np.int64), x_query=xq)
        command = [python, str(script), str(checkpoint), str(inputs), str(output)]
        done = subprocess.run(command + (["--bf16"] if bf16 else []), capture_output=True, text=True)
        if done.returncode != 0:
            print(f"  torch eager failed: {done.stderr.strip().splitlines()[-1:]}", flush=True)
            return None
        result = json.loads(done.stdout.strip().splitlines()[-1])
        result["output"] = np.load(output)["output"]
    return result


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


def run_workload(w: Workload, single: Path, checkpoint: Path, args, peak: float, size: dict) -> dict:
    from wlearn_mitra.engine import MitraEngine

    xs, ys, xq = w.data()
    k = w.n_classes
    flops = forward_flops(size["dim"], size["n_layers"], w.n_support, w.n_features, w.n_query)
    row = {"workload": w.name, "S": w.n_support, "F": w.n_features, "Q": w.n_query, "tflop": flops["total"] / 1e12}
    print(f"\n{w.name}: support {w.n_support} x {w.n_features}, {w.n_query} queries, "
          f"{flops['total'] / 1e12:.2f} TFLOP per forward ({flops['support'] / flops['total']:.0%} support side)",
          flush=True)

    def report(name, seconds, rss, work):
        row[name] = seconds
        row[f"{name}_rss_mb"] = rss
        print(f"  {name:<11} {seconds:8.2f} s  {work / seconds / 1e9:7.1f} GFLOP/s "
              f"({work / seconds / 1e9 / peak:5.1%} of GEMM peak)  peak RSS {rss:6.0f} MB", flush=True)

    # (c) the JS package's way
    if not args.skip_js:
        seconds, rss, js_out = js_style(single, xs, ys, xq)
        report("js", seconds, rss, flops["total"])
        js_proba = softmax(js_out[:, :k])
        gc.collect()

    # (a), (b) ours, fp32, with the support-set cache
    start = time.perf_counter()
    engine = MitraEngine(single, task="classification", threads=args.threads)
    row["load_s"] = time.perf_counter() - start
    assert engine.uses_cache
    seconds, rss, cold = timed(engine.predict, xs, ys, xq, n_classes=k)
    report("cold", seconds, rss, flops["total"])
    seconds, rss, warm = timed(engine.predict, xs, ys, xq, n_classes=k)
    report("warm", seconds, rss, flops["query"])
    np.testing.assert_allclose(warm, cold, atol=1e-6)
    if not args.skip_js:
        row["max_diff_vs_js"] = float(np.abs(cold - js_proba).max())
    del engine
    gc.collect()

    # (d) AutoGluon's PyTorch eager
    if args.torch_python:
        eager = torch_eager(args.torch_python, checkpoint, xs, ys, xq)
        if eager is not None:
            report("torch", eager["seconds"], eager["peak_rss_mb"], flops["total"])
            row["max_diff_vs_torch"] = float(np.abs(cold - softmax(eager["output"][:, :k])).max())
            row["argmax_vs_torch"] = agreement(softmax(eager["output"][:, :k]), cold)[0]

    # (e) int8
    if not args.skip_int8:
        engine = MitraEngine(single, task="classification", threads=args.threads, precision="int8")
        seconds, rss, cold8 = timed(engine.predict, xs, ys, xq, n_classes=k)
        report("int8_cold", seconds, rss, flops["total"])
        seconds, rss, warm8 = timed(engine.predict, xs, ys, xq, n_classes=k)
        report("int8_warm", seconds, rss, flops["query"])
        row["int8_argmax_agreement"], row["int8_max_prob_diff"] = agreement(cold, cold8)
        print(f"  int8 vs fp32: argmax agreement {row['int8_argmax_agreement']:.2%}, "
              f"max probability difference {row['int8_max_prob_diff']:.4f}", flush=True)
        del engine
        gc.collect()

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
            print(f"  {label:<42} {row[a] / row[b]:5.2f}x", flush=True)
    for key in ("max_diff_vs_js", "max_diff_vs_torch", "argmax_vs_torch"):
        if key in row:
            print(f"  {key:<42} {row[key]:.2e}" if "diff" in key else f"  {key:<42} {row[key]:.2%}", flush=True)
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
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    args = parser.parse_args(argv)

    table = QUICK if args.quick else WORKLOADS
    names = [n.strip() for n in args.workloads.split(",") if n.strip()]
    size = dict(FULL)
    checkpoint, single = build_models(args.models, size)
    import onnxruntime

    peak = gemm_peak()
    print(f"onnxruntime {onnxruntime.__version__}, {os.cpu_count()} CPUs, "
          f"numpy float32 GEMM peak {peak:.0f} GFLOP/s", flush=True)
    results = {"gemm_peak_gflops": peak, "workloads": []}
    if not args.skip_int8:
        fixtures = fixture_agreement()
        if fixtures is not None:
            results["int8_fixture_argmax_agreement"], results["int8_fixture_max_prob_diff"] = fixtures
            print(f"int8 vs fp32 on the JS fixtures (tiny models): argmax agreement {fixtures[0]:.2%}, "
                  f"max probability difference {fixtures[1]:.4f}", flush=True)
    for name in names:
        results["workloads"].append(run_workload(table[name], single, checkpoint, args, peak, size))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
