"""Where the ONNX model comes from: the ``onnx`` parameter, the environment, else the
built-in model (:mod:`wlearn_mitra.graphs._builtin`).

Threads per engine (ONNX Runtime's intra-op threads, OpenVINO's inference threads): the
thread policy scikit-learn users know. ``WLEARN_MITRA_THREADS`` (a positive integer) when set;
else ``OMP_NUM_THREADS`` when set, which joblib's process workers get as cores / ``n_jobs``
(``cross_val_score(n_jobs=2)``, ``GridSearchCV``) and Dask's worker processes as 1; else one
per core (the runtime's own default). Without this every worker process of
``cross_val_score(n_jobs=2)`` took every core, and ONNX Runtime's threads spin while they wait,
so two processes ran slower than one.

Opening a 290 MB model takes seconds, and scikit-learn clones an estimator for every fold,
so engines are shared between estimators given the same source, precision and runtime: the
same file (path, size and modification time of the model and of each external data file it
reads) or the same bytes object. The cache holds engines weakly,
plus the most recently opened one of each task strongly (so fold after fold of a
cross-validation reuses it); ``dispose()`` of an estimator drops that strong reference if it
is its engine.
"""

from __future__ import annotations

import os
import threading
import weakref
from pathlib import Path
from typing import Any

from wlearn.errors import ValidationError

from .._tasks import TASKS
from ..graphs import _builtin
from .._hints import install_hint
from ..graphs._identity import file_stamp, stamp
from ..graphs._modelfile import model_source
from ._engine import MitraEngine

ENV_VARS = {name: task.env_var for name, task in TASKS.items()}
THREADS_VAR = "WLEARN_MITRA_THREADS"
RELEASES = "https://github.com/wlearn-org/mitra-onnx/releases/tag/models-v1.0.0"


def how_to_get(task: str) -> str:
    """Where the real Mitra ONNX model of ``task`` comes from. For regression, Mitra-v2's
    bin-head regressor comes first: it predicts distributions, as the built-in regressor does."""
    name = TASKS[task].kind
    convert = f"{install_hint('convert', 'hub')}, then `wlearn-mitra convert --checkpoint "
    if task == "regression":
        return (
            f"{convert}autogluon/mitra-regressor-2 --out mitra-regressor-2.onnx` (Mitra-v2, "
            "with predictive distributions; autogluon/mitra-regressor for Mitra v1); or "
            f"download mitra-regressor.onnx (v1) released for the JS package @wlearn/mitra "
            f"({RELEASES})"
        )
    return (
        f"{convert}autogluon/mitra-{name} --out mitra-{name}.onnx`; or download "
        f"mitra-{name}.onnx released for the JS package @wlearn/mitra ({RELEASES})"
    )


def resolve(onnx: Any, task: str, notice: bool = True, sha: str | None = None) -> Any:
    """The ONNX source to use: ``onnx`` itself, else the file named by the environment
    variable of ``task``, else the built-in model (said once, with a
    :class:`~wlearn_mitra.BuiltinModelWarning`, unless ``notice`` is False: a look at the
    model, not a use of it, or when ``sha`` names a built-in model: the caller was fitted with
    it, or loaded from a bundle that names it). ``sha``: the hash of the model the caller was
    fitted with; when it is a built-in model an earlier release shipped, that one is the
    built-in model (:func:`~wlearn_mitra.graphs._builtin.find`), so a pickle or a bundle
    outlives a new built-in model."""
    if onnx is not None:
        return onnx
    path = os.environ.get(ENV_VARS[task])
    if not path:
        recorded = _builtin.find(task, sha)
        if notice and recorded is None:  # a model fitted with a built-in one was told so then
            _builtin.notice(task, how_to_get(task), ENV_VARS[task])
        return recorded or _builtin.path(task)
    if not Path(path).is_file():
        raise ValidationError(f"{ENV_VARS[task]} names {path!r}, which is not a file")
    return path


#: The variable joblib (loky) sets to cores / n_jobs in its workers, and Dask's nanny to 1.
OMP_VAR = "OMP_NUM_THREADS"


