"""A model's identity: the SHA-256 that bundles record (``onnxSha256``) and that every cache
built from the model is keyed by (derived split pair, int8 graphs, optimised graphs).

A self-contained ONNX file is identified by the SHA-256 of its bytes, as @wlearn/mitra does.
A model with external data (``model.onnx`` + ``model.onnx.data``, as the ``onnx`` package
writes models over 2 GB) reads more files than that, so its identity covers each of them: it
is the SHA-256 of the UTF-8 text

    wlearn-onnx-model 1
    <SHA-256 of model.onnx>
    <SHA-256 of the first external file> <its location>
    ...

one line per distinct external ``location``, sorted, each line ending in ``\\n``. Replacing
the weights in ``model.onnx.data`` therefore changes the identity, so bundles made with the
old weights are refused by ``check_onnx_hash`` and no cache serves graphs built from them.
See spec/mitra.md.

Hashing a 290 MB model takes a third of a second or more, on every first open in a process.
A file's identity is therefore remembered in the cache folder (``identity/``) under its
path and status - device, inode, size, modification and status-change times in nanoseconds,
of the model file and of each external file - and trusted while all of them are unchanged,
as git trusts its index. Rewriting a file changes its status-change time, which no user tool
can set back; a file changed within the file system's timestamp granularity of its hashing
could keep its status, so files changed less than :data:`SETTLED_S` seconds before they are
hashed are not remembered (git's "racily clean" entries). A memo that is missing, damaged or
unwritable is only a cache: the file is hashed.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import time
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Iterator

from wlearn.errors import ValidationError

from ..inputs._checks import SHA256_HEX
from ._cachedir import default_cache_dir, identity_memo_path
from ._onnxinfo import external_locations

IDENTITY_HEADER = "wlearn-onnx-model 1"


def external_files(model: Path, view: memoryview) -> list[tuple[str, Path]]:
    """``(location, path)`` of each file the model at ``model`` (its bytes ``view``) keeps
    tensors in, in sorted order of location.

    Raises ValidationError for a location that is absolute, leaves the model's folder or
    names no file: ONNX Runtime would read it or fail on it later.
    """
    try:
        locations = external_locations(view)
    except (ValueError, IndexError):
        return []  # not a readable protobuf: ONNX Runtime will say what is wrong with it
    folder = model.resolve().parent
    out = []
    for location in sorted(locations):
        path = (folder / location).resolve()
        if Path(location).is_absolute() or not path.is_relative_to(folder):
            raise ValidationError(
                f"the ONNX model {model} keeps weights in {location!r}, outside its own folder; "
                "external data must sit beside the model file"
            )
        if not path.is_file():
            raise ValidationError(
                f"the ONNX model {model} keeps weights in {location!r}, but {path} is not a file"
            )
        out.append((location, path))
    return out


def _file_sha256(path: Path) -> str:
    with model_buffer(path) as view:
        return hashlib.sha256(view).hexdigest()


def model_identity(source: bytes | Path, view: memoryview) -> str:
    """The identity (64 lowercase hex digits) of the model ``source``, whose own bytes are
    ``view``: the SHA-256 of those bytes when the model has no external data, else the digest
    described in the module docstring.

    Raises ValidationError for model bytes (not a path) that refer to external data, which
    ONNX Runtime cannot find without the model's folder, and for external data that
    :func:`external_files` refuses.
    """
    if not isinstance(source, (bytes, bytearray, memoryview)):
        remembered = _remembered(Path(source))
        if remembered is not None:
            return remembered
    own = hashlib.sha256(view).hexdigest()
    if isinstance(source, (bytes, bytearray, memoryview)):
        try:
            locations = external_locations(view)
        except (ValueError, IndexError):
            locations = []
        if locations:
            raise ValidationError(
                f"the ONNX model keeps weights in external files {sorted(locations)}; pass the "
                "model's path (with those files beside it), not its bytes"
            )
        return own
    model = Path(source)
    before = _status(model)
    files = external_files(model, view)
    statuses = [(location, _status(path)) for location, path in files]
    if not files:
        identity = own
    else:
        lines = [IDENTITY_HEADER, own] + [f"{_file_sha256(path)} {loc}" for loc, path in files]
        identity = hashlib.sha256("".join(f"{line}\n" for line in lines).encode()).hexdigest()
    _remember(model, before, statuses, identity)
    return identity


#: Files changed less than this many seconds before they are hashed are not remembered.
SETTLED_S = 2.0


def _status(path: Path) -> list[int] | None:
    """The status a remembered identity holds the file to, or None if it cannot be read."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return [info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns]


