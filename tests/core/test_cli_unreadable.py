"""``wlearn inspect`` on a bundle it cannot decode: it first prints whatever it could read (the
header, then the manifest and the TOC when each is whole), then reports the error, exit 1."""

from __future__ import annotations

import json

import pytest

import wlearn
from wlearn.cli import main

from _paths import fixtures_dir

MITRA = fixtures_dir() / "mitra-js" / "b_3class_strat_s42" / "model.wlrn"


def _cut(tmp_path, size: int):
    path = tmp_path / "t.wlrn"
    path.write_bytes(MITRA.read_bytes()[:size])
    return path


def test_a_truncated_bundle_shows_its_manifest_and_toc_before_the_error(tmp_path, capsys):
    path = _cut(tmp_path, 3000)  # the TOC whole, support_x cut off
    assert main(["inspect", str(path)]) == 1
    out = capsys.readouterr()
    assert 'TOC entry "support_x" out of bounds' in out.err and str(path) in out.err
    lines = out.out.splitlines()
    assert lines[0].split()[:2] == ["file", str(path)]
    assert lines[1].startswith("header    version 1")
    assert lines[2].split() == ["typeId", "wlearn.mitra_onnx.classifier@1"]
    assert '"maxSupport": 128' in out.out
    rows = {line.split()[0]: line for line in lines if line.startswith("  ")
            and line.split()[0] in ("meta", "support_x", "support_y")}
    assert rows["meta"].endswith("in the file")
    assert rows["support_x"].endswith("MISSING") and rows["support_y"].endswith("MISSING")


def test_a_bundle_cut_inside_its_manifest_shows_its_header(tmp_path, capsys):
    path = _cut(tmp_path, 100)
    assert main(["inspect", str(path)]) == 1
    out = capsys.readouterr()
    assert "Bundle truncated" in out.err
    assert out.out.splitlines()[1].startswith("header    version 1, manifest ")
    assert "typeId" not in out.out


def test_json_gives_what_could_be_read(tmp_path, capsys):
    path = _cut(tmp_path, 3000)
    assert main(["inspect", "--json", str(path)]) == 1
    out = capsys.readouterr()
    report = json.loads(out.out)
    manifest, toc, _ = wlearn.validate_bundle(MITRA)
    assert report["manifest"] == manifest and report["toc"] == toc
    assert report["ok"] is False and report["loadable"] is False
    assert report["problems"][0] in out.err and "out of bounds" in out.err


@pytest.mark.parametrize("content", [b"PK\x03\x04" + bytes(40), b"WLRN"])
def test_nothing_is_printed_of_a_file_that_is_no_bundle(tmp_path, capsys, content):
    path = tmp_path / "x.wlrn"
    path.write_bytes(content)
    assert main(["inspect", str(path)]) == 1
    out = capsys.readouterr()
    assert out.out == "" and out.err
