"""Options shared by every test folder."""

from __future__ import annotations

from pathlib import Path

import _paths
import pytest


def pytest_addoption(parser):
    parser.addoption(
        "--js-long", action="store_true", default=False,
        help="run the long differential pass against the real JavaScript packages "
             "(tests/js; 200,000 seeded random and 26,000 hypothesis manifests, 2,000,000 "
             "number formattings) instead of the "
             "quick one CI runs",
    )


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """``../shared/fixtures`` (the shared JS fixtures, read-only; ``tests/_paths.py``)."""
    return _paths.fixtures_dir()


@pytest.fixture(autouse=True)
def _no_leftover_bindings():
    """Models a test binds with ``wlearn_mitra.register_loaders`` (tests/mitra, tests/compat,
    tests/fuzz) are unbound after it: no test loads with another test's model."""
    try:
        from wlearn_mitra import loaders
    except ImportError:  # the core's tests run without the plugin too
        yield
        return
    saved = dict(loaders._bound)
    yield
    loaders._bound.clear()
    loaders._bound.update(saved)
