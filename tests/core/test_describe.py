"""The registry's plugin hooks: entry-point loaders that take the load context, and
``wlearn.registry.describe`` (what ``wlearn inspect`` / ``validate`` ask a loader)."""

from __future__ import annotations

import sys
import textwrap
from importlib import metadata

import pytest

import wlearn
import wlrn
from wlearn import registry
from wlearn.cli import main
from wlearn.errors import BundleError, RegistryError

TYPE_ID = "acme.hooks.model@1"


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """An installed plugin, as the entry points of a distribution declare it."""
    (tmp_path / "acme_hooks.py").write_text(textwrap.dedent('''
        from wlearn.errors import BundleError

        def loader(manifest, toc, blobs, context=None):
            return ("loaded", dict(context["loaderOptions"].get("acme.hooks.model@1", {}))
                    if context is not None else None)
        loader.accepts_context = True

        def describe(manifest, toc, blobs, context):
            if manifest.get("broken"):
                raise BundleError("acme: the model's weights are inconsistent")
            problems = ["acme: model file absent"] if manifest.get("absent") else []
            return {"model": {"sha256": "ab" * 32, "name": "acme tiny"}, "problems": problems}
        loader.describe = describe

        def plain(manifest, toc, blobs):
            return "plain"
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "acme_hooks", raising=False)
    points = [metadata.EntryPoint(TYPE_ID, "acme_hooks:loader", registry.ENTRY_POINT_GROUP),
              metadata.EntryPoint("acme.hooks.plain@1", "acme_hooks:plain",
                                  registry.ENTRY_POINT_GROUP)]
    monkeypatch.setattr(registry, "_entry_points", lambda: points)
    return tmp_path


def _bundle(tmp_path, **manifest):
    path = tmp_path / "m.wlrn"
    path.write_bytes(wlrn.encode_bundle({"typeId": TYPE_ID, **manifest},
                                        [{"id": "w", "data": b"1"}]))
    return path


def test_entry_point_loader_asks_for_the_context(plugin):
    path = _bundle(plugin)
    assert wlearn.load(path, loader_options={TYPE_ID: {"k": 1}}) == ("loaded", {"k": 1})
    assert wlearn.Bundle(path).load(loader_options={TYPE_ID: {"k": 2}}) == ("loaded", {"k": 2})


def test_describe_calls_the_loaders_hook(plugin):
    parts = wlearn.read_bundle(_bundle(plugin))
    assert registry.describe(*parts) == {
        "model": {"sha256": "ab" * 32, "name": "acme tiny"}, "problems": []}
    with pytest.raises(BundleError, match="weights are inconsistent"):
        registry.describe(*wlearn.read_bundle(_bundle(plugin, broken=True)))
    plain = wlrn.encode_bundle({"typeId": "acme.hooks.plain@1"}, [])
    assert registry.describe(*wlearn.read_bundle(plain)) == {}  # no hook: nothing to say
    with pytest.raises(RegistryError, match='^No loader registered for typeId "acme.none@1"'):
        registry.describe(*wlearn.read_bundle(wlrn.encode_bundle({"typeId": "acme.none@1"}, [])))


def test_describe_hook_must_answer_a_dict():
    def loader(manifest, toc, blobs):
        return None

    loader.describe = lambda manifest, toc, blobs, context: ["not", "a", "dict"]
    wlearn.register(TYPE_ID, loader)
    with pytest.raises(RegistryError, match="returned list, not a dict"):
        registry.describe(*wlearn.read_bundle(wlrn.encode_bundle({"typeId": TYPE_ID}, [])))


def test_cli_follows_the_hook(plugin, capsys):
    assert main(["validate", str(_bundle(plugin))]) == 0
    assert "model: acme tiny, sha256 " + "ab" * 32 in capsys.readouterr().out
    assert main(["validate", str(_bundle(plugin, absent=True))]) == 1
    assert "acme: model file absent" in capsys.readouterr().err
    assert main(["inspect", str(_bundle(plugin, broken=True))]) == 1
    out = capsys.readouterr()
    assert "weights are inconsistent" in out.err and "loadable  no" in out.out
