"""Without the ``onnx`` package the single graph runs, without the support cache: the warning
saying so is a CacheWarning (a UserWarning) and points at the user's line."""

from __future__ import annotations

import shutil
import sys

import numpy as np
import pytest

from wlearn_mitra import MitraClassifier
from wlearn_mitra.engine import _graphset
from wlearn_mitra.exceptions import CacheWarning

from _paths import fixtures_dir

CLF = fixtures_dir("onnx") / "tiny-mitra-classifier.onnx"


def test_a_missing_onnx_package_warns_with_cache_warning_at_the_users_line(tmp_path,
                                                                           monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx raises ImportError
    monkeypatch.setattr(_graphset, "_warned_no_onnx", False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # no pair cut before
    model = shutil.copy(CLF, tmp_path / CLF.name)  # engines are shared by file: its own
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    with pytest.warns(CacheWarning, match="single graph runs, without the support cache.*onnx"
                      ) as caught:
        est = MitraClassifier(onnx=str(model)).fit(X, (X[:, 0] > 0).astype(int))
    ours = [w for w in caught if issubclass(w.category, CacheWarning)]
    assert issubclass(CacheWarning, UserWarning)
    assert [w.filename for w in ours] == [__file__]
    assert not est._open().engine.uses_cache
