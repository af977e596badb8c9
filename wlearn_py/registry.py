"""The typeId -> loader registry, filled by :func:`register` and, lazily, by the
``wlearn.loaders`` entry points of installed plugins."""

from __future__ import annotations

import threading
from collections.abc import Callable
from importlib import metadata
from typing import Any

from .bundle import BundleInput, decode_bundle, validate_bundle
from .errors import RegistryError

__all__ = ["ENTRY_POINT_GROUP", "register", "load", "get_registry", "available_loaders",
           "describe_loader", "find_loader", "install_hint"]

ENTRY_POINT_GROUP = "wlearn.loaders"

Loader = Callable[[dict, list, Any], Any]

_registry: dict[str, Loader] = {}
_lock = threading.RLock()

#: Packages whose name cannot be derived from the typeId by the generic rule.
_KNOWN_PACKAGES = {"wlearn.mitra_onnx": "wlearn-mitra"}


def _check_type_id(type_id: Any) -> None:
    if not isinstance(type_id, str) or "@" not in type_id:
        raise RegistryError(f"invalid typeId {type_id!r}: it must be a string containing '@' "
                            "(e.g. 'wlearn.mitra_onnx.classifier@1')")


def register(type_id: str, loader: Loader) -> None:
    """Make ``loader(manifest, toc, blobs) -> model`` the loader of ``type_id``.

    Registering again replaces the previous loader. An explicit registration always wins
    over an entry point for the same typeId.
    """
    _check_type_id(type_id)
    if not callable(loader):
        raise RegistryError(f"the loader for {type_id!r} must be callable")
    with _lock:
        _registry[type_id] = loader


def get_registry() -> dict[str, Loader]:
    """A copy of the loaders known so far (registered, or discovered by :func:`load`)."""
    with _lock:
        return dict(_registry)


def _entry_points() -> list[metadata.EntryPoint]:
    return list(metadata.entry_points(group=ENTRY_POINT_GROUP))


def available_loaders() -> list[str]:
    """Every typeId :func:`load` can handle now: registered ones plus installed plugins'
    entry points (not imported by this call). Entry points not named like a typeId are
    ignored."""
    names = set(get_registry())
    names.update(ep.name for ep in _entry_points() if "@" in ep.name)
    return sorted(names)


def _provider(ep: metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return f"{dist.name} {dist.version}" if dist is not None else ep.value


def _discover(type_id: str) -> Loader | None:
    matches = {ep.value: ep for ep in _entry_points() if ep.name == type_id}
    if not matches:
        return None
    if len(matches) > 1:
        found = "; ".join(f"{ep.value} (from {_provider(ep)})" for ep in matches.values())
        raise RegistryError(f"several installed plugins claim typeId {type_id!r}: {found}. "
                            "Uninstall all but one.")
    (ep,) = matches.values()
    try:
        loader = ep.load()
    except Exception as exc:  # any import-time failure of a plugin is reported, not raised raw
        raise RegistryError(f"plugin {_provider(ep)} failed to load its loader for "
                            f"{type_id!r} ({ep.value}): {type(exc).__name__}: {exc}") from exc
    if not callable(loader):
        raise RegistryError(f"plugin {_provider(ep)}: entry point {type_id!r} = {ep.value} "
                            "is not callable")
    return loader


def install_hint(type_id: str) -> str:
    """Which package most likely provides ``type_id``'s loader."""
    family = type_id.split("@", 1)[0].rsplit(".", 1)[0]  # "wlearn.mitra_onnx"
    package = _KNOWN_PACKAGES.get(family)
    if package is None and family.startswith("wlearn.") and family.count(".") == 1:
        package = "wlearn-" + family.split(".", 1)[1].replace("_", "-")
    if package is not None:
        return f"Install it with: pip install {package}"
    return (f"Install the package that provides {type_id!r} (it declares an entry point of "
            f"that name in the {ENTRY_POINT_GROUP!r} group).")


def describe_loader(type_id: str) -> str | None:
    """Where ``type_id``'s loader comes from, without importing any plugin; None if nowhere."""
    loader = get_registry().get(type_id)
    if loader is not None:
        module = getattr(loader, "__module__", None) or "?"
        return f"{module}:{getattr(loader, '__qualname__', repr(loader))} (registered)"
    found = [ep for ep in _entry_points() if ep.name == type_id]
    if not found:
        return None
    return "; ".join(f"{ep.value} (entry point of {_provider(ep)})" for ep in found)


def find_loader(type_id: str) -> Loader:
    """The loader for ``type_id``, importing its plugin on first use."""
    _check_type_id(type_id)
    with _lock:
        loader = _registry.get(type_id)
        if loader is not None:
            return loader
        loader = _discover(type_id)
        if loader is not None:
            _registry[type_id] = loader
            return loader
    available = available_loaders()
    listed = ", ".join(available) if available else "none"
    raise RegistryError(f"no loader for typeId {type_id!r}. Available loaders: {listed}. "
                        f"{install_hint(type_id)}")


def load(data: BundleInput, *, verify: bool = True) -> Any:
    """Decode a bundle (bytes-like, path or binary file) and build its model with the
    loader of its ``typeId``. SHA-256 hashes are checked unless ``verify=False``."""
    manifest, toc, blobs = (validate_bundle if verify else decode_bundle)(data)
    type_id = manifest.get("typeId")
    if not type_id:
        raise RegistryError("bundle manifest has no typeId")
    return find_loader(type_id)(manifest, toc, blobs)
