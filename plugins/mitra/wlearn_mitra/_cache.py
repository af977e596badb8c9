"""The support-set cache: encoded support sets kept in memory between predicts.

The graphs that encode a support set and decode query rows against it are named in
:mod:`._layout` and derived from a single graph in :mod:`._surgery`; see spec/mitra-onnx.md.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import numpy as np

#: Default bound on the encoded support sets kept between predicts.
DEFAULT_CACHE_MB = 2048


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
