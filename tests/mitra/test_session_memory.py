"""What a session's creation leaves behind: the model's parse is freed, and the freed heap is
handed back to the system (runtimes/_ort.release_freed_heap), so a first predict's peak is the
session plus the run, not also the parse's copy of the weights (bench/README.md)."""

from __future__ import annotations

import ctypes
import sys

import pytest

from wlearn_mitra.graphs import _builtin
from wlearn_mitra.runtimes import _ort


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not sys.platform.startswith("linux") or _ort._malloc_trim() is None,
                    reason="glibc's malloc_trim")
def test_freed_heap_memory_goes_back_to_the_system():
    libc = ctypes.CDLL(None)
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    # 200 MB of small blocks (below the mmap threshold: from the heap), touched, then freed
    # with one block after them kept, so glibc cannot give the freed space back by itself
    blocks = [libc.malloc(4096) for _ in range(50_000)]
    pin = libc.malloc(4096)
    for block in blocks:
        ctypes.memset(block, 1, 4096)
    for block in blocks:
        libc.free(block)
    before = _rss_mb()
    _ort.release_freed_heap()
    after = _rss_mb()
    libc.free(pin)
    assert before - after > 100, (before, after)


def test_every_session_created_hands_the_freed_heap_back(monkeypatch):
    calls = []
    monkeypatch.setattr(_ort, "release_freed_heap", lambda: calls.append(1))
    _ort.new_session(_builtin.path("classification"))
    assert calls == [1]
