"""An int8 graph made once is opened from the cache folder without ONNX Runtime's
quantisation tools (and the ``onnx`` package they need): importing them takes seconds, and a
machine that made the graph earlier may no longer have them. Without a cached graph, their
absence is a MissingDependencyError naming the extra to install."""

from __future__ import annotations

import shutil
import sys

import numpy as np
import pytest

from wlearn_mitra.engine import MitraEngine
from wlearn_mitra.exceptions import MissingDependencyError

pytest.importorskip("onnx")


def _rows():
    rng = np.random.default_rng(3)
    return rng.normal(size=(40, 4)), np.arange(40) % 3, rng.normal(size=(9, 4))


def _without_quantisation_tools(monkeypatch):
    for name in ("onnxruntime.quantization", "onnx"):
        monkeypatch.setitem(sys.modules, name, None)  # importing them raises ImportError


def test_a_cached_int8_graph_needs_no_quantisation_tools(tmp_path, fixtures_dir, monkeypatch):
    model = tmp_path / "m.onnx"
    shutil.copyfile(fixtures_dir / "onnx" / "tiny-mitra-classifier.onnx", model)
    cache = tmp_path / "cache"
    xs, ys, xq = _rows()
    made = MitraEngine(model, task="classification", precision="int8", split=None,
                       optimized_dir=cache).predict(xs, ys, xq, n_classes=3)
    _without_quantisation_tools(monkeypatch)
    again = MitraEngine(model, task="classification", precision="int8", split=None,
                        optimized_dir=cache).predict(xs, ys, xq, n_classes=3)
    np.testing.assert_array_equal(again, made)


def test_without_a_cached_graph_the_missing_tools_are_named(tmp_path, fixtures_dir,
                                                           monkeypatch):
    _without_quantisation_tools(monkeypatch)
    with pytest.raises(MissingDependencyError, match="onnx package"):
        MitraEngine(fixtures_dir / "onnx" / "tiny-mitra-classifier.onnx",
                    task="classification", precision="int8", split=None,
                    optimized_dir=tmp_path / "empty")


def test_a_damaged_int8_graph_and_pair_are_made_again_with_the_support_cache(tmp_path,
                                                                            fixtures_dir):
    """Both the int8 graph and the pair cut from it cut short: the pair is cut again from
    the int8 graph made again, not dropped for the rest of the process."""
    from wlearn_mitra.exceptions import CacheWarning

    model = tmp_path / "m.onnx"
    shutil.copyfile(fixtures_dir / "onnx" / "tiny-mitra-classifier.onnx", model)
    cache = tmp_path / "cache"
    xs, ys, xq = _rows()
    made = MitraEngine(model, task="classification", precision="int8", split="auto",
                       optimized_dir=cache).predict(xs, ys, xq, n_classes=3)
    damaged = sorted(cache.glob("*int8*.onnx"))  # the int8 graph, its pair (and optimised)
    assert any(".pair1.encoder" in p.name for p in damaged) and len(damaged) >= 3
    for path in damaged:
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.warns(CacheWarning) as caught:  # a small model opens its graphs at once
        engine = MitraEngine(model, task="classification", precision="int8", split="auto",
                             optimized_dir=cache)
        again = engine.predict(xs, ys, xq, n_classes=3)
    assert engine.uses_cache
    assert not any("without the support cache" in str(w.message) for w in caught)
    np.testing.assert_array_equal(again, made)
