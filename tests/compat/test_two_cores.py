"""The two Python cores side by side, in real environments (``spec/wlrn.md``, "Two Python
cores"):

- ``upstream``: PyPI's ``wlearn==0.3.2`` and its plugin ``wlearn-rf==0.4.1``, then
  ``wlrn`` and ``wlearn-mitra`` from this repository installed into it;
- ``ours``: this repository's ``wlearn`` core with the upstream plugin ``wlearn-rf``.

Both are built once per session from PyPI (about a minute; wlearn-rf compiles its C core)
and driven through ``_probe.py``; the tests compare bytes and predictions, here against the
JavaScript fixtures and across the two environments.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

import wlearn
import wlrn
import wlearn_mitra

from _paths import fixtures_dir

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = fixtures_dir()
PROBE = Path(__file__).with_name("_probe.py")
CASES = ["a_binary_all", "b_3class_strat_s42", "d_labels_2_5_7", "e_regression_all"]
UPSTREAM = ["wlearn==0.3.2", "wlearn-rf==0.4.1"]

pytestmark = pytest.mark.slow


def _run(args: list, **kwargs) -> str:
    # The environments see only what is installed in them: a PYTHONPATH of this session (a
    # checkout put first) would make the "upstream" one import this project's core.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True,
                          env={**env, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}, **kwargs)
    if done.returncode:
        raise AssertionError(f"{' '.join(map(str, args))} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout + done.stderr


def _venv(path: Path) -> Path:
    _run([sys.executable, "-m", "venv", path])
    return path / "bin" / "python"


def _sources(base: Path) -> Path:
    """The three distributions' sources, without build leftovers a local build may have left
    in the work tree (pip builds in place and would package stale files)."""
    junk = shutil.ignore_patterns("build", "*.egg-info", "__pycache__")
    src = base / "src"
    for part in ("codec", "wlearn_py", "plugins/mitra"):
        shutil.copytree(ROOT / part, src / part, ignore=junk)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    return src


@pytest.fixture(scope="session")
def envs(tmp_path_factory):
    base = tmp_path_factory.mktemp("cores")
    src = _sources(base)
    upstream, ours = _venv(base / "upstream"), _venv(base / "ours")
    pip_up, pip_ours = [upstream, "-m", "pip", "install", "-q"], [ours, "-m", "pip", "install", "-q"]
    _run([*pip_up, *UPSTREAM])
    # What a user with PyPI's core does to add Mitra; pip must keep every installed version.
    # onnxruntime as in this environment, so predictions can be compared exactly
    log = _run([upstream, "-m", "pip", "install", src / "codec", src / "plugins" / "mitra",
                f"onnxruntime=={metadata.version('onnxruntime')}"])
    _run([upstream, "-m", "pip", "check"])
    # This project's core, then the upstream plugin without letting pip swap the core for
    # 0.3.2 (wlearn-rf pins wlearn<0.4; its only other dependency is numpy).
    _run([*pip_ours, src / "codec", src])
    _run([*pip_ours, "--no-deps", UPSTREAM[1]])
    out = {name: base / f"out-{name}" for name in ("upstream", "ours")}
    for path in out.values():
        path.mkdir()
    _run([upstream, PROBE, "write", out["upstream"], FIXTURES])
    _run([ours, PROBE, "write", out["ours"], FIXTURES])
    _run([upstream, PROBE, "read", out["upstream"], out["ours"]])
    _run([ours, PROBE, "read", out["ours"], out["upstream"]])
    _run([upstream, PROBE, "api", out["upstream"]])
    _run([ours, PROBE, "api", out["ours"]])
    return {"log": log, **out}


def _summary(path: Path, name: str = "summary.json") -> dict:
    return json.loads((path / name).read_text())


def test_03_api_behaves_the_same_on_both_cores(envs):
    """Encoding, strict and nested validation, limits, registration, loader contexts and the
    error classes and codes, as 0.3's own code and plugins use them."""
    theirs, ours = (_summary(envs[name], "api.json") for name in ("upstream", "ours"))
    assert ours == theirs
    assert ours["load_leaf"] == {"ok": {"a": 1}} and ours["load_node"] == {"ok": {"a": 1}}
    assert ours["context_seen"] == {"ok": [{"k": 1}, {}]}
    assert ours["outer"]["ok"][0]["requires"] == ["probe.extra@3", "probe.leaf@1"]
    assert {ours[k]["error"] for k in ("depth", "decoded", "nan", "legacy_nested")} == \
        {"BundleError"}
    assert ours["missing_nested"]["code"] == ours["unknown"]["code"] == "ERR_REGISTRY"
    # 0.3's words begin the messages callers may match on (spec/wlrn.md section 8)
    assert all(ours[k]["matches"] for k in ours if k.startswith("words_"))
    assert ours["not_fitted_is_attribute_error"] is False


def test_adding_mitra_to_pypi_core_changes_nothing(envs):
    versions = _summary(envs["upstream"])["versions"]
    assert versions == {"wlearn": "0.3.2", "wlearn-rf": "0.4.1",
                        "wlearn-mitra": wlearn_mitra.__version__, "wlrn": wlrn.__version__}
    assert "Uninstalling" not in envs["log"]
    assert "site-packages/wlearn/__init__.py" in _summary(envs["upstream"])["wlearn_file"]
    assert _summary(envs["upstream"])["mitra_registered"] == [
        "wlearn.mitra_onnx.classifier@1", "wlearn.mitra_onnx.regressor@1",
        "wlearn.mitra_onnx.regressor@2"]


