"""Members on feature subsets through the support cache, against the code before it.

Data wider than 500 features is split across ensemble members on feature subsets
(spec/mitra.md "Wide data"). This script times ``MitraClassifier().fit(xs, ys).predict_proba(xq)``
(built-in classifier, one thread) on the two wide tables of ``bench_wide_policy.py``
(``benchlib.wide``: pd_speech, 126 support rows x 751 features; grants_other, a 600-row
sample, 300 x 768), each
run in a fresh process, once with this tree's ``wlearn_mitra`` and once with the one in
``--before`` (a folder holding an older ``wlearn_mitra``, e.g. from ``git archive``),
interleaved, so the two are timed side by side under the same load. Reported per table: seconds
and peak RSS above the loaded process (VmHWM reset after the model is open), their ratios, the
largest difference of the probabilities, whether every argmax agrees, the engine's plan and
the plan's estimate of the predict's working memory. ``--support-only`` adds a run of one
member's support pass alone (the single graph on a 500-feature subset with 2 query rows), to
tell the support term of the estimate from the query term.

    git archive <commit> plugins/mitra/wlearn_mitra | tar -x -C /tmp/before
    python bench/bench_wide_cache.py --before /tmp/before/plugins/mitra [--support-only]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
             "WLEARN_MITRA_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
TABLES = ("modeldata/pd_speech", "modeldata/grants_other")
MB = 2**20


def child(table: str, mode: str, out: str) -> None:
    from benchlib.mitra import hwm_mb, rss_mb
    from benchlib.wide import load, reset_peak, split, warm

    import wlearn_mitra
    from wlearn_mitra import MitraClassifier
    from wlearn_mitra.engine._planning import cache_bytes, query_row_bytes, support_bytes

    warnings.simplefilter("ignore")
    X, y = load(table, 600)
    xs, xq, ys, _, _ = split(X, y, 0)
    warm(None)
    model = MitraClassifier()
    before = rss_mb()
    reset_peak()
    began = time.perf_counter()
    model.fit(xs, ys)
    if mode == "support-only":
        from wlearn_mitra.engine import MitraEngine
        from wlearn_mitra.graphs import _builtin

        engine = MitraEngine(_builtin.path("classification"), task="classification",
                             split=None)
        engine.single  # noqa: B018 - opened before the peak is reset
        before = rss_mb()
        reset_peak()
        began = time.perf_counter()
        sub = np.arange(500)
        engine.forward(np.nan_to_num(xs[:, sub]), np.arange(len(xs)) % 2,
                       np.nan_to_num(xq[:2, sub]))
        proba = np.zeros((0, 2))
    else:
        proba = model.predict_proba(xq)
    seconds = time.perf_counter() - began
    peak = hwm_mb()
    from wlearn_mitra.engine import MitraEngine
    from wlearn_mitra.graphs import _builtin

    probe = MitraEngine(_builtin.path("classification"), task="classification")
    n_support = min(len(xs), 512)
    n_features = int((np.nanmax(xs, axis=0) > np.nanmin(xs, axis=0)).sum())
    plan = probe.plan(n_support, n_features)
    shape, layers = probe.shape, probe.cache_layer_count
    support = support_bytes(shape, n_support, plan.width)
    stored = cache_bytes(shape, layers, n_support, plan.width)
    rows = query_row_bytes(shape, n_support, plan.width) * plan.rows
    estimate = max(support + stored, stored + rows) if plan.cached else support + rows
    np.save(out, proba)
    print(json.dumps({
        "code": str(Path(wlearn_mitra.__file__).parent), "seconds": seconds,
        "peak_above_mb": peak - before, "plan": repr(plan),
        "estimate_mb": estimate / MB, "support_mb": support / MB, "stored_mb": stored / MB,
        "query_chunk_mb": rows / MB}))


def run(table: str, mode: str, code: str | None, out: Path) -> dict:
    env = dict(os.environ)
    if code:
        env["PYTHONPATH"] = os.pathsep.join(
            [code] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep)
                      if p and not p.rstrip("/").endswith("plugins/mitra")])
    done = subprocess.run([sys.executable, __file__, "--child", table, mode, str(out)],
                          capture_output=True, text=True, env=env, check=False)
    if done.returncode:
        raise RuntimeError(done.stderr[-800:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=False, help="folder holding an older wlearn_mitra")
    parser.add_argument("--tables", default=",".join(TABLES))
    parser.add_argument("--support-only", action="store_true")
    parser.add_argument("--json", default=str(RESULTS / "wide-cache.json"))
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for table in args.tables.split(","):
            row = {}
            arms = [("before", args.before), ("after", None)] if args.before else [("after", None)]
            for arm, code in arms:
                row[arm] = run(table, "predict", code, Path(tmp) / f"{arm}.npy")
                print(table, arm, row[arm], flush=True)
            if args.before:
                a, b = np.load(Path(tmp) / "after.npy"), np.load(Path(tmp) / "before.npy")
                row["max_abs_diff"] = float(np.abs(a - b).max())
                row["same_argmax"] = bool((a.argmax(1) == b.argmax(1)).all())
                row["time_after_over_before"] = row["after"]["seconds"] / row["before"]["seconds"]
                row["peak_after_over_before"] = (row["after"]["peak_above_mb"]
                                                 / row["before"]["peak_above_mb"])
            if args.support_only:
                row["support_only"] = run(table, "support-only", None, Path(tmp) / "s.npy")
                print(table, "support-only", row["support_only"], flush=True)
            print(table, {k: v for k, v in row.items() if not isinstance(v, dict)}, flush=True)
            results[table] = row
    out = {"date": time.strftime("%Y-%m-%d %H:%M"), "argv": sys.argv[1:], "results": results}
    Path(args.json).write_text(json.dumps(out, indent=1))
    print(f"results: {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
