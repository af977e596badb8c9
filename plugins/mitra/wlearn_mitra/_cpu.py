"""What the CPU can do, read once from the operating system (Linux: ``/proc/cpuinfo``)."""

from __future__ import annotations

import functools
import platform


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (``avx2``, ``avx512_vnni``, ``amx_bf16``, ...); empty where the
    system does not list them."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith(("flags", "Features")):
                    return frozenset(line.partition(":")[2].split())
    except OSError:
        pass
    return frozenset()


def has_amx_bf16() -> bool:
    """Whether the CPU has AMX bf16 tiles."""
    return "amx_bf16" in cpu_flags()


def int8_saturates() -> bool:
    """Whether ONNX Runtime's uint8 x int8 products can saturate on this CPU.

    On x86-64 without VNNI (AVX2, or AVX-512 without VNNI), ONNX Runtime multiplies uint8
    activations by int8 weights with ``vpmaddubsw``, whose 16-bit sums saturate: per ONNX
    Runtime's quantization documentation, and measured on an AVX2-only CPU, where the tiny
    fixture classifier's probabilities moved by up to 0.52 from float32 (0.04 with VNNI).
    uint8 weights take a widening path that does not saturate.
    """
    if platform.machine().lower() not in ("x86_64", "amd64", "i386", "i686", "x86"):
        return False
    return not cpu_flags() & {"avx512_vnni", "avx_vnni", "amx_int8"}
