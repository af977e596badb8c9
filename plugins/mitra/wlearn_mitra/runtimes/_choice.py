"""Which runtime runs the graphs: one module per runtime behind one small interface.

A runtime module gives ``NAME``, ``PRECISIONS`` and ``open_graph(source, *, precision,
threads, sha256, optimized_dir)``, returning a graph with

* ``inputs``, ``outputs``: name -> :class:`Arg` (numpy dtype name and shape), in order;
* ``run(outputs, feeds, *, one_off=False)``: the named outputs as numpy arrays for the feeds
  (name -> array); interruptible by Ctrl-C; ``one_off`` marks a run whose working memory
  should not stay reserved afterwards.

Chunking, the support cache, preprocessing and graph-level precision (int8) live outside the
runtimes and work the same with each. The runtime is chosen per engine and never written to
bundles.
"""

from __future__ import annotations

import os

from wlearn.errors import ValidationError

from . import _openvino, _ort
from ._graph import Arg, Graph  # noqa: F401  (the interface, named here for the engine)
from ..graphs._modelfile import ModelSource

#: Runtime name -> module (neither imports its runtime until a graph is opened).
RUNTIMES = {module.NAME: module for module in (_ort, _openvino)}
DEFAULT_RUNTIME = _ort.NAME
#: Precisions each runtime runs.
PRECISIONS = {name: module.PRECISIONS for name, module in RUNTIMES.items()}


def check(runtime: str, precision: str) -> None:
    """ValidationError unless ``runtime`` is known and runs ``precision``."""
    if not isinstance(runtime, str) or runtime not in RUNTIMES:
        raise ValidationError(f"runtime must be one of {tuple(RUNTIMES)}, not {runtime!r}")
    if not isinstance(precision, str) or precision not in PRECISIONS[runtime]:
        raise ValidationError(
            f"precision must be one of {PRECISIONS[runtime]} for runtime={runtime!r}, "
            f"got {precision!r}"
        )


def check_ready(runtime: str, precision: str) -> None:
    """Raise unless ``runtime`` (which :func:`check` passed) is installed and this machine runs
    ``precision`` on it: MissingDependencyError without the runtime's package, ValidationError
    for a precision the CPU lacks. An engine asks this before it reads or makes any file of
    the disk cache, so an unavailable runtime or precision never passes for a damaged file."""
    RUNTIMES[runtime].check_ready(precision)


def open_graph(
    runtime: str,
    source: ModelSource,
    *,
    precision: str,
    threads: int | None,
    sha256: str | None,
    optimized_dir: str | os.PathLike | None,
) -> Graph:
    """``source`` opened on ``runtime`` at ``precision``, which :func:`check` passed (the
    engine checks them once, when it opens, not for every graph)."""
    return RUNTIMES[runtime].open_graph(source, precision=precision, threads=threads,
                                        sha256=sha256, optimized_dir=optimized_dir)