def threads() -> int | None:
    """Runtime threads per engine: ``WLEARN_MITRA_THREADS``, else ``OMP_NUM_THREADS`` (as
    joblib's and Dask's workers set it), else None (one per core). A malformed
    ``WLEARN_MITRA_THREADS`` is refused; a malformed ``OMP_NUM_THREADS`` (OpenMP allows lists
    such as ``"4,2"``) is read for its first number, or ignored."""
    value = os.environ.get(THREADS_VAR, "").strip()
    if value:
        if not value.isdigit() or int(value) < 1:
            raise ValidationError(f"{THREADS_VAR} must be a positive integer, got {value!r}")
        return int(value)
    first = os.environ.get(OMP_VAR, "").split(",")[0].strip()
    if first.isdigit() and int(first) >= 1:
        return int(first)
    return None


class Handle:
    """An engine together with the source it was opened from."""

    __slots__ = ("engine", "source", "__weakref__")

    def __init__(self, engine: MitraEngine, source: Any) -> None:
        self.engine = engine
        self.source = source


_cache: "weakref.WeakValueDictionary[tuple, Handle]" = weakref.WeakValueDictionary()
_recent: dict[str, Handle] = {}
_lock = threading.Lock()


def _key(
    source: Any, task: str, precision: str, runtime: str, n_threads: int | None
) -> tuple | None:
    if isinstance(source, (str, os.PathLike)):
        # The model file and every external data file it reads: replacing either is a new model.
        files = stamp(source)
        return None if files is None else ("file", task, precision, runtime, n_threads, files)
    if isinstance(source, bytes):
        return ("bytes", task, precision, runtime, n_threads, id(source))
    return None  # sessions are cheap to wrap; bytearrays may change


def locate(onnx: Any, task: str, sha: str | None = None, notice: bool = True) -> Any:
    """The model source :func:`open_engine` would open for ``onnx`` and ``sha`` (see
    :func:`resolve`, which ``notice`` is passed to), without opening it: a path is checked to
    be a file. Raises ValidationError for a missing file, as opening would
    (:func:`~wlearn_mitra.graphs._modelfile.model_source`'s check)."""
    source = resolve(onnx, task, notice=notice, sha=sha)
    if isinstance(source, (str, os.PathLike)):
        model_source(source)
    return source


def known_identity(source: Any, task: str) -> str | None:
    """The identity of the model ``source`` (as :func:`locate` returns it) when it is known
    without reading the model (a built-in one's), else None."""
    return _builtin.identity(source, task)


def _lookup(key: tuple | None, source: Any, task: str) -> Handle | None:
    with _lock:
        handle = _cache.get(key) if key is not None else None
        # An id() can be reused once its object is gone; the handle keeps its own.
        if handle is not None and (key[0] != "bytes" or handle.source is source):
            _recent[task] = handle
            return handle
    return None


def open_engine_if_open(
    source: Any, task: str, precision: str = "fp32", runtime: str = "onnxruntime"
) -> Handle | None:
    """The :class:`Handle` :func:`open_engine` would return for ``source`` (as :func:`locate`
    returns it), when that engine is open in this process already; None (nothing opened)
    otherwise."""
    if isinstance(source, (str, os.PathLike)) and not _may_be_open(source):
        return None  # the full key reads the model for its external files: not needed
    return _lookup(_key(source, task, precision, runtime, threads()), source, task)


def _may_be_open(path: str | os.PathLike) -> bool:
    """Whether an open engine's key names the model file ``path`` as it is now (its path,
    size and modification time), judged without reading the file."""
    try:
        own = file_stamp(path)
    except OSError:
        return False
    with _lock:
        keys = list(_cache.keys())
    return any(key[0] == "file" and key[-1][0] == own for key in keys)


def open_engine(
    onnx: Any, task: str, precision: str = "fp32", runtime: str = "onnxruntime",
    sha: str | None = None,
) -> Handle:
    """A :class:`Handle` for the model ``onnx`` (or the environment's, or the built-in one:
    of hash ``sha`` when an earlier release shipped it, see :func:`resolve`), ``task``,
    ``precision`` and ``runtime`` (see :class:`MitraEngine`)."""
    source = resolve(onnx, task, sha=sha)
    n_threads = threads()
    key = _key(source, task, precision, runtime, n_threads)
    handle = _lookup(key, source, task)
    if handle is not None:
        return handle
    handle = Handle(
        MitraEngine(source, task=task, precision=precision, runtime=runtime,
                    threads=n_threads), source
    )
    with _lock:
        if key is not None:
            _cache[key] = handle
            _recent[task] = handle
    return handle


def release(handle: Handle | None) -> None:
    """Forget ``handle`` as the recently used engine (its users keep it alive)."""
    with _lock:
        for task, recent in list(_recent.items()):
            if recent is handle:
                del _recent[task]
