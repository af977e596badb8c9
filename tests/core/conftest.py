from __future__ import annotations

import pytest

from wlearn import registry


@pytest.fixture(autouse=True)
def _isolated_registry():
    """Each test starts from the registry as it was and leaves it that way."""
    saved = dict(registry._registry)
    yield
    registry._registry.clear()
    registry._registry.update(saved)
