"""The support-set cache: encoded support sets kept in memory between predicts.

The graphs that encode a support set and decode query rows against it are named in
:mod:`._layout` and derived from a single graph in :mod:`._surgery`; see spec/mitra-onnx.md.
"""

from __future__ import annotations

import hashlib
import os
import threading
import warnings
from collections import OrderedDict
from pathlib import Path

import numpy as np

from ._errors import CacheWarning, user_stacklevel

#: Default bound on the encoded support sets kept between predicts.
DEFAULT_CACHE_MB = 2048


#: What every message about a damaged or unwritable cache file says.
CACHE_NOTE = "a cache file: deleting it is always safe, it is made again when needed"


def cache_warning(message: str) -> None:
    """Warn with :class:`~wlearn_mitra._errors.CacheWarning` at the user's line."""
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


def support_key(x_support: np.ndarray, y_support: np.ndarray) -> str:
    """A digest of exactly what the encoder is fed."""
    digest = hashlib.sha256()
    for array in (x_support, y_support):
        digest.update(str((array.dtype.str, array.shape)).encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


class SupportCache:
    """Encoded support sets, least recently used dropped first, bounded in bytes.

    Safe to share between threads (a Dask worker runs tasks on several).
    """

    def __init__(self, max_mb: float = DEFAULT_CACHE_MB) -> None:
        self.max_bytes = int(max_mb * 2**20)
        self._entries: OrderedDict[str, tuple[np.ndarray, ...]] = OrderedDict()
        self._lock = threading.Lock()

    def _nbytes(self) -> int:
        return sum(sum(a.nbytes for a in e) for e in self._entries.values())

    @property
    def nbytes(self) -> int:
        with self._lock:
            return self._nbytes()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> tuple[np.ndarray, ...] | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key: str, entry: tuple[np.ndarray, ...]) -> None:
        """Keep ``entry`` if it fits the bound, dropping older ones to make room."""
        size = sum(a.nbytes for a in entry)
        with self._lock:
            self._entries.pop(key, None)
            if size > self.max_bytes:
                return
            while self._entries and self._nbytes() + size > self.max_bytes:
                self._entries.popitem(last=False)
            self._entries[key] = entry

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
