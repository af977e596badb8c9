"""The ``wlearn`` command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import wlearn
import wlrn
from wlearn.cli import main

from _paths import fixtures_dir

FIXTURES = fixtures_dir()
SORTING = FIXTURES / "bundles-js" / "artifacts_sorting.wlrn"
MITRA = FIXTURES / "mitra-js" / "b_3class_strat_s42" / "model.wlrn"
#: The model MITRA was made with: validate and inspect exit 0 only when it is at hand.
MITRA_ONNX = FIXTURES / "onnx" / "tiny-mitra-classifier.onnx"
ENV_VAR = "WLEARN_MITRA_CLASSIFIER_ONNX"


@pytest.fixture
def mitra_model(monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(MITRA_ONNX))


def _corrupt(tmp_path: Path) -> Path:
    data = bytearray(MITRA.read_bytes())
    data[-1] ^= 0xFF  # last byte of support_y
    path = tmp_path / "bad.wlrn"
    path.write_bytes(data)
    return path


def test_validate_ok(capsys, mitra_model):
    assert main(["validate", str(MITRA)]) == 0
    out = capsys.readouterr()
    assert "wlearn.mitra_onnx.classifier@1, 3 artifacts" in out.out and out.err == ""


def test_validate_hash_mismatch(tmp_path, capsys):
    path = _corrupt(tmp_path)
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr()
    assert out.out == "" and 'SHA-256 mismatch for "support_y"' in out.err
    assert str(path) in out.err


@pytest.mark.parametrize("content, reason", [
    (b"", "Bundle too small"),
    (b"PK\x03\x04" + bytes(20), "Invalid bundle magic"),
    (wlrn.encode_bundle({"name": "x"}, []), "no valid typeId"),
])
def test_validate_failures(tmp_path, capsys, content, reason):
    path = tmp_path / "x.wlrn"
    path.write_bytes(content)
    assert main(["validate", str(path)]) == 1
    assert reason in capsys.readouterr().err


def test_validate_missing_file(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "nope.wlrn")]) == 1
    assert "cannot read bundle" in capsys.readouterr().err


def test_inspect_human(capsys):
    # No loader is installed for its typeId, so wlearn.load would refuse it: exit 1.
    assert main(["inspect", str(SORTING)]) == 1
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[1].split() == ["typeId", "wlearn.test.artifacts@1"]
    assert "pip install wlearn-test" in lines[2]
    table = lines[lines.index(next(l for l in lines if l.split()[:2] == ["id", "offset"])):]
    sizes = {row.split()[0]: row.split()[2] for row in table[1:] if row.split()[-1] == "ok"}
    assert sizes["weights"] == "37" and sizes["meta"] == "27"
    assert '"\\ue000"' in out  # invisible ids are shown quoted and escaped
    assert lines[-2].split() == ["hashes", "all", "ok"]
    assert lines[-1].split() == ["loadable", "no"]


def test_inspect_json_matches_decoder(capsys, mitra_model):
    assert main(["inspect", "--json", str(MITRA)]) == 0
    report = json.loads(capsys.readouterr().out)
    manifest, toc, _ = wlearn.validate_bundle(MITRA)
    assert report["manifest"] == manifest and report["typeId"] == manifest["typeId"]
    assert [(a["id"], a["offset"], a["length"], a["sha256"]) for a in report["artifacts"]] == [
        (e["id"], e["offset"], e["length"], e["sha256"]) for e in toc]
    assert report["ok"] is True and report["size"] == MITRA.stat().st_size


def test_inspect_reports_mismatch(tmp_path, capsys):
    path = _corrupt(tmp_path)
    assert main(["inspect", "--json", str(path)]) == 1
    out = capsys.readouterr()
    report = json.loads(out.out)
    assert [a["sha256Ok"] for a in report["artifacts"]] == [True, True, False]
    assert report["ok"] is False and "support_y" in out.err


def test_inspect_malformed(tmp_path, capsys):
    path = tmp_path / "x.wlrn"
    path.write_bytes(b"WLRN\x01\x00\x00\x00\x05\x00\x00\x00\x00\x00\x00\x00{\"a\":")
    assert main(["inspect", str(path)]) == 1
    assert "Invalid manifest JSON" in capsys.readouterr().err


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2


def test_console_script_runs():
    """``python -m wlearn`` runs the same command line."""
    done = subprocess.run([sys.executable, "-m", "wlearn", "validate", str(MITRA)],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, ENV_VAR: str(MITRA_ONNX)})
    assert done.returncode == 0 and "all SHA-256 hashes match" in done.stdout


@pytest.mark.parametrize("manifest", [{"name": "x"}, {"typeId": "no-version"}, {"typeId": 7},
                                      {"typeId": "wlearn.test.x@1"}])
def test_inspect_and_validate_follow_one_exit_rule(tmp_path, capsys, manifest):
    wlearn.register("wlearn.test.x@1", lambda manifest, toc, blobs: None)
    path = tmp_path / "x.wlrn"
    path.write_bytes(wlrn.encode_bundle(manifest, [{"id": "a", "data": b"1"}]))
    inspected = main(["inspect", str(path)])
    out = capsys.readouterr()
    validated = main(["validate", str(path)])
    assert inspected == validated == (0 if manifest.get("typeId") == "wlearn.test.x@1" else 1)
    assert "artifacts 1" in out.out  # inspect still shows what it read
    if inspected:
        assert "no valid typeId" in out.err


def test_version(capsys):
    from wlearn import __version__

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith(f"wlearn {__version__}")


@pytest.mark.parametrize("content", [b"hello\n", None])
def test_inspect_json_reports_a_file_it_cannot_read(tmp_path, capsys, content):
    path = tmp_path / "x.wlrn"
    if content is not None:
        path.write_bytes(content)
    assert main(["inspect", "--json", str(path)]) == 1
    out = capsys.readouterr()
    report = json.loads(out.out)
    assert report["file"] == str(path) and report["ok"] is False and report["loadable"] is False
    assert len(report["problems"]) == 1 and report["problems"][0] in out.err
    assert ("Bundle too small" if content else "No such file") in report["problems"][0]


def test_bundle_strings_cannot_drive_the_terminal(tmp_path, capsys):
    """A typeId or mediaType holding a carriage return or an escape sequence is printed
    escaped, so a bundle cannot overwrite or forge the lines inspect and validate print."""
    forged = "acme.x@1\r\x1b[2Kloadable  yes\n\x9b31m\u202e"
    data = wlrn.encode_bundle({"typeId": forged},
                              [{"id": "a", "data": b"x", "mediaType": "\x1b[31mred"}])
    path = tmp_path / "forged.wlrn"
    path.write_bytes(data)
    for command in (["inspect", str(path)], ["validate", str(path)]):
        assert main(command) == 1
        captured = capsys.readouterr()
        text = captured.out + captured.err
        assert not any(c in text for c in "\r\x1b\x9b\u202e")
        assert "\\r\\x1b[2Kloadable  yes\\n\\x9b31m\\u202e" in text
        assert "loadable  yes" not in text.splitlines()
    assert main(["inspect", str(path)]) == 1
    assert "\\x1b[31mred" in capsys.readouterr().out


def test_paths_that_are_no_bundle_file_are_refused(capsys):
    for path, reason in (("/dev/zero", "a device, not a file"), ("x\x00y", "NUL")):
        assert main(["validate", path]) == 1
        assert reason in capsys.readouterr().err
