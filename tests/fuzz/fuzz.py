"""Coverage-guided, structure-aware fuzzing of everything that reads untrusted bytes.

    python tests/fuzz/fuzz.py bundle WORK_DIR tests/fuzz/corpus/bundle -runs=100000
    python tests/fuzz/fuzz.py onnx WORK_DIR tests/fuzz/corpus/onnx -runs=100000
    python tests/fuzz/fuzz.py bundle --replay DIR...     # each file once, no atheris needed
    bash tests/fuzz/campaign.sh bundle 1000000 WORK_DIR  # the long run (see there)

The first argument picks the target (``targets.py``: bundle readers and Mitra loaders, or the
ONNX-model checks); inputs are made by the structure-aware mutators (``wlrn_mutator.py``,
``onnx_mutator.py``) from the seeds in ``corpus/`` (``make_seeds.py`` writes them). The
arguments after this script's options go to libFuzzer (atheris): corpus folders (new inputs
are written to the first), ``-runs``, ``-timeout`` (wall-clock seconds, for inputs that never
return), ``-max_len``. This script's options:

``--predict-every N``   predict with every Nth loaded model (by input hash; default 8)
``--engine-every N``    open an engine on every Nth ONNX input (default 16)
``--max-cpu-seconds S`` an input taking more CPU time is a finding (a hang; default 1)
``--trace-every N``     bound the traced allocation of every Nth input (default 8; 0: never)
``--as-headroom-mb M``  limit the address space to M MiB above the size after warm-up
``--findings DIR``      save the first input of each kind of finding in DIR and go on;
                        without it a finding raises, libFuzzer stops and writes crash-<sha1>
``--replay``            run each file of the given folders once and print the outcomes
"""

from __future__ import annotations

import argparse
import hashlib
import random
import re
import resource
import sys
import tracemalloc
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def _options(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(add_help=True)
    parser.add_argument("target", choices=["bundle", "onnx"])
    parser.add_argument("--predict-every", type=int, default=8)
    parser.add_argument("--engine-every", type=int, default=16)
    parser.add_argument("--trace-every", type=int, default=8)
    parser.add_argument("--max-cpu-seconds", type=float, default=1.0)
    parser.add_argument("--as-headroom-mb", type=int, default=0)
    parser.add_argument("--replay", action="store_true")
    parser.add_argument("--findings", metavar="DIR",
                        help="save each kind of finding here and keep going instead of stopping")
    return parser.parse_known_args(argv)


def _seeds(target: str) -> list[bytes]:
    folder = HERE / "corpus" / target
    return [p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()]


def _every(data: bytes, n: int, salt: int = 0) -> bool:
    return n > 0 and zlib.crc32(data, salt) % n == 0


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # all threads; cheaper than process_time
    return usage.ru_utime + usage.ru_stime


def _limit_address_space(headroom_mb: int) -> None:
    """Make any allocation beyond ``headroom_mb`` more than the process has now fail (a
    MemoryError is a finding), for the native allocations tracemalloc does not see."""
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[0])
    limit = pages * resource.getpagesize() + headroom_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def make_runner(opts: argparse.Namespace):
    import targets

    if opts.target == "bundle":
        def check(data: bytes) -> str:
            return targets.check_bundle(data, predict=_every(data, opts.predict_every))
    else:
        def check(data: bytes) -> str:
            return targets.check_onnx(data, engine=_every(data, opts.engine_every))
    timed = check

    def check(data: bytes) -> str:
        # CPU seconds of the whole process (ONNX Runtime's threads included): unlike
        # libFuzzer's wall-clock -timeout, not fooled by a machine busy with other work.
        start = _cpu_seconds()
        outcome = timed(data)
        spent = _cpu_seconds() - start
        if spent > opts.max_cpu_seconds:
            raise targets.Finding(f"hang: {spent:.1f} CPU seconds for a {len(data)}-byte input")
        return outcome

    if opts.trace_every > 0:
        plain = check

        def check(data: bytes) -> str:
            # tracemalloc triples the cost of a run: trace a sample (see targets.bounded_allocation)
            if not _every(data, opts.trace_every, salt=1):
                return plain(data)
            tracemalloc.start()
            try:
                return plain(data)
            finally:
                tracemalloc.stop()
    if not opts.findings:
        return check
    folder = Path(opts.findings)
    folder.mkdir(parents=True, exist_ok=True)

    def keep_going(data: bytes) -> str:
        try:
            return check(data)
        except targets.Finding as finding:
            # One file per kind of finding (its message without numbers), the first input
            # that showed it; the run goes on.
            message = str(finding)
            kind = hashlib.sha1(re.sub(r"[0-9]+", "#", message).encode()).hexdigest()[:12]
            path = folder / f"finding-{kind}"
            if not path.exists():
                path.write_bytes(data)
                path.with_suffix(".txt").write_text(message + "\n")
            return "finding"
    return keep_going


def make_mutator(target: str, seeds: list[bytes]):
    import onnx_mutator
    import wlrn_mutator

    def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
        rng = random.Random(seed)
        if target == "bundle":
            return wlrn_mutator.mutate(data, rng, seeds, max_size)
        return onnx_mutator.mutate(data, rng, seeds, max_size)

    return custom_mutator


def replay(opts: argparse.Namespace, folders: list[str]) -> None:
    from collections import Counter

    run = make_runner(opts)
    counts: Counter[str] = Counter()
    for folder in folders:
        paths = [Path(folder)] if Path(folder).is_file() else sorted(Path(folder).iterdir())
        for path in paths:
            try:
                data = path.read_bytes()
            except FileNotFoundError:  # a running fuzzer replaced it with a smaller input
                continue
            counts[run(data)] += 1
    print(dict(counts))


def main(argv: list[str]) -> None:
    opts, rest = _options(argv[1:])
    if opts.replay:
        replay(opts, rest)
        return
    import atheris

    with atheris.instrument_imports(include=["wlearn", "wlearn_mitra"]):
        import wlearn  # noqa: F401
        import wlearn_mitra  # noqa: F401
        from wlearn_mitra.graphs import _onnxinfo
        from wlearn_mitra.engine import _engine as engine
        from wlearn_mitra import loaders  # noqa: F401
    run = make_runner(opts)
    for seed in _seeds(opts.target):  # ONNX Runtime's sessions open before the limits apply
        try:
            run(seed)
        except Exception:  # noqa: BLE001 - a seed's finding is reported again by the fuzzer
            pass
    if opts.as_headroom_mb:
        _limit_address_space(opts.as_headroom_mb)
    mutator = make_mutator(opts.target, _seeds(opts.target))
    atheris.Setup([argv[0], *rest], run, custom_mutator=mutator)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
