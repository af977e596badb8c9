"""The JavaScript reference packages for the differential tests: installed once per cache
folder, driven through one Node process for the whole run (see ``_node.py``).

Without Node and npm every test here is skipped with a message saying what to install; the
quick pass runs by default and ``--js-long`` runs the long one.
"""

from __future__ import annotations

import os
from collections import Counter

import pytest

from . import _node

#: Cases per differential test: (quick pass, --js-long).
SCALE = {
    "manifests": (600, 20_000),
    "numbers": (200_000, 2_000_000),
    "random_manifests": (5_000, 200_000),
    "json_values": (300, 20_000),
    "mitra_fits": (5, 200),
}

TALLY: Counter = Counter()


@pytest.fixture(scope="session")
def js():
    """The running Node bridge (``_node.Node``)."""
    try:
        install_dir = _node.install()
    except _node.Unavailable as exc:
        pytest.skip(f"JavaScript differential tests skipped: {exc}")
    node = _node.Node(install_dir)
    yield node
    node.close()


@pytest.fixture(scope="session")
def scale(request):
    """``scale("manifests")``: how many cases to try in this pass. ``WLEARN_JS_CASES``
    (``name=count,...``, e.g. ``random_manifests=50000``) overrides single counts."""
    long = request.config.getoption("--js-long")
    chosen = {name: counts[1 if long else 0] for name, counts in SCALE.items()}
    for item in filter(None, os.environ.get("WLEARN_JS_CASES", "").split(",")):
        name, _, count = item.partition("=")
        if name.strip() not in chosen:
            raise pytest.UsageError(f"WLEARN_JS_CASES: unknown name {name!r}; names: "
                                    f"{', '.join(chosen)}")
        chosen[name.strip()] = int(count)
    return chosen.__getitem__


@pytest.fixture(scope="session")
def tally():
    """Counts of cases tried and found identical, printed at the end of the run."""
    return TALLY


def pytest_terminal_summary(terminalreporter):
    if TALLY:
        terminalreporter.section("JavaScript differential counts")
        for key in sorted(TALLY):
            terminalreporter.write_line(f"{key}: {TALLY[key]:,}")
