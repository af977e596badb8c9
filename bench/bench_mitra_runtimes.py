"""Mitra on every runtime and precision, in one run: the table of issue 10.

Random full-size classifier weights from the project's converter (bench_mitra.build_models),
per workload W1, W2, W3 and per round, each path in a fresh process (its peak RSS its own):

  torch_fp32   PyTorch eager fp32: AutoGluon's Tab2D with --torch-python, else the
               converter's Tab2D in this python (labelled "converter Tab2D")
  torch_bf16   the same under torch.autocast(bfloat16), as AutoGluon's predict runs it
  ort_fp32     our engine, ONNX Runtime fp32 (the default): cold (fit + first predict: the
               single graph at full size, else the support encoded) and warm (the third
               predict: the cache; a full-size model's second predict opens its pair and
               encodes the support set, timed apart)
  ort_int8     precision="int8" on ONNX Runtime, cold and warm
  ov_fp32      runtime="openvino", precision="fp32", cold and warm
  ov_bf16      runtime="openvino", precision="bf16", cold and warm (skipped, with the reason,
               where the CPU has no bf16)

Reported per path: seconds (best of the rounds), ratio to PyTorch eager fp32 of the same
round (median over rounds), GFLOP/s, peak RSS, and accuracy against ONNX Runtime fp32 on the
same inputs: max |logit| difference, max probability difference, argmax agreement. The engine
paths also give their open time (hashing, cut, compile: not in "cold") and, for OpenVINO,
the compilations made and the cost of a first predict at a new query count. Then the same
accuracy columns on the tiny fixture models (the JS package's three classifier cases).

    python bench/bench_mitra_runtimes.py                        # W1, W2, W3, 3 rounds (slow)
    python bench/bench_mitra_runtimes.py --quick --rounds 1 --small-model   # a smoke run
    python bench/bench_mitra_runtimes.py --torch-python PATH    # AutoGluon's Tab2D

Timings on a shared machine are noise: run it on a quiet one and compare ratios within a run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchlib.mitra import (FULL, QUICK, WORKLOADS, Workload, build_models, forward_flops,
                            hwm_mb, softmax, torch_eager)

FIXTURES = Path(__file__).resolve().parents[1] / ".." / "shared" / "fixtures"
ENGINE_PATHS = {  # name -> (runtime, precision)
    "ort_fp32": ("onnxruntime", "fp32"),
    "ort_int8": ("onnxruntime", "int8"),
    "ov_fp32": ("openvino", "fp32"),
    "ov_bf16": ("openvino", "bf16"),
}
TORCH_PATHS = {"torch_fp32": False, "torch_bf16": True}
REFERENCE = "ort_fp32"
SMALL = {"dim": 64, "n_layers": 2, "n_heads": 4}  # --small-model: checks the script, no more


def engine_phase(name: str, w: Workload, single: Path, scratch: Path, threads: int | None,
                 store: Path) -> dict:
    """One engine path, cold then warm, in this fresh process; saves its logits."""
    from wlearn_mitra.engine import MitraEngine

    runtime, precision = ENGINE_PATHS[name]
    xs, ys, xq = w.data()
    k = w.n_classes
    start = time.perf_counter()
    engine = MitraEngine(single, task="classification", threads=threads, runtime=runtime,
                         precision=precision, optimized_dir=store)
    result = {"open_s": time.perf_counter() - start, "uses_cache": engine.uses_cache}
    start = time.perf_counter()
    proba = engine.predict(xs, ys, xq, n_classes=k)
    result["seconds"] = time.perf_counter() - start
    # A full-size model's second predict opens the pair and encodes the support set
    # (spec/mitra.md, "The support cache"); the warm path is the predict after it.
    start = time.perf_counter()
    engine.predict(xs, ys, xq, n_classes=k)
    result["second_seconds"] = time.perf_counter() - start
    start = time.perf_counter()
    warm = engine.predict(xs, ys, xq, n_classes=k)
    result["warm_seconds"] = time.perf_counter() - start
    np.testing.assert_allclose(warm, proba, atol=1e-6)
    result["peak_rss_mb"] = hwm_mb()
    if runtime == "openvino":
        from wlearn_mitra.runtimes import _openvino

        compiled = _openvino.compilations
        rows = max(2, len(xq) // 3)  # a query count not seen yet
        start = time.perf_counter()
        engine.predict(xs, ys, xq[:rows], n_classes=k)
        result["new_shape_seconds"] = time.perf_counter() - start
        result["new_shape_rows"] = rows
        result["compilations"] = compiled
        result["recompiled"] = _openvino.compilations - compiled
    # raw logits of the same (already encoded) support set, outside the timings
    xs32, xq32 = xs.astype(np.float32), xq.astype(np.float32)
    if engine.uses_cache:
        logits = engine.decode(engine.encode(xs32, ys), xq32)
    else:
        logits = engine.forward(xs32, ys, xq32)
    np.save(scratch / f"{name}.npy", logits[:, :k])
    return result


def run_engine_phase(name: str, w: Workload, args, scratch: Path) -> dict | None:
    command = [sys.executable, __file__, "--phase", name, "--scratch", str(scratch),
               "--models", str(args.models), "--workloads", w.name]
    command += ["--quick"] if args.quick else []
    command += ["--small-model"] if args.small_model else []
    command += ["--threads", str(args.threads)] if args.threads else []
    result = child_result(command, name)
    if result is not None:
        result["logits"] = np.load(scratch / f"{name}.npy")
    return result


def child_result(command: list[str], label: str) -> dict | None:
    """The JSON object a child process prints last, or None (said with the child's last error
    line) when it fails."""
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        print(f"  {label}: not run: {lines[-1] if lines else done.returncode}", flush=True)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def torch_phase(bf16: bool, w: Workload, checkpoint: Path, args) -> dict | None:
    xs, ys, xq = w.data()
    result = torch_eager(args.torch_python or sys.executable, checkpoint, xs, ys, xq,
                         bf16=bf16, converter=not args.torch_python)
    if result is not None:
        result["logits"] = result.pop("output")[:, : w.n_classes]
    return result


def accuracy(reference: np.ndarray, logits: np.ndarray) -> dict:
    """Max |logit| and probability differences and argmax agreement, against ``reference``
    (logits of the classes in use)."""
    p, q = softmax(reference), softmax(logits)
    return {"max_logit_diff": float(np.abs(reference - logits).max()),
            "max_prob_diff": float(np.abs(p - q).max()),
            "argmax_agreement": float((p.argmax(1) == q.argmax(1)).mean())}


def run_workload(w: Workload, single: Path, checkpoint: Path, args) -> dict:
    size = SMALL if args.small_model else FULL
    flops = forward_flops(size["dim"], size["n_layers"], w.n_support, w.n_features, w.n_query)
    print(f"\n{w.name}: support {w.n_support} x {w.n_features}, {w.n_query} queries, "
          f"{flops['total'] / 1e12:.2f} TFLOP per forward", flush=True)
    paths = [p for p in (*TORCH_PATHS, *ENGINE_PATHS) if p not in args.skip]
    rounds: list[dict[str, dict]] = []
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        for _ in range(args.rounds):
            got: dict[str, dict] = {}
            for name in paths:
                if name in TORCH_PATHS:
                    result = torch_phase(TORCH_PATHS[name], w, checkpoint, args)
                else:
                    result = run_engine_phase(name, w, args, scratch)
                if result is not None:
                    got[name] = result
            rounds.append(got)
    eager = "AutoGluon Tab2D" if args.torch_python else "converter Tab2D"
    labels = {"torch_fp32": f"{eager}, PyTorch eager fp32",
              "torch_bf16": f"{eager}, PyTorch bf16 autocast",
              "ort_fp32": "ours, ONNX Runtime fp32", "ort_int8": "ours, ONNX Runtime int8",
              "ov_fp32": "ours, OpenVINO fp32", "ov_bf16": "ours, OpenVINO bf16"}
    rows = {}
    reference = next((r[REFERENCE]["logits"] for r in rounds if REFERENCE in r), None)
    print(f"  {'path':<40} {'best s':>8} {'vs eager':>8} {'GFLOP/s':>8} {'RSS MB':>7} "
          f"{'|dlogit|':>9} {'|dprob|':>8} {'argmax':>7}", flush=True)
    for name in paths:
        for mode, key, work in (("cold", "seconds", flops["total"]),
                                ("warm", "warm_seconds", flops["query"])):
            times = [r[name][key] for r in rounds if name in r and key in r[name]]
            if not times:
                continue
            ratios = [r["torch_fp32"]["seconds"] / r[name][key] for r in rounds
                      if name in r and key in r[name] and "torch_fp32" in r]
            # cold against cold: PyTorch eager's first call in its process
            firsts = [r["torch_fp32"]["first_seconds"] / r[name][key] for r in rounds
                      if mode == "cold" and name in r and key in r[name]
                      and "first_seconds" in r.get("torch_fp32", {})]
            sample = next(r[name] for r in rounds if name in r)
            row = {"seconds": min(times), "median_seconds": statistics.median(times),
                   "vs_eager_fp32": statistics.median(ratios) if ratios else None,
                   "vs_eager_first_call": statistics.median(firsts) if firsts else None,
                   "gflops": work / min(times) / 1e9, "peak_rss_mb": sample["peak_rss_mb"]}
            if reference is not None:
                row.update(accuracy(reference, sample["logits"]))
            for extra in ("open_s", "compilations", "recompiled", "new_shape_seconds",
                          "new_shape_rows", "first_seconds", "second_seconds"):
                if extra in sample:
                    row[extra] = sample[extra]
            label = labels[name] + ("" if name in TORCH_PATHS else f" ({mode})")
            if name in TORCH_PATHS and mode == "warm":
                continue
            rows[f"{name}_{mode}"] = row
            ratio = f"{row['vs_eager_fp32']:7.2f}x" if row["vs_eager_fp32"] else f"{'-':>8}"
            acc = (f"{row['max_logit_diff']:9.2e} {row['max_prob_diff']:8.4f} "
                   f"{row['argmax_agreement']:7.2%}" if "max_logit_diff" in row else "")
            print(f"  {label:<40} {row['seconds']:8.2f} {ratio} {row['gflops']:8.1f} "
                  f"{row['peak_rss_mb']:7.0f} {acc}", flush=True)
    for name in ENGINE_PATHS:
        row = rows.get(f"{name}_cold")
        if row is not None:
            extra = f"  {name}: open {row['open_s']:.2f} s"
            if row.get("vs_eager_first_call"):
                extra += f", cold vs eager's first call {row['vs_eager_first_call']:.2f}x"
            if "second_seconds" in row:
                extra += f", second predict {row['second_seconds']:.2f} s"
            if "compilations" in row:
                extra += (f", {row['compilations']} compilations, a new query count "
                          f"({row['new_shape_rows']} rows) {row['new_shape_seconds']:.2f} s with "
                          f"{row['recompiled']} recompilations")
            print(extra, flush=True)
    return {"workload": w.name, "S": w.n_support, "F": w.n_features, "Q": w.n_query,
            "tflop": flops["total"] / 1e12, "paths": rows}


def fixture_accuracy(skip: set) -> dict:
    """Every path against ONNX Runtime fp32 on the tiny fixture models (the JS package's three
    classifier cases): argmax flips, max probability and logit differences."""
    from wlearn_mitra.engine import MitraEngine

    onnx = FIXTURES / "onnx" / "tiny-mitra-classifier.onnx"
    cases = []
    for case in ("a_binary_all", "b_3class_strat_s42", "d_labels_2_5_7"):
        root = FIXTURES / "mitra-js" / case
        idx = np.load(root / "support_indices.npy")
        y = np.load(root / "y.npy")
        classes = np.unique(y)
        cases.append((np.load(root / "X.npy")[idx], np.searchsorted(classes, y[idx]),
                      np.load(root / "Xq.npy"), len(classes)))
    out: dict[str, dict] = {}
    reference = [MitraEngine(onnx, task="classification", split=None).predict(
        xs, ys, xq, n_classes=k) for xs, ys, xq, k in cases]
    runs = {name: dict(runtime=r, precision=p) for name, (r, p) in ENGINE_PATHS.items()}
    for name, kwargs in runs.items():
        if name in skip:
            continue
        try:
            engine = MitraEngine(onnx, task="classification", **kwargs)
        except Exception as exc:  # no OpenVINO here, or no bf16: say so and go on
            print(f"  fixtures {name}: not run: {exc}", flush=True)
            continue
        flips, total, worst = 0, 0, 0.0
        for (xs, ys, xq, k), want in zip(cases, reference):
            got = engine.predict(xs, ys, xq, n_classes=k)
            flips += int((got.argmax(1) != want.argmax(1)).sum())
            total += len(got)
            worst = max(worst, float(np.abs(got - want).max()))
        out[name] = {"argmax_flips": flips, "rows": total, "max_prob_diff": worst}
        print(f"  fixtures {name:<9} argmax flips {flips}/{total}, max probability difference "
              f"{worst:.4f}", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small workloads (a smoke run)")
    parser.add_argument("--workloads", default="W1,W2,W3")
    parser.add_argument("--models", type=Path,
                        default=Path.home() / ".cache" / "wlearn-mitra" / "bench",
                        help="where the random weights and their graphs are built (reused)")
    parser.add_argument("--torch-python", default=None,
                        help="python of an environment with autogluon.tabular[mitra] "
                             "(default: the converter's Tab2D in this python)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--small-model", action="store_true",
                        help="random weights of dim 64 x 2 layers instead of the full size")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per workload")
    parser.add_argument("--skip", default="", help="comma-separated paths to leave out")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--phase", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--scratch", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.skip = {s.strip() for s in args.skip.split(",") if s.strip()}

    table = QUICK if args.quick else WORKLOADS
    names = [n.strip() for n in args.workloads.split(",") if n.strip()]
    checkpoint, converted = build_models(args.models, dict(SMALL if args.small_model else FULL))
    # the plain single graph only: the engine cuts its own pair (kept under the models folder)
    single = args.models / f"{converted.stem}.single" / converted.name
    if not single.is_file():
        single.parent.mkdir(parents=True, exist_ok=True)
        single.write_bytes(converted.read_bytes())
    store = args.models / "engine-store"
    if args.phase:
        by_name = {w.name: w for w in table.values()}
        print(json.dumps(engine_phase(args.phase, by_name[names[0]], single, args.scratch,
                                      args.threads, store)))
        return 0
    import onnxruntime

    versions = f"onnxruntime {onnxruntime.__version__}"
    try:
        import openvino

        versions += f", openvino {openvino.__version__}"
    except ImportError:
        versions += ", no openvino"
    print(f"{versions}, {os.cpu_count()} CPUs; each path runs in a fresh process", flush=True)
    results = {"fixtures": fixture_accuracy(args.skip), "workloads": []}
    for name in names:
        results["workloads"].append(run_workload(table[name], single, checkpoint, args))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