def _memo(model: Path, status: list[int]) -> Path:
    key = json.dumps([os.path.realpath(model), status])
    return identity_memo_path(default_cache_dir(), hashlib.sha256(key.encode()).hexdigest())


def _remembered(model: Path) -> str | None:
    """The remembered identity of the file ``model``, if the file and each external file it
    reads are as they were when it was hashed; else None."""
    memo = _memo_of(model)
    return None if memo is None else memo[0]


def _memo_of(model: Path) -> tuple[str, tuple[tuple[str, Path], ...]] | None:
    """``(identity, ((location, path), ...))`` remembered for the file ``model``, if it and
    each external file it reads are as they were when it was hashed; else None."""
    status = _status(model)
    if status is None:
        return None
    try:
        memo = json.loads(_memo(model, status).read_text())
        identity, externals = memo["identity"], memo["external"]
        if not (isinstance(identity, str) and SHA256_HEX.fullmatch(identity)
                and isinstance(externals, list)):
            return None
        folder = model.resolve().parent
        files = []
        for location, recorded in externals:
            path = folder / str(location)
            if _status(path) != recorded:
                return None  # an external file changed: hashed again
            files.append((str(location), path.resolve()))
    except (OSError, ValueError, KeyError, TypeError):
        return None  # no memo, or a damaged one: only a cache
    return identity, tuple(files)


def _remember(model: Path, status: list[int] | None, externals: list, identity: str) -> None:
    """Keep ``identity`` for the file ``model`` as it was (``status``) before it was hashed,
    unless it or an external file may still be changing; never raises."""
    now = time.time_ns()
    settled = SETTLED_S * 1e9
    every = [status] + [recorded for _, recorded in externals]
    if any(s is None or now - max(s[3], s[4]) < settled for s in every):
        return
    target = _memo(model, status)
    scratch = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        scratch.write_text(json.dumps({"identity": identity,
                                       "external": [list(e) for e in externals]}))
        os.replace(scratch, target)  # whole or not at all
    except OSError:
        try:
            scratch.unlink()
        except OSError:
            pass


@contextmanager
def model_buffer(source: bytes | Path) -> Iterator[memoryview]:
    """The model's bytes, memory-mapped for a file so nothing stays resident afterwards (the
    map is closed on leaving, or, while something still holds a slice of it, when that goes)."""
    if isinstance(source, bytes):
        yield memoryview(source)
        return
    with open(source, "rb") as handle:
        if os.fstat(handle.fileno()).st_size == 0:
            yield memoryview(b"")
            return
        mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        view = memoryview(mapped)
        try:
            yield view
        finally:
            view.release()
            try:
                mapped.close()
            except BufferError:
                # A slice of the view is still referenced: by a frame a profiler sampled
                # (Dask's workers sample theirs), or by an exception's traceback. The map
                # is closed when the last of them goes; closing it now is not worth
                # replacing the caller's result or exception with this one.
                pass


@lru_cache(maxsize=64)
def _listed_files(real: str, size: int, mtime_ns: int) -> tuple[tuple[str, Path], ...]:
    """:func:`external_files` of the model file ``real`` as it is at ``(size, mtime_ns)``:
    walking the model's protobuf once per version of the file, not on every lookup, and not
    at all when its identity is remembered (the memo lists them; reading a 290 MB file to
    find out took a third of a second of a first predict)."""
    memo = _memo_of(Path(real))
    if memo is not None:
        return memo[1]
    with model_buffer(Path(real)) as view:
        return tuple(external_files(Path(real), view))


def file_stamp(path: str | os.PathLike) -> tuple[str, int, int]:
    """``(real path, size, mtime in ns)`` of one file, read from its status alone. Raises
    OSError for a file that cannot be read."""
    info = os.stat(path)
    return os.path.realpath(path), info.st_size, info.st_mtime_ns


def stamp(model: str | os.PathLike) -> tuple | None:
    """:func:`file_stamp` of the model file and of each external file it reads: what tells a
    cached engine for this file from one for a changed model. None if unreadable."""
    try:
        own = file_stamp(model)
        return (own, *(file_stamp(extra) for _, extra in _listed_files(*own)))
    except (OSError, ValidationError):
        return None


def weight_bytes(model: "bytes | str | os.PathLike") -> int:
    """A model's size in bytes: its bytes, or its file and the external data files it reads."""
    if isinstance(model, bytes):
        return len(model)
    found = stamp(model)
    return sum(size for _, size, _ in found) if found else os.stat(model).st_size
