"""``wlearn-mitra pretrain``: train (or resume) a small Tab2D on synthetic tables.

Arguments are declared without importing torch; it is imported only when the command runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..convert.cli import add_declare_argument, declared_target_encoding


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
    parser.add_argument("--prior", type=int, choices=(1, 2),
                        help="prior version of a new run (default: the latest, 2)")
    parser.add_argument("--bins", type=int,
                        help="regression: a bin head of this many bins (Mitra-v2's regressor "
                             "has 1000) trained by cross-entropy; default a scalar head")
    parser.add_argument("--lr", type=float, help="learning rate (default 0.003)")
    parser.add_argument("--easy-fraction", type=float,
                        help="share of batches of small easy tables (default 0.5)")
    parser.add_argument("--report-minutes", type=float,
                        help="minutes of training between reports (default 5)")
    parser.add_argument("--onnx", help="at the end, also write the model as this ONNX file")
    add_declare_argument(parser)
    parser.add_argument("--no-eval", action="store_true",
                        help="skip the held-out scores on scikit-learn's data sets")
    parser.set_defaults(run_command=run)


def _settings(args: argparse.Namespace):
    from .trainer import RunSettings

    given = {"task": args.task, "seed": args.seed, "dim": args.dim, "n_layers": args.layers,
             "n_heads": args.heads, "init": args.init, "prior": args.prior,
             "n_bins": args.bins, "lr": args.lr, "easy_fraction": args.easy_fraction}
    given = {k: v for k, v in given.items() if v is not None}
    if args.report_minutes is not None:
        given["report_seconds"] = args.report_minutes * 60
    return given


def _declares_for_a_regressor(args: argparse.Namespace, task: str) -> bool:
    if args.max_node_classes is None or task == "classification":
        return False
    print("wlearn-mitra: --max-node-classes is declared only by a classifier", file=sys.stderr)
    return True


def _open_run(open_it, folder: Path):
    """The run ``open_it()`` opens, or None after saying on stderr why it cannot be (a run
    folder whose files are missing, damaged or of another shape, an --init that is not a
    checkpoint, a folder that cannot be written)."""
    import json
    import pickle

    from wlearn.errors import WlearnError

    try:
        return open_it()
    except (ValueError, OSError, EOFError, RuntimeError, KeyError, TypeError,
            json.JSONDecodeError, pickle.UnpicklingError, WlearnError) as exc:
        detail = str(exc) or f"{type(exc).__name__} (a file cut short?)"
        print(f"wlearn-mitra: cannot open the run in {folder}: {detail}", file=sys.stderr)
        return None


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

    if args.minutes is not None and not args.minutes >= 0:  # NaN too
        print(f"wlearn-mitra: --minutes must be 0 or more, got {args.minutes}", file=sys.stderr)
        return 1
    if args.steps is not None and args.steps < 0:
        print(f"wlearn-mitra: --steps must be 0 or more, got {args.steps}", file=sys.stderr)
        return 1
    given = _settings(args)
    if args.max_node_classes is not None:  # refused now, not after hours of training
        from wlearn.errors import ValidationError

        from ..inputs._manyclass import check_max_groups

        try:
            check_max_groups(args.max_node_classes)
        except ValidationError as exc:
            print(f"wlearn-mitra: {exc}", file=sys.stderr)
            return 1
        if not args.onnx:
            print("wlearn-mitra: --max-node-classes is declared in the --onnx file",
                  file=sys.stderr)
            return 1
    if args.target_encoding is not None and not args.onnx:
        print("wlearn-mitra: --target-encoding is declared in the --onnx file", file=sys.stderr)
        return 1
    folder = Path(args.run)
    if folder.exists() and not folder.is_dir():
        print(f"wlearn-mitra: --run {folder} is a file, not a run folder", file=sys.stderr)
        return 1
    if (folder / RUN_FILE).is_file():
        if given:
            print(f"wlearn-mitra: {folder} holds a run; resume it without settings "
                  f"(given: {sorted(given)})", file=sys.stderr)
            return 1
        run_ = _open_run(lambda: Run(folder), folder)
        if run_ is None or _declares_for_a_regressor(args, run_.settings.task):
            return 1
        print(f"resuming {folder} at step {run_.step} ({run_.seconds / 60:.1f} min trained)")
    else:
        from .prior import LATEST

        given.setdefault("prior", LATEST)
        try:
            settings = RunSettings(**given)
        except ValueError as exc:
            print(f"wlearn-mitra: {exc}", file=sys.stderr)
            return 1
        if _declares_for_a_regressor(args, settings.task):
            return 1
        run_ = _open_run(lambda: Run(folder, settings), folder)
        if run_ is None:
            return 1
        print(f"new run in {folder}: {run_.settings}")
    evaluate_fn = None
    if not args.no_eval:
        from .evaluate import evaluate

        task = run_.settings.task
        evaluate_fn = lambda model: evaluate(model, task)  # noqa: E731
    seconds = float("inf") if args.minutes is None else args.minutes * 60
    # SIGTERM (kill PID) ends the step under way, then reports and saves as at a normal end.
    import signal

    previous = signal.signal(signal.SIGTERM, lambda *_: run_.request_stop())
    try:
        run_.train(seconds, evaluate_fn, echo=lambda line: print(line, flush=True),
                   steps=args.steps)
    finally:
        signal.signal(signal.SIGTERM, previous)
    checkpoint = run_.export()
    print(f"wrote {checkpoint}")
    if args.onnx:
        from ..convert.export import convert

        written = convert(checkpoint, args.onnx, max_node_classes=args.max_node_classes,
                          target_encoding=declared_target_encoding(args))
        print(f"wrote {written}")
    return 0
