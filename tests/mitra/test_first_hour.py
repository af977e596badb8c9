"""What a new user meets first: install hints that name what installs, a warning instead of a
silently missing progress bar, ``--version``, a converter that says what it is doing, docstrings
and type information."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from wlearn.errors import ValidationError
from wlearn_mitra import MitraClassifier, MitraModel, MitraRegressor, __version__
from wlearn_mitra._hints import EXTRAS, install_hint
from wlearn_mitra.cli import main

from _paths import fixtures_dir

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "plugins" / "mitra"
FIXTURES = fixtures_dir("onnx")
CLF_ONNX = FIXTURES / "tiny-mitra-classifier.onnx"


def _requirement_name(requirement: str) -> str:
    return re.split(r"[<>=!~; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_hints_name_the_packages_of_each_extra():
    tomllib = pytest.importorskip("tomllib")
    extras = tomllib.loads((PLUGIN / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    for extra, packages in EXTRAS.items():
        assert sorted(_requirement_name(r) for r in extras[extra]) == sorted(
            p.lower().replace("_", "-") for p in packages), extra
        assert install_hint(extra).startswith("pip install ")


def test_no_hint_names_a_package_pip_cannot_get():
    """wlearn-mitra is not on PyPI: no message may tell users to pip install it by name."""
    sources = [*PLUGIN.joinpath("wlearn_mitra").rglob("*.py"), *ROOT.joinpath("wlearn_py").rglob("*.py")]
    offenders = [str(path.relative_to(ROOT)) for path in sources
                 if re.search(r"pip install '?wlearn-mitra\b", path.read_text(encoding="utf-8"))]
    assert offenders == []
    import wlearn.registry

    assert "pip install ./plugins/mitra" in wlearn.registry.install_hint(
        "wlearn.mitra_onnx.classifier@1")


def test_int8_without_onnx_names_onnx_not_the_converter(monkeypatch, tmp_path):
    from wlearn_mitra.graphs._int8 import quantize_int8

    monkeypatch.setitem(sys.modules, "onnxruntime.quantization", None)  # import fails
    with pytest.raises(ValidationError) as info:
        quantize_int8(CLF_ONNX, "0" * 64, tmp_path)
    message = str(info.value)
    assert "pip install onnx (wlearn-mitra's int8 extra)" in message
    assert "torch" not in message and "convert" not in message


def test_progress_bar_without_tqdm_warns(monkeypatch):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), np.arange(40) % 2
    model = MitraClassifier(onnx=str(CLF_ONNX), progress=True).fit(X, y)
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    with pytest.warns(UserWarning, match=r"tqdm is not installed: pip install tqdm"):
        proba = model.predict_proba(X)
    assert proba.shape == (40, 2)


def test_progress_bar_with_tqdm_draws(capsys):
    pytest.importorskip("tqdm")
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), np.arange(40) % 2
    MitraClassifier(onnx=str(CLF_ONNX), progress=True).fit(X, y).predict(X)
    assert "mitra predict" in capsys.readouterr().err


def test_version(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"wlearn-mitra {__version__} (wlearn ") and "onnxruntime" in out


def test_convert_says_what_it_is_doing(tmp_path, capsys):
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    out = tmp_path / "m.onnx"
    assert main(["convert", "--checkpoint", str(FIXTURES / "tiny-mitra-classifier"),
                 "--out", str(out), "--split"]) == 0
    err = capsys.readouterr().err.splitlines()
    steps = [re.sub(r"^\[\s*[\d.]+ s\] ", "", line) for line in err]
    assert len(steps) == len(err) == 5  # every line carries the elapsed time
    assert steps[0] == "loading torch and onnx"
    assert steps[1].startswith("reading the checkpoint")
    assert steps[2].startswith("read a Mitra classification model (dim 32, 2 layers")
    assert steps[3].startswith("exporting the support encoder m.encoder.onnx")
    assert steps[4] == "done"


@pytest.mark.parametrize("cls", [MitraClassifier, MitraRegressor, MitraModel])
def test_public_methods_have_docstrings(cls):
    missing = [name for name, member in inspect.getmembers(cls)
               if not name.startswith("_") and (inspect.isfunction(member)
                                                or isinstance(member, property))
               and not inspect.getdoc(member)]
    assert missing == []


@pytest.mark.slow
@pytest.mark.parametrize("folder, package", [
    (ROOT / "codec", "wlrn"), (ROOT, "wlearn"), (PLUGIN, "wlearn_mitra")])
def test_wheels_carry_py_typed(tmp_path, folder, package):
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(folder)], capture_output=True, text=True)
    if done.returncode and "setuptools" in done.stderr and "No module" in done.stderr:
        pytest.skip("building a wheel needs setuptools in this environment")
    assert done.returncode == 0, done.stderr
    (wheel,) = tmp_path.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert f"{package}/py.typed" in names
