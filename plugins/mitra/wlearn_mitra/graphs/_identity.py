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
"""

from __future__ import annotations

import hashlib
import mmap
import os
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Iterator

from wlearn.errors import ValidationError

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
    files = external_files(Path(source), view)
    if not files:
        return own
    lines = [IDENTITY_HEADER, own] + [f"{_file_sha256(path)} {loc}" for loc, path in files]
    return hashlib.sha256("".join(f"{line}\n" for line in lines).encode()).hexdigest()


@contextmanager
def model_buffer(source: bytes | Path) -> Iterator[memoryview]:
    """The model's bytes, memory-mapped for a file so nothing stays resident afterwards."""
    if isinstance(source, bytes):
        yield memoryview(source)
        return
    with open(source, "rb") as handle:
        if os.fstat(handle.fileno()).st_size == 0:
            yield memoryview(b"")
            return
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            view = memoryview(mapped)
            try:
                yield view
            finally:
                view.release()


@lru_cache(maxsize=64)
def _listed_files(real: str, size: int, mtime_ns: int) -> tuple[tuple[str, Path], ...]:
    """:func:`external_files` of the model file ``real`` as it is at ``(size, mtime_ns)``:
    walking the model's protobuf once per version of the file, not on every lookup."""
    with model_buffer(Path(real)) as view:
        return tuple(external_files(Path(real), view))


def stamp(model: str | os.PathLike) -> tuple | None:
    """``(path, size, mtime)`` of the model file and of each external file it reads: what
    tells a cached engine for this file from one for a changed model. None if unreadable."""
    path = Path(model)
    try:
        info = path.stat()
        real = os.path.realpath(path)
        stats = [(real, info.st_size, info.st_mtime_ns)]
        for _, extra in _listed_files(real, info.st_size, info.st_mtime_ns):
            info = extra.stat()
            stats.append((str(extra), info.st_size, info.st_mtime_ns))
    except (OSError, ValidationError):
        return None
    return tuple(stats)
