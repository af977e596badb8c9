"""The built-in models: small Tab2Ds pretrained on synthetic tables, shipped in ``data/``.

They are what an estimator uses when it is given no model and no environment variable names
one, so that a fresh install predicts sensibly offline. They have Mitra's graph interfaces
(the classifier's 10 logits; the regressor's 1,000-bin head, as Mitra-v2's, so it predicts
distributions), so bundles, the support cache and int8 work with them unchanged (the JS
package @wlearn/mitra 0.1 runs the classifier and refuses bin heads); a bundle records which model it needs by ``onnxSha256`` and ``wlearn.load`` finds
the built-in one by that hash. Architecture, prior, training run and scores:
``spec/builtin-models.md``. They are far smaller than the real Mitra (72M parameters).

When a release ships a better built-in model, the one it replaces stays in the package, in
``data/previous/``, named ``<file stem>-<sha256>.onnx`` (``mitra-builtin-classifier-defad4d5...
.onnx``): bundles and pickles made with it name it by hash, and :func:`find` gives it back, so
they load and answer as they did. A file's hash is computed when it is used (the name only
finds it), so a renamed or damaged file is refused, never run under another's name. The tiny
random-weight test models in ``data/`` (the demo's; the JS package's test bundles name them)
are found by hash too.
"""

from __future__ import annotations

import hashlib
import os
import threading
import warnings
from functools import lru_cache
from importlib import resources

from .._tasks import TASKS
from ..exceptions import BuiltinModelWarning, user_stacklevel

FILES = {name: task.builtin_file for name, task in TASKS.items()}

#: Parameters of each built-in model, as messages give them (spec/builtin-models.md).
PARAMETERS = {"classification": "0.67M", "regression": "0.86M"}


def what(task: str) -> str:
    """How the notice and the demo name the built-in model of ``task``."""
    return (f"the small built-in {TASKS[task].kind} ({PARAMETERS[task]} parameters, pretrained "
            "on synthetic tables; see spec/builtin-models.md), not the real 72M-parameter Mitra")


#: The folder, beside the current models, of the built-in models earlier releases shipped.
PREVIOUS = "previous"

_noticed: set[str] = set()
_lock = threading.Lock()


#: Set in the environment once the notice was given, so worker processes started afterwards
#: (joblib, multiprocessing, Dask) do not repeat it.
NOTICED_VAR = "WLEARN_MITRA_BUILTIN_NOTICED"


def path(task: str) -> str:
    """The file of the built-in model of ``task`` ('classification' or 'regression')."""
    # Installed packages are plain folders, so the resource is a real file.
    return str(resources.files("wlearn_mitra").joinpath("data", FILES[task]))


@lru_cache(maxsize=None)
def sha256(task: str) -> str:
    """SHA-256 (hex) of the built-in model of ``task``: the ``onnxSha256`` of its bundles."""
    return hashlib.sha256(resources.files("wlearn_mitra").joinpath("data", FILES[task])
                          .read_bytes()).hexdigest()


@lru_cache(maxsize=None)
def previous(task: str) -> dict[str, str]:
    """The built-in models of ``task`` that earlier releases shipped: SHA-256 (hex) -> file,
    read from their names (``<file stem>-<sha256>.onnx`` in ``data/previous/``)."""
    folder = resources.files("wlearn_mitra").joinpath("data", PREVIOUS)
    stem = FILES[task].removesuffix(".onnx") + "-"
    found = {}
    if folder.is_dir():
        for entry in folder.iterdir():
            name = entry.name
            sha = name[len(stem):-len(".onnx")]
            if (name.startswith(stem) and name.endswith(".onnx") and len(sha) == 64
                    and all(c in "0123456789abcdef" for c in sha)):
                found[sha] = str(entry)
    return found


def test_path(task: str) -> str:
    """The file of the tiny random-weight test model of ``task`` (the demo's, and the one the
    JS package's test bundles were made with)."""
    return str(resources.files("wlearn_mitra").joinpath("data", TASKS[task].test_file))


def find(task: str, sha: str | None) -> str | None:
    """The file of the model of ``task`` the package ships whose SHA-256 is ``sha``: the
    built-in model, one an earlier release shipped, or the tiny test model; None when none
    has it."""
    if not sha:
        return None
    if sha == sha256(task):
        return path(task)
    if sha == _file_sha256(test_path(task)):
        return test_path(task)
    return previous(task).get(sha)


def identity(source: object, task: str) -> str | None:
    """The SHA-256 of ``source`` when it is one of the model files of ``task`` the package
    ships (built-in, earlier built-in, tiny test model), else None. Computed once per file and process (a few milliseconds for a built-in model); an
    earlier model's is computed too, not taken from its name, so a damaged file is refused by
    the hash check of the bundle that names it."""
    if not isinstance(source, (str, os.PathLike)):
        return None
    source = os.fspath(source)
    if source == path(task):
        return sha256(task)
    if source == test_path(task) or source in previous(task).values():
        return _file_sha256(source)
    return None


@lru_cache(maxsize=None)
def _file_sha256(file: str) -> str:
    with open(file, "rb") as handle:  # a few MB
        return hashlib.sha256(handle.read()).hexdigest()


def describe(task: str, sha: str | None) -> str | None:
    """How messages name the built-in model of hash ``sha``, or None when it is none."""
    if sha and sha == sha256(task):
        return f"the built-in {FILES[task]} (wlearn-mitra)"
    if sha and sha in previous(task):
        return f"the built-in {FILES[task]} of an earlier wlearn-mitra (sha256 {sha[:12]}...)"
    if sha and sha == _file_sha256(test_path(task)):
        return f"the tiny random-weight test model {TASKS[task].test_file} (wlearn-mitra)"
    return None


def _in_worker(task: str) -> bool:
    """A worker of the user's session: started by another Python process (multiprocessing,
    joblib's loky, Dask's nanny), or after this session gave the notice."""
    import multiprocessing

    pid, _, tasks = os.environ.get(NOTICED_VAR, "").partition(":")
    if pid and pid != str(os.getpid()) and task in tasks.split(","):
        return True  # given by the process that started this one
    return multiprocessing.parent_process() is not None


def notice(task: str, how_to_get: str, env_var: str) -> None:
    """Say once per task in the user's session that the small built-in model is in use."""
    with _lock:
        if task in _noticed:
            return
        _noticed.add(task)
        if _in_worker(task):
            return
        pid, _, tasks = os.environ.get(NOTICED_VAR, "").partition(":")
        noticed = {t for t in tasks.split(",") if t} if pid == str(os.getpid()) else set()
        os.environ[NOTICED_VAR] = f"{os.getpid()}:{','.join(sorted({*noticed, task}))}"
    warnings.warn(
        f"no Mitra {TASKS[task].kind} model given: using {what(task)}. For the real model: "
        f"{how_to_get}; then pass onnx=<path> or set {env_var}.",
        BuiltinModelWarning,
        stacklevel=user_stacklevel(),
    )
