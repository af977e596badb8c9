"""What a user meets first: loading a bundle, and fit + the first predict on a full-size model,
against the naive ways (a bare ONNX Runtime session on the single graph; AutoGluon's PyTorch
eager Tab2D), side by side in one run.

Per workload (W1: support 512 x 10, 256 queries; W3: support 1024 x 30, 512 queries; random
full-size weights built by the project's converter, the encoder/decoder pair beside the single
graph: a warm disk cache), each phase in a fresh process:

  bare    ``onnxruntime.InferenceSession(single graph)`` with ONNX Runtime's defaults, one run
  fp32    ``MitraClassifier(onnx=single).fit(xs, ys).predict_proba(xq)``, timed by parts:
          identity (hashing), graph reading (the protobuf walk), session creation, the single
          graph's run (a support set's first predict), encode, decode, the rest; with
          ``--second-predict`` also a second and a third predict of the same support set
          (the pair opens at the second)
  pair    (``--pair-phase``) fp32 with the encoder/decoder pair opened at once, as for a
          model under 64 MB: the way every first predict went before
  int8    the same with ``precision="int8"`` (the opt-in path; its int8 graphs kept in the
          disk cache by an untimed first run), argmax agreement and max probability difference
          against fp32
  torch   AutoGluon's Tab2D, PyTorch eager fp32 (``--torch-python``): its forward and peak RSS
  load    ``wlearn.load(bytes)`` of a bundle of the full-size model, and of the built-in
          model, then ``open()``: the load alone must take milliseconds

    python bench/bench_first_answer.py --torch-python PATH/TO/python [--workloads W1,W3]
    python bench/bench_first_answer.py --quick        # small sizes, a smoke run

Prints seconds, peak RSS (VmHWM of each phase's process) and the ratios with their targets:
bare / fp32 (>= 1.2), fp32 peak / torch peak (<= 1), torch / int8 (>= 5).
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

from benchlib.mitra import (FULL, QUICK, WORKLOADS, build_models, hwm_mb, single_graph_feeds,
                            softmax, torch_eager)
from benchlib.results import save_results

PARTS = ("identity", "graph reading", "sessions", "single graph", "encode", "decode")


def _timers() -> dict[str, float]:
    """Wrap the engine's steps with timers; returns the dict they add seconds to."""
    from wlearn_mitra.engine import _graphset, _runs
    from wlearn_mitra.runtimes import _ort

    spent = dict.fromkeys(PARTS, 0.0)

    def wrap(owner, name, part):
        real = getattr(owner, name)

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return real(*args, **kwargs)
            finally:
                spent[part] += time.perf_counter() - start

        setattr(owner, name, timed)

    wrap(_graphset, "model_identity", "identity")
    wrap(_graphset, "model_shape", "graph reading")
    wrap(_graphset, "readable_metadata", "graph reading")
    wrap(_ort, "_session", "sessions")
    wrap(_runs, "forward", "single graph")
    wrap(_runs, "_encoded", "encode")
    wrap(_runs, "decode", "decode")
    return spent


