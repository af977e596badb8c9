"""The cache folder: where derived graphs are kept, every file name under it, and the care of
its files.

Under ``default_cache_dir()`` or ``optimized_dir``, by the model's identity (its SHA-256):
the derived split pair (:func:`derived_paths`), the int8 graph (:func:`int8_path`), ONNX
Runtime's optimised graph (:func:`ort_optimized_path`) and OpenVINO's saved form
(:func:`ir_path`). A version in a name changes when that file's layout does, so new files are
made beside old ones instead of misreading them.

Every file a cache writes is made again when it is missing or damaged (a cache is only a cache):
a damaged or unwritable one is discarded with a :class:`~wlearn_mitra.exceptions.CacheWarning`.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from ..exceptions import CacheWarning, user_stacklevel

#: Version of the derived pair's layout (also recorded in its metadata, ``mitra.split``).
SURGERY_VERSION = 1
#: Version of the OpenVINO saved format's layout.
IR_VERSION = 1
#: A graph of the cache with more weights than this (bytes) keeps them in one external file
#: ``<graph>.data`` beside it: ONNX Runtime opens such a graph without parsing its weights out
#: of the protobuf (the full-size encoder in 0.5-0.6 s against 0.8-1.4 s, peak 365 against
#: 508 MB, answers bit-identical; bench/README.md, "What opening costs"). Smaller graphs (the
#: built-in models) stay one file.
EXTERNAL_WEIGHTS_BYTES = 64 * 2**20


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/wlearn-mitra`` (``~/.cache/wlearn-mitra``): derived graphs by hash."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "wlearn-mitra"


#: How a user points the cache elsewhere: the estimators read the environment, an engine
#: also takes the folder itself.
WRITABLE_HINT = ("set XDG_CACHE_HOME to a writable folder (the cache is its wlearn-mitra "
                 "folder), or pass optimized_dir=<a writable folder> to a MitraEngine")

#: What every message about a damaged or unwritable cache file says.
CACHE_NOTE = "a cache file: deleting it is always safe, it is made again when needed"


def cache_warning(message: str) -> None:
    """Warn with :class:`~wlearn_mitra.exceptions.CacheWarning` at the user's line."""
    warnings.warn(message, CacheWarning, stacklevel=user_stacklevel())


def discard(*paths: "str | os.PathLike") -> None:
    """Remove cache files (and an external ``.data`` beside one); gone already is fine, and a
    file that cannot be removed is left for the next attempt."""
    for path in paths:
        for each in (Path(path), Path(f"{path}.data")):
            try:
                each.unlink()
            except FileNotFoundError:
                pass
            except OSError:
                pass


def derived_paths(folder: Path, identity: str) -> tuple[Path, Path]:
    """Where the pair derived from the single graph with this identity (its hash) is kept."""
    stem = f"{identity}.pair{SURGERY_VERSION}"
    return folder / f"{stem}.encoder.onnx", folder / f"{stem}.decoder.onnx"


def int8_path(folder: Path, sha256: str, unsigned: bool) -> Path:
    """Where the int8 graph of the model ``sha256`` is kept. "2": weights behind Identity
    nodes are quantised too (files before that were not); "u8": uint8 weights, for CPUs
    where uint8 x int8 products saturate."""
    return Path(folder) / f"{sha256}.int8pc2{'u8' if unsigned else ''}.onnx"


def ort_optimized_path(folder: str | os.PathLike, sha256: str, ort_version: str) -> Path:
    """Where ONNX Runtime's optimised graph of the model ``sha256`` is kept (per version of
    ONNX Runtime, whose optimised graphs only it reads back)."""
    return Path(folder) / f"{sha256}.ort{ort_version}.opt.onnx"


def identity_memo_path(folder: Path, key: str) -> Path:
    """Where the identity of a model file is remembered, under the SHA-256 ``key`` of the
    file's path and status (see :mod:`._identity`)."""
    return Path(folder) / "identity" / f"{key}.json"


def ir_path(folder: Path, sha256: str, precision: str) -> Path:
    """Where the graph of identity ``sha256`` is kept in OpenVINO's format (``.xml`` with
    its weights in the ``.bin`` beside it): float16 weights for bf16, float32 for fp32."""
    weights = "f16" if precision == "bf16" else "f32"
    return Path(folder) / "openvino-ir" / f"{sha256}.ir{IR_VERSION}.{weights}.xml"
