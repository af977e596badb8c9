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
