"""The registry: explicit registration, lazy entry-point discovery and its failures."""

from __future__ import annotations

import io
import sys
import textwrap
from importlib import metadata

import pytest

import wlearn
import wlrn
from wlearn import BundleError, RegistryError
from wlearn.registry import install_hint


def _bundle(type_id="test.reg.model@1", data=b"payload"):
    manifest = {} if type_id is None else {"typeId": type_id}
    return wlrn.encode_bundle(manifest, [{"id": "w", "data": data}])


def _echo(manifest, toc, blobs):
    return {"typeId": manifest["typeId"], "w": bytes(blobs["w"]), "ids": [e["id"] for e in toc]}


@pytest.fixture
def plugin_dir(tmp_path, monkeypatch):
    """Installs fake distributions by writing dist-info folders on sys.path."""
    monkeypatch.syspath_prepend(str(tmp_path))
    made: list[str] = []

    def make(dist: str, module: str, source: str, entry_points: dict[str, str]) -> None:
        (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
        info = tmp_path / f"{dist}-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
        lines = "".join(f"{name} = {value}\n" for name, value in entry_points.items())
        (info / "entry_points.txt").write_text(f"[wlearn.loaders]\n{lines}")
        made.append(module)

    yield make
    for module in made:
        sys.modules.pop(module, None)


GOOD_PLUGIN = """
    IMPORTED = True
    def load_model(manifest, toc, blobs):
        return ("from plugin", manifest["typeId"], bytes(blobs["w"]))
"""


def test_register_and_load_all_input_kinds(tmp_path):
    wlearn.register("test.reg.model@1", _echo)
    assert wlearn.get_registry()["test.reg.model@1"] is _echo
    data = _bundle()
    path = tmp_path / "m.wlrn"
    path.write_bytes(data)
    expected = {"typeId": "test.reg.model@1", "w": b"payload", "ids": ["w"]}
    for source in (data, bytearray(data), memoryview(data), path, str(path), io.BytesIO(data)):
        assert wlearn.load(source) == expected
    with open(path, "rb") as handle:
        assert wlearn.load(handle) == expected


def test_get_registry_is_a_copy():
    wlearn.register("test.reg.model@1", _echo)
    wlearn.get_registry().clear()
    assert "test.reg.model@1" in wlearn.get_registry()


def test_register_replaces():
    wlearn.register("test.reg.model@1", _echo)
    wlearn.register("test.reg.model@1", lambda m, t, b: "second")
    assert wlearn.load(_bundle()) == "second"


@pytest.mark.parametrize("type_id", ["no-version", "", 5, None, ["a@1"]])
def test_register_rejects_bad_type_ids(type_id):
    with pytest.raises(RegistryError, match='^Invalid typeId .*: must contain "@"') as info:
        wlearn.register(type_id, _echo)
    # a typeId that is no string says so, rather than show text that contains "@"
    assert str(info.value).endswith("and be a string") == (not isinstance(type_id, str))


def test_register_rejects_non_callable():
    with pytest.raises(RegistryError, match="must be callable"):
        wlearn.register("test.reg.model@1", "not a function")


def test_hashes_checked_by_default():
    wlearn.register("test.reg.model@1", _echo)
    data = bytearray(_bundle())
    data[-1] ^= 1
    with pytest.raises(BundleError, match="SHA-256 mismatch"):
        wlearn.load(bytes(data))
    assert wlearn.load(bytes(data), verify=False)["w"] == b"payloae"


def test_missing_type_id():
    with pytest.raises(RegistryError, match="^Bundle manifest missing typeId$"):  # 0.3's words
        wlearn.load(_bundle(None))


def test_unknown_type_id_lists_loaders_and_hint():
    wlearn.register("test.reg.model@1", _echo)
    with pytest.raises(RegistryError) as info:
        wlearn.load(_bundle("wlearn.xgboost.classifier@1"))
    message = str(info.value)
    # 0.3's words first: callers written for 0.3 may match on them
    assert message.startswith('No loader registered for typeId "wlearn.xgboost.classifier@1".')
    assert "test.reg.model@1" in message
    assert "pip install wlearn-xgboost" in message


@pytest.mark.parametrize("type_id, hint", [
    ("wlearn.mitra_onnx.classifier@1", "Install wlearn-mitra: pip install ./plugins/mitra"),
    ("wlearn.mitra_onnx.regressor@2", "(wlearn-mitra is not on PyPI)"),
    ("wlearn.light_gbm.regressor@1", "pip install wlearn-light-gbm"),
    ("acme.forest.classifier@1", "'wlearn.loaders' group"),
    ("odd@1", "'wlearn.loaders' group"),
])
def test_install_hints(type_id, hint):
    assert hint in install_hint(type_id)


def test_entry_point_found_lazily(plugin_dir):
    plugin_dir("goodplug", "goodplug_mod", GOOD_PLUGIN,
               {"test.ep.model@1": "goodplug_mod:load_model"})
    assert "goodplug_mod" not in sys.modules
    assert "test.ep.model@1" in wlearn.available_loaders()
    assert "goodplug_mod" not in sys.modules  # listing does not import
    assert "test.ep.model@1" not in wlearn.get_registry()
    assert wlearn.load(_bundle("test.ep.model@1")) == ("from plugin", "test.ep.model@1", b"payload")
    assert "goodplug_mod" in sys.modules
    assert "test.ep.model@1" in wlearn.get_registry()  # cached after first use


def test_only_the_needed_plugin_is_imported(plugin_dir):
    plugin_dir("goodplug", "goodplug_mod", GOOD_PLUGIN, {"test.ep.model@1": "goodplug_mod:load_model"})
    plugin_dir("otherplug", "otherplug_mod", GOOD_PLUGIN, {"test.other.model@1": "otherplug_mod:load_model"})
    wlearn.load(_bundle("test.ep.model@1"))
    assert "goodplug_mod" in sys.modules and "otherplug_mod" not in sys.modules


def test_broken_plugin_is_named_and_isolated(plugin_dir):
    plugin_dir("brokenplug", "brokenplug_mod", "import not_a_module_anywhere\n",
               {"test.broken.model@1": "brokenplug_mod:load_model"})
    plugin_dir("goodplug", "goodplug_mod", GOOD_PLUGIN, {"test.ep.model@1": "goodplug_mod:load_model"})
    with pytest.raises(RegistryError) as info:
        wlearn.load(_bundle("test.broken.model@1"))
    message = str(info.value)
    assert "plugin brokenplug 0.1 failed" in message and "brokenplug_mod:load_model" in message
    assert "ModuleNotFoundError" in message and isinstance(info.value.__cause__, ImportError)
    assert wlearn.load(_bundle("test.ep.model@1"))[0] == "from plugin"
    with pytest.raises(RegistryError, match="brokenplug"):  # not cached: reported again
        wlearn.load(_bundle("test.broken.model@1"))


def test_plugin_raising_at_import(plugin_dir):
    plugin_dir("raiseplug", "raiseplug_mod", "raise RuntimeError('no GPU here')\n",
               {"test.raise.model@1": "raiseplug_mod:load_model"})
    with pytest.raises(RegistryError, match="RuntimeError: no GPU here"):
        wlearn.load(_bundle("test.raise.model@1"))


def test_entry_point_to_missing_attribute(plugin_dir):
    plugin_dir("attrplug", "attrplug_mod", "x = 1\n", {"test.attr.model@1": "attrplug_mod:nothing"})
    with pytest.raises(RegistryError, match="AttributeError"):
        wlearn.load(_bundle("test.attr.model@1"))


def test_entry_point_not_callable(plugin_dir):
    plugin_dir("valplug", "valplug_mod", "x = 1\n", {"test.val.model@1": "valplug_mod:x"})
    with pytest.raises(RegistryError, match="is not callable"):
        wlearn.load(_bundle("test.val.model@1"))


def test_conflicting_plugins(plugin_dir):
    plugin_dir("aplug", "aplug_mod", GOOD_PLUGIN, {"test.dup.model@1": "aplug_mod:load_model"})
    plugin_dir("bplug", "bplug_mod", GOOD_PLUGIN, {"test.dup.model@1": "bplug_mod:load_model"})
    with pytest.raises(RegistryError, match="several installed plugins") as info:
        wlearn.load(_bundle("test.dup.model@1"))
    assert "aplug 0.1" in str(info.value) and "bplug 0.1" in str(info.value)


def test_explicit_registration_wins(plugin_dir):
    plugin_dir("goodplug", "goodplug_mod", GOOD_PLUGIN, {"test.ep.model@1": "goodplug_mod:load_model"})
    wlearn.register("test.ep.model@1", lambda m, t, b: "explicit")
    assert wlearn.load(_bundle("test.ep.model@1")) == "explicit"
    assert "goodplug_mod" not in sys.modules


def test_names_without_at_are_ignored(plugin_dir):
    plugin_dir("hookplug", "hookplug_mod", GOOD_PLUGIN, {"register_all": "hookplug_mod:load_model"})
    assert "register_all" not in wlearn.available_loaders()
    with pytest.raises(RegistryError):
        wlearn.load(_bundle("register_all@1"))
    assert "hookplug_mod" not in sys.modules


def test_installed_mitra_plugin_is_discoverable():
    try:
        metadata.distribution("wlearn-mitra")
    except metadata.PackageNotFoundError:
        pytest.skip("wlearn-mitra is not installed")
    assert {"wlearn.mitra_onnx.classifier@1", "wlearn.mitra_onnx.regressor@1"} <= set(
        wlearn.available_loaders())