@pytest.mark.parametrize("name", CASES)
def test_mitra_under_pypi_core_writes_js_bytes(envs, name):
    js = (FIXTURES / "mitra-js" / name / "model.wlrn").read_bytes()
    assert (envs["upstream"] / f"mitra_{name}_fit.wlrn").read_bytes() == js
    # loaded through 0.3.2's wlearn.load, saved again
    assert (envs["upstream"] / f"mitra_{name}_resaved.wlrn").read_bytes() == js


@pytest.mark.parametrize("name", CASES)
def test_mitra_predictions_agree_across_cores(envs, name):
    from wlearn_mitra import register_loaders

    onnx = FIXTURES / "onnx"
    register_loaders(classifier=str(onnx / "tiny-mitra-classifier.onnx"),
                     regressor=str(onnx / "tiny-mitra-regressor.onnx"))
    model = wlearn.load(FIXTURES / "mitra-js" / name / "model.wlrn")
    Xq = np.load(FIXTURES / "mitra-js" / name / "Xq.npy")
    ours = model.predict(Xq) if name.startswith("e_") else model.predict_proba(Xq)
    theirs = np.load(envs["upstream"] / f"mitra_{name}_pred.npy")
    np.testing.assert_array_equal(np.asarray(ours, dtype=np.float64), theirs)


def test_labels_extension_same_bytes_under_both_cores(envs):
    from wlearn_mitra import MitraClassifier

    root = FIXTURES / "mitra-js" / "b_3class_strat_s42"
    X, y = np.load(root / "X.npy"), np.load(root / "y.npy")
    names = np.array(["setosa", "versicolor", "virginica\u00e9"])[y.astype(int)]
    clf = MitraClassifier(onnx=str(FIXTURES / "onnx" / "tiny-mitra-classifier.onnx"),
                          max_support=64, seed=5).fit(X, names)
    assert clf.save() == (envs["upstream"] / "mitra_labels.wlrn").read_bytes()
    assert [str(v) for v in clf.predict(np.load(root / "Xq.npy"))] == \
        _summary(envs["upstream"])["labels_pred"]


def test_categories_extension_same_bytes_under_both_cores(envs):
    from wlearn_mitra import MitraClassifier

    from ._probe import with_category

    root = FIXTURES / "mitra-js" / "b_3class_strat_s42"
    X, y = np.load(root / "X.npy"), np.load(root / "y.npy")
    clf = MitraClassifier(onnx=str(FIXTURES / "onnx" / "tiny-mitra-classifier.onnx"),
                          max_support=64, seed=5).fit(with_category(X), y)
    data = clf.save()
    assert data == (envs["upstream"] / "mitra_categories.wlrn").read_bytes()
    assert "support_x_encoded" in wlrn.decode_bundle(data)[2]
    np.testing.assert_array_equal(clf.predict_proba(with_category(np.load(root / "Xq.npy"))),
                                  np.load(envs["upstream"] / "mitra_categories_proba.npy"))


@pytest.mark.parametrize("env", ["upstream", "ours"])
def test_one_load_dispatches_the_upstream_plugin(envs, env):
    pred = np.load(envs[env] / "rf_pred.npy")
    np.testing.assert_array_equal(np.load(envs[env] / "rf_reloaded_pred.npy"), pred)
    assert set(np.unique(pred)) <= {2.0, 5.0} and len(np.unique(pred)) == 2


@pytest.mark.parametrize("reader, writer", [("upstream", "ours"), ("ours", "upstream")])
def test_upstream_plugin_bundles_cross_cores(envs, reader, writer):
    np.testing.assert_array_equal(np.load(envs[reader] / "rf_other_pred.npy"),
                                  np.load(envs[writer] / "rf_pred.npy"))


def test_both_cores_write_the_same_03_form(envs):
    """The same manifest and artifacts give the same decoded bundle under both cores; ours
    is in canonical JSON (the bytes @wlearn/core writes for it), 0.3.2's in json.dumps text."""
    theirs = (envs["upstream"] / "holder.wlrn").read_bytes()
    ours = (envs["ours"] / "holder.wlrn").read_bytes()
    inner_theirs = wlearn.decode_bundle(theirs)[2]["inner"].tobytes()
    rebuilt = wlearn.encode_bundle(
        {"typeId": "wlearn.test.holder@1", "params": {"note": "caf\u00e9", "scale": 1.0}},
        [{"id": "inner", "data": inner_theirs, "mediaType": "application/x-wlearn-bundle"}])
    m_theirs, toc_theirs, _ = wlearn.validate_bundle(theirs, allow_legacy_manifest=False)
    m_rebuilt, toc_rebuilt, _ = wlearn.validate_bundle(rebuilt, allow_legacy_manifest=False)
    assert (m_rebuilt, toc_rebuilt) == (m_theirs, toc_theirs)
    assert m_theirs["requires"] == ["wlearn.rf.classifier@2"]
    assert rebuilt != theirs  # "café" and 1.0: json.dumps writes "caf\u00e9" and 1.0
    full, _, blobs = wlrn.decode_bundle(rebuilt)
    assert wlrn.encode_bundle(full, [{"id": "inner", "data": blobs["inner"],
                                      "mediaType": "application/x-wlearn-bundle"}]) == rebuilt
    # each core validates the other's nested bundle strictly and sees the same manifest
    for reader, writer in (("upstream", "ours"), ("ours", "upstream")):
        seen = _summary(envs[reader], "read.json")
        assert seen["holder_manifest"]["requires"] == ["wlearn.rf.classifier@2"]
        assert [e["id"] for e in seen["holder_toc"]] == ["inner"]
    assert wlearn.decode_bundle(ours)[0]["typeId"] == "wlearn.test.holder@1"
