"""What the benchmark scripts share: ``mitra`` (workloads, full-size random models, FLOP
counts, a GEMM peak, peak-RSS sampling) and ``realtables`` (the real-table yardstick's
tables and its frozen selection rule). Nothing here is a script.

Every script imports it the same way, ``from benchlib import mitra`` / ``from benchlib.mitra
import ...``: run as ``python bench/bench_X.py``, Python puts ``bench/`` first on ``sys.path``;
the tests get ``bench/`` from pytest's ``pythonpath`` setting (pyproject.toml).
"""
