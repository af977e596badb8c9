"""Touch most of the machine's free memory once, before timing cold predicts on a VM.

Some virtual machines back guest memory with host memory only when the guest first touches
it: on this project's 2-core VM writing 12 GB for the first time took 31 s (2.6 s per GB,
about 10 microseconds per 4 KB page), writing it again 1.8 s. A process that predicts
gets its pages from the guest kernel's free lists, so whether a cold predict pays that cost
depends on which pages it is handed: never-touched ones after a fresh boot, touched ones
later. That made the first-run overhead of the same OpenVINO graph 0.77 s in one process
and 0.24 s after this script ran (bench/README.md, "Memory a VM has not touched yet").
Run it once after the machine starts, before bench_first_answer.py,
bench_mitra_runtimes.py or bench_small_tables.py; it changes nothing for later runs except
that the memory is backed.

    python bench/prefault_memory.py [--gb 16]

Prints the seconds of the first and of a second pass over the memory: a first pass much
slower than the second means the machine backs memory lazily (and had not touched it yet).
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=None,
                        help="how much to touch (default: 80%% of the available memory)")
    args = parser.parse_args(argv)
    gb = args.gb if args.gb is not None else 0.8 * available_gb()
    n = int(gb * 2**30) // 4
    start = time.perf_counter()
    block = np.ones(n, dtype=np.float32)
    first = time.perf_counter() - start
    start = time.perf_counter()
    block[:] = 2.0
    second = time.perf_counter() - start
    print(f"touched {gb:.1f} GB: first pass {first:.1f} s ({first / gb:.2f} s/GB), "
          f"second pass {second:.1f} s ({second / gb:.2f} s/GB)")
    return 0


def available_gb() -> float:
    with open("/proc/meminfo") as info:
        for line in info:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 2**20
    raise SystemExit("no MemAvailable in /proc/meminfo: pass --gb")


if __name__ == "__main__":
    raise SystemExit(main())
