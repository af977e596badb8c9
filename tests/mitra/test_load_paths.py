"""One answer to "does this bundle load", whichever way it is loaded: MitraClassifier.load,
MitraModel.load, wlearn.load, wlearn.Bundle and the ``wlearn`` CLI (validate, inspect); the
model a bundle needs, passed through wlearn.load's loader_options; save(path)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

import wlearn
import wlrn
from wlearn.cli import main
from wlearn.errors import BundleError, ValidationError
from wlearn_mitra import MitraClassifier, MitraModel, MitraRegressor, loaders
from wlearn_mitra.graphs import _builtin

from _paths import fixtures_dir

FIXTURES = fixtures_dir()
CLF_ONNX = FIXTURES / "onnx" / "tiny-mitra-classifier.onnx"
CASE = FIXTURES / "mitra-js" / "b_3class_strat_s42"
BUNDLE = CASE / "model.wlrn"
TYPE_ID = "wlearn.mitra_onnx.classifier@1"
ENV_VAR = "WLEARN_MITRA_CLASSIFIER_ONNX"


@pytest.fixture(autouse=True)
def _clean(monkeypatch):
    monkeypatch.setattr(loaders, "_bound", {})


@pytest.fixture(scope="module", autouse=True)
def _a_model_not_shipped(unshipped, tmp_path_factory):
    """BUNDLE: the JS fixture bundle naming a model the package does not ship (CLF_ONNX: the
    tiny test model under another hash), so that only a model given finds it; the tiny model
    itself ships and would be found by hash."""
    global BUNDLE, CLF_ONNX
    import hashlib

    shipped_bundle, shipped_model = BUNDLE, CLF_ONNX
    CLF_ONNX = Path(unshipped["classification"])
    BUNDLE = _rewrite(tmp_path_factory.mktemp("load-paths"), name="model.wlrn", meta={
        "onnxSha256": hashlib.sha256(CLF_ONNX.read_bytes()).hexdigest()})
    yield
    BUNDLE, CLF_ONNX = shipped_bundle, shipped_model


def _parts(data: bytes = b""):
    manifest, toc, blobs = wlrn.decode_bundle(data or BUNDLE.read_bytes())
    artifacts = [{"id": e["id"], "data": bytes(blobs[e["id"]])} for e in toc]
    return manifest, artifacts


def _rewrite(tmp_path: Path, manifest=None, meta=None, name="x.wlrn") -> Path:
    """The fixture bundle with its manifest or meta changed, hashes right."""
    base, artifacts = _parts()
    if meta is not None:
        old = wlrn.decode_json(next(a["data"] for a in artifacts if a["id"] == "meta"))
        for a in artifacts:
            if a["id"] == "meta":
                a["data"] = wlrn.encode_json({**old, **meta})
    path = tmp_path / name
    path.write_bytes(wlrn.encode_bundle(manifest if manifest is not None else base, artifacts))
    return path


def _contradicting_declarations(tmp_path: Path) -> Path:
    """0.3's ``artifacts`` declarations that contradict the TOC (meta's length is wrong)."""
    manifest, artifacts = _parts()
    declared = sorted(({"id": a["id"], "length": len(a["data"]), "mediaType":
                        "application/octet-stream",
                        "sha256": __import__("hashlib").sha256(a["data"]).hexdigest()}
                       for a in artifacts), key=lambda d: d["id"])
    declared[0]["length"] += 1
    manifest = {**manifest, "artifacts": declared}
    arts = [{**a, "mediaType": "application/octet-stream"} for a in artifacts]
    path = tmp_path / "declared.wlrn"
    path.write_bytes(wlrn.encode_bundle(manifest, arts))
    return path


# -- one validator ------------------------------------------------------------------------

def test_contradicting_0_3_declarations_are_refused_by_every_load_path(tmp_path, capsys,
                                                                       monkeypatch):
    path = _contradicting_declarations(tmp_path)
    data = path.read_bytes()
    message = "manifest artifact declaration does not match TOC entry"
    with pytest.raises(BundleError, match=message):
        wlearn.load(data)
    with pytest.raises(BundleError, match=message):
        MitraClassifier.load(data, CLF_ONNX)
    with pytest.raises(BundleError, match=message):
        MitraClassifier.load(path, CLF_ONNX)
    with pytest.raises(BundleError, match=message):
        MitraModel.load(data, CLF_ONNX)
    with pytest.raises(BundleError, match=message):
        wlearn.Bundle(data)
    monkeypatch.setenv(ENV_VAR, str(CLF_ONNX))
    assert main(["validate", str(path)]) == 1
    assert message in capsys.readouterr().err


# -- validate answers what load does ----------------------------------------------------------

def test_validate_refuses_inconsistent_meta_as_load_does(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(CLF_ONNX))
    path = _rewrite(tmp_path, meta={"nFeatures": 7})  # support_x holds 8 columns
    with pytest.raises(BundleError) as load_error:
        wlearn.load(path)
    assert main(["validate", str(path)]) == 1
    assert str(load_error.value) in capsys.readouterr().err
    assert main(["inspect", str(path)]) == 1
    assert str(load_error.value) in capsys.readouterr().err


def test_validate_refuses_a_bundle_whose_model_is_not_at_hand(capsys, monkeypatch):
    with pytest.raises(ValidationError) as load_error:
        wlearn.load(BUNDLE)
    assert main(["validate", str(BUNDLE)]) == 1
    err = capsys.readouterr().err
    assert str(load_error.value) in err
    sha = wlrn.decode_json(wlrn.decode_bundle(BUNDLE)[2]["meta"])["onnxSha256"]
    assert sha in err
    monkeypatch.setenv(ENV_VAR, str(CLF_ONNX))
    assert main(["validate", str(BUNDLE)]) == 0


def test_validate_refuses_a_bundle_with_no_loader(tmp_path, capsys):
    manifest, artifacts = _parts()
    path = tmp_path / "other.wlrn"
    path.write_bytes(wlrn.encode_bundle({**manifest, "typeId": "acme.nothing.here@1"},
                                        artifacts))
    assert main(["validate", str(path)]) == 1
    assert 'No loader registered for typeId "acme.nothing.here@1"' in capsys.readouterr().err


def test_inspect_names_the_model_by_hash_and_the_builtin_by_name(tmp_path, capsys,
                                                                   monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(CLF_ONNX))
    assert main(["inspect", "--json", str(BUNDLE)]) == 0
    report = json.loads(capsys.readouterr().out)
    sha = wlrn.decode_json(wlrn.decode_bundle(BUNDLE)[2]["meta"])["onnxSha256"]
    assert report["model"]["sha256"] == sha and report["model"]["name"] is None
    assert report["model"]["source"] == str(CLF_ONNX) and report["loadable"] is True
    assert main(["inspect", str(BUNDLE)]) == 0
    assert f"model     the ONNX model of sha256 {sha}" in capsys.readouterr().out

    monkeypatch.delenv(ENV_VAR)
    builtin = _rewrite(tmp_path, meta={"onnxSha256": _builtin.sha256("classification")})
    assert main(["inspect", "--json", str(builtin)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["model"]["name"] == "built-in mitra-builtin-classifier.onnx (wlearn-mitra)"
    assert report["model"]["source"] == _builtin.path("classification")
    assert main(["inspect", str(builtin)]) == 0
    assert "built-in mitra-builtin-classifier.onnx" in capsys.readouterr().out


def test_inspect_says_the_model_found_has_another_hash(capsys, monkeypatch):
    """A bundle of a custom model, with only the built-in (or the environment's) model at
    hand: the text view names the model found, its other sha256, and the refusal, as the
    JSON's sourceSha256 does; it never says load would take it."""
    monkeypatch.delenv(ENV_VAR, raising=False)
    sha = wlrn.decode_json(wlrn.decode_bundle(BUNDLE)[2]["meta"])["onnxSha256"]
    builtin = _builtin.sha256("classification")
    for env, name in ((None, "the built-in mitra-builtin-classifier.onnx (wlearn-mitra)"),
                      (_builtin.path("classification"),
                       "the built-in mitra-builtin-classifier.onnx (wlearn-mitra)")):
        if env:
            monkeypatch.setenv(ENV_VAR, env)
        assert main(["inspect", "--json", str(BUNDLE)]) == 1
        report = json.loads(capsys.readouterr().out)
        assert report["model"]["sourceSha256"] == builtin != sha
        assert main(["inspect", str(BUNDLE)]) == 1
        out = capsys.readouterr().out
        line = next(line for line in out.splitlines() if line.startswith("model "))
        assert "load would take" not in line
        assert (f"found {name} at {_builtin.path('classification')}, which has another "
                f"sha256, {builtin}: load would refuse it") in line
        assert out.rstrip().endswith("loadable  no")
    other = Path(__file__).resolve().parents[1] / "data" / "mitra-v2" / "tiny-regressor-2.onnx"
    monkeypatch.setenv(ENV_VAR, str(other))  # an environment model of another hash
    assert main(["inspect", str(BUNDLE)]) == 1
    assert (f"found the model of {ENV_VAR} at {other}, which has another sha256"
            in capsys.readouterr().out)


def test_inspect_and_validate_show_whether_js_loads_the_bundle(capsys, monkeypatch, tmp_path):
    """The loader's notes (tests/js checks them against the real package): shown by inspect,
    text and JSON, and by validate, for a bundle JS loads and one it refuses."""
    monkeypatch.setenv(ENV_VAR, str(CLF_ONNX))
    loads = "@wlearn/mitra 0.1 (JavaScript) loads it"
    assert main(["inspect", "--json", str(BUNDLE)]) == 0
    assert json.loads(capsys.readouterr().out)["notes"] == [loads]
    assert main(["inspect", str(BUNDLE)]) == 0
    assert f"\nnote      {loads}\nloadable  yes" in capsys.readouterr().out
    assert main(["validate", str(BUNDLE)]) == 0
    assert capsys.readouterr().out.splitlines()[1] == f"note  {BUNDLE}: {loads}"
    X = np.column_stack([np.arange(20.0), np.arange(20) % 4])
    encoded = tmp_path / "encoded.wlrn"
    MitraClassifier(onnx=CLF_ONNX, target_encoding=True).fit(X, np.arange(20) % 2).save(encoded)
    assert main(["inspect", "--json", str(encoded)]) == 0
    assert json.loads(capsys.readouterr().out)["notes"] == [
        "@wlearn/mitra 0.1 (JavaScript) refuses it at load: target encoding "
        "(params.targetEncoding), which it does not compute"]


def test_inspect_and_validate_open_no_model_unless_asked(monkeypatch, capsys):
    import wlearn_mitra.estimators._base as estimators

    monkeypatch.setenv(ENV_VAR, str(CLF_ONNX))
    opened = []
    real_open = estimators._MitraEstimator._open

    def spy_open(self):  # every way to the model: open(), fit, predict
        opened.append(self)
        return real_open(self)

    monkeypatch.setattr(estimators._MitraEstimator, "_open", spy_open)
    assert main(["validate", str(BUNDLE)]) == 0
    assert main(["inspect", str(BUNDLE)]) == 0
    assert opened == []
    assert main(["validate", "--open", str(BUNDLE)]) == 0
    assert len(opened) == 1 and "(opened)" in capsys.readouterr().out


# -- the model, through wlearn.load ----------------------------------------------------------

def test_wlearn_load_takes_the_model_as_a_loader_option():
    Xq = np.load(CASE / "Xq.npy")
    direct = MitraClassifier.load(BUNDLE, onnx=CLF_ONNX)
    for onnx in (CLF_ONNX, str(CLF_ONNX), CLF_ONNX.read_bytes()):
        model = wlearn.load(BUNDLE, loader_options={TYPE_ID: {"onnx": onnx}})
        np.testing.assert_array_equal(model.predict_proba(Xq), direct.predict_proba(Xq))
    model = wlearn.Bundle(BUNDLE).load(loader_options={TYPE_ID: {"onnx": CLF_ONNX}})
    np.testing.assert_array_equal(model.predict_proba(Xq), direct.predict_proba(Xq))


def test_the_missing_model_message_names_calls_that_work():
    with pytest.raises(ValidationError) as info:
        wlearn.load(BUNDLE)
    message = str(info.value)
    assert "MitraClassifier.load(data, onnx=PATH)" in message
    assert f"wlearn.load(data, loader_options={{'{TYPE_ID}': {{'onnx': PATH}}}})" in message
    # each call the message names works
    assert MitraClassifier.load(BUNDLE.read_bytes(), onnx=CLF_ONNX).is_fitted
    assert wlearn.load(BUNDLE.read_bytes(), loader_options={TYPE_ID: {"onnx": CLF_ONNX}})


def test_loader_options_are_checked():
    with pytest.raises(ValidationError, match="unknown key.*'onx'"):
        wlearn.load(BUNDLE, loader_options={TYPE_ID: {"onx": CLF_ONNX}})
    with pytest.raises(ValidationError, match="must be a dict"):
        wlearn.load(BUNDLE, loader_options={TYPE_ID: str(CLF_ONNX)})


# -- save(path) -----------------------------------------------------------------------------

def test_save_path_writes_the_bundle_and_returns_the_bytes(tmp_path):
    X = np.arange(40, dtype=np.float32).reshape(20, 2)
    y = np.arange(20) % 2
    for model in (MitraClassifier(onnx=CLF_ONNX).fit(X, y),
                  MitraModel(classifier_onnx=CLF_ONNX).fit(X, y)):
        path = tmp_path / "model.wlrn"
        data = model.save(path)
        assert isinstance(data, bytes) and path.read_bytes() == data == model.save()
        assert sorted(os.listdir(tmp_path)) == ["model.wlrn"]
        loaded = type(model).load(path, CLF_ONNX)
        np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
        assert model.save(str(path)) == data  # str paths too; overwrites


def test_a_failed_save_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    X = np.arange(40, dtype=np.float32).reshape(20, 2)
    model = MitraClassifier(onnx=CLF_ONNX).fit(X, np.arange(20) % 2)
    path = tmp_path / "model.wlrn"
    path.write_bytes(b"old")

    def fail(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="No space left"):
        model.save(path)
    assert path.read_bytes() == b"old" and sorted(os.listdir(tmp_path)) == ["model.wlrn"]
    monkeypatch.undo()
    with pytest.raises(FileNotFoundError):
        model.save(tmp_path / "no-such-folder" / "model.wlrn")
    assert sorted(os.listdir(tmp_path)) == ["model.wlrn"]


def test_a_save_that_cannot_write_names_the_users_path_and_writes_nothing(tmp_path):
    """The OSError write_bundle_output(data, path) raises (wlearn 0.3), about the user's path:
    never the temporary file's name, and nothing left in any folder."""
    X = np.arange(40, dtype=np.float32).reshape(20, 2)
    model = MitraClassifier(onnx=CLF_ONNX).fit(X, np.arange(20) % 2)
    missing = tmp_path / "no-such-folder" / "model.wlrn"
    with pytest.raises(FileNotFoundError) as raised:
        model.save(missing)
    assert raised.value.filename == str(missing)
    assert str(missing) in str(raised.value) and ".tmp" not in str(raised.value)
    folder = tmp_path / "a-folder"
    folder.mkdir()
    for path in (folder, str(folder)):
        with pytest.raises(IsADirectoryError) as raised:
            model.save(path)
        assert raised.value.filename == str(folder) and ".tmp" not in str(raised.value)
    assert sorted(os.listdir(tmp_path)) == ["a-folder"] and not os.listdir(folder)


def test_regressor_save_path(tmp_path):
    reg_onnx = FIXTURES / "onnx" / "tiny-mitra-regressor.onnx"
    X = np.arange(40, dtype=np.float32).reshape(20, 2)
    model = MitraRegressor(onnx=reg_onnx).fit(X, np.linspace(0, 1, 20))
    data = model.save(tmp_path / "r.wlrn")
    assert (tmp_path / "r.wlrn").read_bytes() == data


def test_a_fresh_interpreter_passes_the_model_through_wlearn_load():
    """The entry-point loader (wlearn_mitra never imported by the caller) takes the context."""
    import subprocess
    import sys

    code = ("import wlearn, sys; m = wlearn.load(sys.argv[1], loader_options="
            "{'wlearn.mitra_onnx.classifier@1': {'onnx': sys.argv[2]}}); "
            "print(type(m).__name__, m.onnx_sha256_)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WLEARN_MITRA_")}
    done = subprocess.run([sys.executable, "-c", code, str(BUNDLE), str(CLF_ONNX)],
                          capture_output=True, text=True, timeout=120, env=env)
    sha = wlrn.decode_json(wlrn.decode_bundle(BUNDLE)[2]["meta"])["onnxSha256"]
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["MitraClassifier", sha]