def phase(name: str, workload: str, single: Path, scratch: Path, quick: bool,
          second: bool = False) -> dict:
    """One phase in this fresh process; its output goes to ``scratch``."""
    w = (QUICK if quick else WORKLOADS)[workload]
    xs, ys, xq = w.data()
    result: dict = {}
    if name == "bare":
        import onnxruntime as ort

        start = time.perf_counter()
        session = ort.InferenceSession(str(single), providers=["CPUExecutionProvider"])
        result["open_s"] = time.perf_counter() - start
        (output,) = session.run(["output"], single_graph_feeds(xs, ys, xq))
        result["seconds"] = time.perf_counter() - start
        proba = softmax(output[0][:, : w.n_classes])
    elif name in ("fp32", "pair", "int8", "int8-first"):
        import warnings

        warnings.simplefilter("ignore")
        import onnxruntime  # noqa: F401  imported before the clock starts, as for bare

        spent = _timers()
        from wlearn_mitra import MitraClassifier

        if name == "pair":  # the encoder/decoder pair from the first predict on, as small models
            from wlearn_mitra.engine import _graphset

            _graphset.LAZY_PAIR_MIN_BYTES = float("inf")

        start = time.perf_counter()
        # every support row, as the bare run sees (the default max_support is 512)
        precision = "int8" if name.startswith("int8") else "fp32"
        model = MitraClassifier(onnx=single, precision=precision, max_support=len(xs)).fit(xs, ys)
        proba = model.predict_proba(xq)
        result["seconds"] = time.perf_counter() - start
        result["parts"] = dict(spent)
        if second and name == "fp32":
            # the same support set again: the pair opens, encodes it and keeps it
            result["peak_rss_mb"] = hwm_mb()
            spent.update(dict.fromkeys(spent, 0.0))
            start = time.perf_counter()
            again = model.predict_proba(xq)
            result["second_s"] = time.perf_counter() - start
            result["second_parts"] = dict(spent)
            result["second_equal"] = bool(np.array_equal(again, proba))
            result["second_peak_rss_mb"] = hwm_mb()
            start = time.perf_counter()
            model.predict_proba(xq)
            result["third_s"] = time.perf_counter() - start
            np.save(scratch / f"{workload}-{name}.npy", proba)
            return result
    elif name == "load":
        import warnings

        warnings.simplefilter("ignore")
        import wlearn

        def load(kind: str):
            data = (scratch / f"{kind}.wlrn").read_bytes()
            options = {} if kind == "builtin" else {
                "wlearn.mitra_onnx.classifier@1": {"onnx": str(single)}}
            start = time.perf_counter()
            model = wlearn.load(data, loader_options=options)
            return model, (time.perf_counter() - start) * 1e3

        start = time.perf_counter()
        load("builtin")  # the first load imports the plugin (entry points)
        result["first_load_ms"] = (time.perf_counter() - start) * 1e3
        for kind in ("full", "builtin"):
            model, result[f"{kind}_load_ms"] = load(kind)
            start = time.perf_counter()
            model.open()
            result[f"{kind}_open_s"] = time.perf_counter() - start
        return result
    else:
        raise SystemExit(f"unknown phase {name}")
    np.save(scratch / f"{workload}-{name}.npy", proba)
    result["peak_rss_mb"] = hwm_mb()
    return result


def run_phase(name: str, workload: str, args, scratch: Path) -> dict | None:
    command = [sys.executable, __file__, "--phase", name, "--workloads", workload,
               "--scratch", str(scratch), "--models", str(args.models)]
    if args.quick:
        command.append("--quick")
    if args.second_predict:
        command.append("--second-predict")
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        print(f"  {name} failed: {done.stderr.strip().splitlines()[-3:]}", flush=True)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def torch_phase(python: str, checkpoint: Path, workload: str, quick: bool,
                converter: bool = False) -> dict | None:
    w = (QUICK if quick else WORKLOADS)[workload]
    result = torch_eager(python, checkpoint, *w.data(), converter=converter)
    if result is not None:
        result["proba"] = softmax(result.pop("output")[:, : w.n_classes])
    return result


