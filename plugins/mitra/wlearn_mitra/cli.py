"""The ``wlearn-mitra`` console command: ``demo``, ``convert``, ``verify`` and ``pretrain``."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence


def _version() -> str:
    """wlearn-mitra's version and those it runs with (read without importing them)."""
    from importlib import metadata

    from . import __version__

    def installed(name: str) -> str:
        try:
            return f"{name} {metadata.version(name)}"
        except metadata.PackageNotFoundError:
            return f"{name} not installed"

    return f"wlearn-mitra {__version__} ({installed('wlearn')}, {installed('onnxruntime')})"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wlearn-mitra",
        description="Mitra tabular in-context learning on ONNX Runtime.",
    )
    parser.add_argument("--version", action="version", version=_version())
    commands = parser.add_subparsers(dest="command", required=True)

    from . import demo

    demo.add_arguments(commands.add_parser("demo", help=demo.__doc__.splitlines()[0]))

    # The converter needs torch; its arguments are declared without importing it.
    from .convert import cli as convert_cli

    convert_cli.add_convert_arguments(
        commands.add_parser("convert", help="Convert a Mitra checkpoint to ONNX.")
    )
    convert_cli.add_verify_arguments(
        commands.add_parser("verify", help="Compare an ONNX file with the PyTorch model.")
    )
    from .pretrain import cli as pretrain_cli

    pretrain_cli.add_arguments(
        commands.add_parser("pretrain", help="Train a small Mitra on synthetic tables.")
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run = getattr(args, "run_command", None) or args.run
    return int(run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
