"""``wlearn-mitra convert`` and ``wlearn-mitra verify``.

Argument parsing needs nothing beyond the standard library; torch, onnx and safetensors are
imported only when a command runs.
"""

from __future__ import annotations

import argparse
import sys

from .._hints import install_hint

INSTALL_HINT = install_hint("convert")
_NEEDED = ("torch", "onnx", "safetensors")


def _missing_dependencies() -> list[str]:
    import importlib.util

    return [name for name in _NEEDED if importlib.util.find_spec(name) is None]


def _run(action) -> int:
    missing = _missing_dependencies()
    if missing:
        needed = ", ".join(missing)
        print(f"wlearn-mitra: this command needs {needed}: {INSTALL_HINT}", file=sys.stderr)
        return 1
    from wlearn.errors import WlearnError

    try:
        return action()
    except WlearnError as exc:
        print(f"wlearn-mitra: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # a file: a folder, read-only, a full disk
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"wlearn-mitra: {where}{exc.strerror or exc} (convert writes each file whole "
              "or not at all)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("wlearn-mitra: interrupted (convert writes each file whole or not at all)",
              file=sys.stderr)
        return 130


def _source_help() -> str:
    return ("checkpoint folder (config.json + model.safetensors), Hugging Face repo id "
            "(e.g. autogluon/mitra-classifier) or an existing Mitra .onnx file")


def add_convert_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help=_source_help())
    parser.add_argument("--out", required=True, help="ONNX file to write")
    parser.add_argument("--variant", choices=("classifier", "regressor"),
                        help="model kind; read from config.json when omitted")
    parser.add_argument("--split", action="store_true",
                        help="also write the support encoder and query decoder "
                             "(FILE.encoder.onnx, FILE.decoder.onnx)")
    add_declare_argument(parser)
    parser.set_defaults(run=run_convert)


def add_declare_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-node-classes", type=int, metavar="M",
                        help="a classifier: declare M (2..10) in the graphs as the estimators' "
                             "default max_node_classes (spec/mitra-onnx.md, Declared defaults)")
    parser.add_argument("--target-encoding", choices=("true", "false"),
                        help="declare in the graphs the estimators' default target_encoding "
                             "(spec/mitra-onnx.md, Declared defaults)")


def declared_target_encoding(args: argparse.Namespace) -> bool | None:
    """``--target-encoding`` as the estimators read it: True, False or None (not given)."""
    return None if args.target_encoding is None else args.target_encoding == "true"


def add_verify_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help=_source_help())
    parser.add_argument("--onnx", required=True, help="ONNX file to check")
    parser.add_argument("--variant", choices=("classifier", "regressor"))
    parser.add_argument("--tolerance", type=float, default=1e-4,
                        help="largest accepted |PyTorch - ONNX Runtime| (default 1e-4)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random inputs")
    parser.set_defaults(run=run_verify)


def _logger():
    """Prints each step with the seconds since the command started, on stderr."""
    import time

    start = time.monotonic()

    def log(message: str) -> None:
        print(f"[{time.monotonic() - start:6.1f} s] {message}", file=sys.stderr, flush=True)

    return log


def run_convert(args: argparse.Namespace) -> int:
    def action() -> int:
        log = _logger()
        log("loading torch and onnx")
        from .export import convert, split_paths

        out = convert(args.checkpoint, args.out, args.variant, split=args.split, log=log,
                      max_node_classes=args.max_node_classes,
                      target_encoding=declared_target_encoding(args))
        log("done")
        print(f"wrote {out}")
        if args.split:
            for path in split_paths(out):
                print(f"wrote {path}")
        return 0

    return _run(action)


def run_verify(args: argparse.Namespace) -> int:
    def action() -> int:
        from .verify import verify

        report = verify(args.checkpoint, args.onnx, args.variant,
                        tolerance=args.tolerance, seed=args.seed)
        print("\n".join(report.lines()))
        return 0 if report.ok else 1

    return _run(action)
