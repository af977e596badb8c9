"""Options shared by every test folder."""

from __future__ import annotations


def pytest_addoption(parser):
    parser.addoption(
        "--js-long", action="store_true", default=False,
        help="run the long differential pass against the real JavaScript packages "
             "(tests/js; 200,000 seeded random and 26,000 hypothesis manifests, 2,000,000 "
             "number formattings) instead of the "
             "quick one CI runs",
    )
