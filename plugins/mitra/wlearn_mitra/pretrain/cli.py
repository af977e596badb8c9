"""``wlearn-mitra pretrain``: train (or resume) a small Tab2D on synthetic tables.

Arguments are declared without importing torch; it is imported only when the command runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", required=True,
                        help="run folder: created when new, resumed when it holds a run")
    budget = parser.add_mutually_exclusive_group(required=True)
    budget.add_argument("--minutes", type=float,
                        help="training time to add, in minutes (evaluation not counted)")
    budget.add_argument("--steps", type=int,
                        help="training steps to add (reproduces a run exactly: the tables of "
                             "step i depend only on the seed and i)")
    parser.add_argument("--task", choices=("classification", "regression"))
    parser.add_argument("--seed", type=int)
    parser.add_argument("--dim", type=int)
    parser.add_argument("--layers", type=int)
    parser.add_argument("--heads", type=int)
    parser.add_argument("--init", help="checkpoint folder whose body starts a new run "
                                       "(e.g. a classifier's, for a regressor)")
    parser.add_argument("--report-minutes", type=float,
                        help="minutes of training between reports (default 5)")
    parser.add_argument("--onnx", help="at the end, also write the model as this ONNX file")
    parser.add_argument("--no-eval", action="store_true",
                        help="skip the held-out scores on scikit-learn's data sets")
    parser.set_defaults(run_command=run)


def _settings(args: argparse.Namespace):
    from .trainer import RunSettings

    given = {"task": args.task, "seed": args.seed, "dim": args.dim, "n_layers": args.layers,
             "n_heads": args.heads, "init": args.init}
    given = {k: v for k, v in given.items() if v is not None}
    if args.report_minutes is not None:
        given["report_seconds"] = args.report_minutes * 60
    return given


def run(args: argparse.Namespace) -> int:
    try:
        import schedulefree  # noqa: F401
        import torch  # noqa: F401
    except ImportError as exc:
        from .._hints import install_hint

        print(f"wlearn-mitra pretrain needs {exc.name}: {install_hint('pretrain')}",
              file=sys.stderr)
        return 1
    from .trainer import RUN_FILE, Run, RunSettings

    given = _settings(args)
    folder = Path(args.run)
    if (folder / RUN_FILE).is_file():
        if given:
            print(f"wlearn-mitra: {folder} holds a run; resume it without settings "
                  f"(given: {sorted(given)})", file=sys.stderr)
            return 1
        run_ = Run(folder)
        print(f"resuming {folder} at step {run_.step} ({run_.seconds / 60:.1f} min trained)")
    else:
        run_ = Run(folder, RunSettings(**given))
        print(f"new run in {folder}: {run_.settings}")
    evaluate_fn = None
    if not args.no_eval:
        from .evaluate import evaluate

        task = run_.settings.task
        evaluate_fn = lambda model: evaluate(model, task)  # noqa: E731
    seconds = float("inf") if args.minutes is None else args.minutes * 60
    run_.train(seconds, evaluate_fn, echo=lambda line: print(line, flush=True), steps=args.steps)
    checkpoint = run_.export()
    print(f"wrote {checkpoint}")
    if args.onnx:
        from ..convert.export import convert

        print(f"wrote {convert(checkpoint, args.onnx)}")
    return 0
