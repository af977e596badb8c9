"""The support-set cache: encoded support sets kept in memory between predicts.

The graphs that encode a support set and decode query rows against it are named in
:mod:`wlearn_mitra.graphs._layout` and derived from a single graph in
:mod:`wlearn_mitra.graphs._surgery`; see spec/mitra-onnx.md.
"""

from __future__ import annotations

import hashlib
import threading
import weakref
from collections import OrderedDict

import numpy as np

#: Default bound on the encoded support sets kept between predicts.
DEFAULT_CACHE_MB = 2048

#: Support sets whose first predict is remembered (by digest) so that their second one
#: encodes and keeps them.
SEEN_KEYS = 4096


def support_key(x_support: np.ndarray, y_support: np.ndarray) -> str:
    """A digest of exactly what the encoder is fed."""
    digest = hashlib.sha256()
    for array in (x_support, y_support):
        digest.update(str((array.dtype.str, array.shape)).encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


class SupportCache:
    """Encoded support sets, least recently used dropped first, bounded in bytes.

    An entry may have owners (any objects that take weak references: an estimator's support
    array): it leaves the cache as soon as every owner is gone, so encoded support sets of
    estimators that no longer exist do not wait for the byte bound (a GridSearchCV loop of
    thousands of fits would otherwise hold ``max_mb`` of them). Entries put without an owner
    stay until the bound drops them. Safe to share between threads (a Dask worker runs tasks
    on several).
    """

    def __init__(self, max_mb: float = DEFAULT_CACHE_MB) -> None:
        self.max_bytes = int(max_mb * 2**20)
        self._entries: OrderedDict[str, tuple[np.ndarray, ...]] = OrderedDict()
        self._owners: dict[str, set[int]] = {}  # key -> ids of its live owners
        self._owned: dict[int, set[str]] = {}  # owner id -> its keys
        self._seen: OrderedDict[str, None] = OrderedDict()  # keys of support sets met once
        self._lock = threading.Lock()

    def _nbytes(self) -> int:
        return sum(sum(a.nbytes for a in e) for e in self._entries.values())

    @property
    def nbytes(self) -> int:
        with self._lock:
            return self._nbytes()

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def n_owners(self) -> int:
        """Live owners of cached entries (for tests: dead ones are never counted)."""
        with self._lock:
            return len(self._owned)

    def get(self, key: str, owner: object = None) -> tuple[np.ndarray, ...] | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                self._attach(key, owner)
            return entry

    def seen_before(self, key: str, owner: object = None) -> bool:
        """Whether the support set ``key`` was met before (cached, or noted by an earlier
        call); notes it if not, while ``owner`` lives when one is given (a refitted or
        garbage-collected estimator's support set counts as new), else among the last
        :data:`SEEN_KEYS` digests noted. Only digests are noted."""
        with self._lock:
            if key in self._entries or key in self._seen:
                self._seen.pop(key, None)
                return True
            self._seen[key] = None
            self._attach(key, owner)
            while len(self._seen) > SEEN_KEYS:
                self._drop(self._seen.popitem(last=False)[0])
            return False

    def put(self, key: str, entry: tuple[np.ndarray, ...], owner: object = None) -> None:
        """Keep ``entry`` if it fits the bound, dropping older ones to make room; with
        ``owner``, only while ``owner`` (or another owner of the same key) lives."""
        size = sum(a.nbytes for a in entry)
        with self._lock:
            self._seen.pop(key, None)  # a kept entry is met before by being kept
            self._drop(key)
            if size > self.max_bytes:
                return
            while self._entries and self._nbytes() + size > self.max_bytes:
                self._drop(next(iter(self._entries)))
            self._entries[key] = entry
            self._attach(key, owner)

    def own(self, key: str, owner: object) -> None:
        """Make ``owner`` an owner of the entry ``key`` (if it is still cached)."""
        with self._lock:
            if key in self._entries:
                self._attach(key, owner)

    def _attach(self, key: str, owner: object) -> None:
        if owner is None:
            return
        oid = id(owner)
        if oid not in self._owned:
            try:
                weakref.finalize(owner, _owner_gone, weakref.ref(self), oid)
            except TypeError:  # takes no weak references: the entry is unowned
                return
            self._owned[oid] = set()
        self._owned[oid].add(key)
        self._owners.setdefault(key, set()).add(oid)

    def _drop(self, key: str) -> None:
        self._entries.pop(key, None)
        for oid in self._owners.pop(key, ()):
            keys = self._owned.get(oid)
            if keys is not None:
                keys.discard(key)

    def _release(self, oid: int) -> None:
        with self._lock:
            for key in self._owned.pop(oid, ()):
                owners = self._owners.get(key)
                if owners is None:
                    continue
                owners.discard(oid)
                if not owners:
                    self._owners.pop(key)
                    self._entries.pop(key, None)
                    self._seen.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._seen.clear()
            self._owners.clear()
            for keys in self._owned.values():
                keys.clear()


def _owner_gone(cache_ref: "weakref.ref[SupportCache]", oid: int) -> None:
    cache = cache_ref()
    if cache is not None:
        cache._release(oid)