def bundles(single: Path, scratch: Path) -> None:
    """A bundle of the full-size model and one of the built-in model, for the load phase."""
    import warnings

    from wlearn_mitra import MitraClassifier

    warnings.simplefilter("ignore")
    xs, ys, _ = WORKLOADS["W1"].data()
    (scratch / "full.wlrn").write_bytes(MitraClassifier(onnx=single).fit(xs, ys).save())
    (scratch / "builtin.wlrn").write_bytes(MitraClassifier().fit(xs, ys).save())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default="W1,W3")
    parser.add_argument("--torch-python", help="python of an environment with autogluon.tabular")
    parser.add_argument("--models", type=Path,
                        default=Path.home() / ".cache" / "wlearn-mitra" / "bench")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=1,
                        help="run every phase this many times, interleaved, keeping the fastest")
    parser.add_argument("--skip-int8", action="store_true")
    parser.add_argument("--torch-converter", action="store_true",
                        help="torch phase: this project's Tab2D re-statement "
                             "(wlearn_mitra.convert.tab2d) where AutoGluon is not installed")
    parser.add_argument("--pair-phase", action="store_true",
                        help="also time fp32 with the encoder/decoder pair opened at once (a "
                             "small model's way, and every model's before 0.2.0)")
    parser.add_argument("--second-predict", action="store_true",
                        help="fp32 phase: also time a second and a third predict of the same "
                             "support set (the pair opens at the second); the peak RSS "
                             "reported is the first predict's")
    parser.add_argument("--json", help="results file (default bench/results/first-answer.json)")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--scratch", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    size = {"dim": 64, "n_layers": 2, "n_heads": 4} if args.quick else FULL
    args.models.mkdir(parents=True, exist_ok=True)
    checkpoint, single = build_models(args.models, size)
    if args.phase:
        print(json.dumps(phase(args.phase, args.workloads, single, args.scratch, args.quick,
                               args.second_predict)))
        return 0

    rows = {}
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        bundles(single, scratch)
        load = run_phase("load", "W1", args, scratch)
        if load:
            print(f"load: full-size bundle {load['full_load_ms']:.1f} ms (its open() "
                  f"{load['full_open_s']:.2f} s); built-in bundle {load['builtin_load_ms']:.1f} ms "
                  f"(open() {load['builtin_open_s']:.2f} s); a process's first load, importing "
                  f"the plugin, {load['first_load_ms']:.0f} ms", flush=True)
            rows["load"] = load
        for workload in args.workloads.split(","):
            phases = ("bare", "fp32") if args.skip_int8 else ("bare", "fp32", "int8")
            if args.pair_phase:
                phases += ("pair",)
            if not args.skip_int8:
                run_phase("int8-first", workload, args, scratch)  # int8 graphs into the cache
            row: dict = {}
            for _ in range(args.rounds):  # interleaved; each phase's fastest run is kept
                for name in phases:
                    result = run_phase(name, workload, args, scratch)
                    best = row.get(name)
                    if result is None:
                        row[name] = best
                        continue
                    runs = (best or {}).get("runs", []) + [result["seconds"]]
                    if best is None or result["seconds"] < best["seconds"]:
                        best = result
                    best["runs"] = runs
                    row[name] = best
            if args.torch_python:
                row["torch"] = torch_phase(args.torch_python, checkpoint, workload, args.quick,
                                           converter=args.torch_converter)
            fp32 = np.load(scratch / f"{workload}-fp32.npy")
            print(f"\n{workload}", flush=True)
            for name, result in row.items():
                if result is None:
                    continue
                line = f"  {name:<6} {result['seconds']:7.2f} s  peak RSS {result['peak_rss_mb']:6.0f} MB"
                if name == "bare":
                    line += f"  (session {result['open_s']:.2f} s)"
                if "parts" in result:
                    parts = result["parts"]
                    rest = result["seconds"] - sum(parts.values())
                    line += "  = " + ", ".join(f"{k} {v:.2f}" for k, v in parts.items())
                    line += f", rest {rest:.2f}"
                if name == "torch":
                    line += f"  (forward only; first call {result['first_seconds']:.2f} s)"
                print(line, flush=True)
                if "second_s" in result:
                    parts = ", ".join(f"{k} {v:.2f}" for k, v in result["second_parts"].items())
                    print(f"         second predict {result['second_s']:.2f} s = {parts} "
                          f"(equal to the first: {result['second_equal']}; peak RSS then "
                          f"{result['second_peak_rss_mb']:.0f} MB); third {result['third_s']:.2f} s",
                          flush=True)
            other = {"bare": row["bare"] and np.load(scratch / f"{workload}-bare.npy"),
                     "int8": row.get("int8") and np.load(scratch / f"{workload}-int8.npy"),
                     "pair": row.get("pair") and np.load(scratch / f"{workload}-pair.npy"),
                     "torch": row.get("torch") and row["torch"].pop("proba")}
            for name, proba in other.items():
                if proba is not None and proba is not False:
                    agree = float((proba.argmax(1) == fp32.argmax(1)).mean())
                    row[f"{name}_vs_fp32"] = {"argmax": agree,
                                              "max_diff": float(np.abs(proba - fp32).max())}
                    print(f"  {name} vs fp32: argmax agreement {agree:.2%}, max probability "
                          f"difference {np.abs(proba - fp32).max():.1e}", flush=True)
            ratios = {}
            if row["bare"] and row["fp32"]:
                ratios["bare / fp32 (target >= 1.2)"] = row["bare"]["seconds"] / row["fp32"]["seconds"]
            if row.get("torch") and row["fp32"]:
                ratios["fp32 peak RSS / torch peak RSS (target <= 1)"] = (
                    row["fp32"]["peak_rss_mb"] / row["torch"]["peak_rss_mb"])
            if row.get("pair") and row["fp32"]:
                ratios["pair / fp32, first predict"] = row["pair"]["seconds"] / row["fp32"]["seconds"]
                ratios["fp32 peak RSS / pair peak RSS"] = (row["fp32"]["peak_rss_mb"]
                                                          / row["pair"]["peak_rss_mb"])
            if row.get("torch") and row.get("int8"):
                ratios["torch forward / int8 fit + first predict (target >= 5)"] = (
                    row["torch"]["seconds"] / row["int8"]["seconds"])
            for label, value in ratios.items():
                print(f"  {label:<58} {value:5.2f}x", flush=True)
            row["ratios"] = ratios
            rows[workload] = row
    save_results(rows, args.json or Path(__file__).resolve().parent / "results"
                 / "first-answer.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
