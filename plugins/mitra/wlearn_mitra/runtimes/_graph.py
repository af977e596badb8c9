"""What every runtime's graph offers the engine (see :mod:`wlearn_mitra.runtimes._choice`)."""

from __future__ import annotations

from typing import NamedTuple, Protocol, Sequence

from wlearn.errors import ValidationError


class Arg(NamedTuple):
    """A graph input or output: ``dtype`` a numpy dtype name (``"float32"``, ``"int64"``,
    ``"bool"``), ``shape`` its sizes (None for a dynamic axis), or None when the rank is
    unknown."""

    name: str
    dtype: str
    shape: list | None


class Graph(Protocol):
    inputs: dict[str, Arg]
    outputs: dict[str, Arg]

    def run(self, outputs: Sequence[str], feeds: dict, *, one_off: bool = False) -> list: ...


def check_threads(threads: int | None) -> None:
    """The ``threads`` every runtime takes: None (the runtime's choice) or a positive integer."""
    if threads is not None and (int(threads) != threads or threads < 1):
        raise ValidationError(f"threads must be a positive integer, got {threads!r}")
