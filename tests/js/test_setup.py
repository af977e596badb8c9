"""The layer's set-up: without Node it is skipped with a message saying what to install; the
wire format carries every value the differential tests send."""

from __future__ import annotations

import json
import math

import pytest

from . import _node


def test_without_node_the_reason_names_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(_node.Unavailable, match=r"apt-get install nodejs npm"):
        _node.install()


def test_without_the_reference_packages_the_reason_names_the_folder(monkeypatch, tmp_path):
    if _node.shutil.which("node") is None:
        pytest.skip("needs node on PATH to get past the first check")
    monkeypatch.setenv("WLEARN_JS_REFERENCE", str(tmp_path / "missing"))
    with pytest.raises(_node.Unavailable, match=r"WLEARN_JS_REFERENCE"):
        _node.install()


def test_wire_tags_are_unambiguous():
    value = {"\0k": ["\0", "\0NaN", math.nan, -0.0, math.inf, -math.inf, "x", 1.5]}
    assert json.loads(_node.to_wire(value)) == {
        "\0k": ["\0\0", "\0\0NaN", "\0NaN", "\0-0", "\0Infinity", "\0-Infinity", "x", 1.5]}
