"""One estimator predict checks each input once: X at the estimator's face, the stored support
set once per support set (not on every call), and the engine does not check them again."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from wlearn_mitra import MitraClassifier, MitraRegressor
from wlearn_mitra.bundles import _format
from wlearn_mitra.engine import MitraEngine


@pytest.fixture
def counted(monkeypatch):
    counts = {"support": 0, "engine": 0}
    scan, check = _format.support_x_problem, MitraEngine._check

    def support(*args, **kwargs):
        counts["support"] += 1
        return scan(*args, **kwargs)

    def engine(*args, **kwargs):
        counts["engine"] += 1
        return check(*args, **kwargs)

    monkeypatch.setattr(_format, "support_x_problem", support)
    monkeypatch.setattr(MitraEngine, "_check", engine)
    return counts


@pytest.mark.parametrize("cls", [MitraClassifier, MitraRegressor])
def test_the_support_set_is_scanned_once_and_the_engine_checks_nothing_again(cls, counted):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = (X[:, 0] > 0).astype(int) if cls is MitraClassifier else X[:, 1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the built-in model's notice, where not given yet
        model = cls().fit(X, y)
    first = model.predict(X[:5])
    assert np.array_equal(model.predict(X[:5]), first)
    assert counted == {"support": 1, "engine": 0}
    # a new support set (another fit) is scanned again, once
    model.fit(X[::-1], y[::-1])
    model.predict(X[:5])
    model.predict(X[:5])
    assert counted == {"support": 2, "engine": 0}


def test_a_stored_infinity_is_still_refused_at_every_predict():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(20, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MitraClassifier().fit(X, (X[:, 0] > 0).astype(int))
    model.support_x_ = model.support_x_.copy()
    model.support_x_[3, 1] = np.inf  # what @wlearn/mitra stores for a value beyond float32
    for _ in range(2):
        with pytest.raises(Exception, match="support_x holds inf at row 3, column 1"):
            model.predict(X[:2])
