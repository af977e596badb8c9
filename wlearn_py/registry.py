"""The typeId -> loader registry, filled by :func:`register` and, lazily, by the
``wlearn.loaders`` entry points of installed plugins."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from importlib import metadata
from types import MappingProxyType
from typing import Any, NamedTuple

from .bundle import BundleInput, decode_bundle, validate_bundle
from .errors import RegistryError
from .reading import read_bundle

__all__ = ["ENTRY_POINT_GROUP", "register", "load", "get_registry", "available_loaders",
           "describe", "describe_loader", "find_loader", "load_parts", "install_hint", "assert_required_loaders"]

ENTRY_POINT_GROUP = "wlearn.loaders"

Loader = Callable[..., Any]


class _Registration(NamedTuple):
    loader_fn: Loader
    accepts_context: bool


_registry: dict[str, _Registration] = {}
_lock = threading.RLock()

#: Packages whose name cannot be derived from the typeId by the generic rule.
_KNOWN_PACKAGES = {"wlearn.mitra_onnx": "wlearn-mitra"}
#: How to install those of them that PyPI does not have (a hint must name what installs).
_NOT_ON_PYPI = {
    "wlearn-mitra": "pip install ./plugins/mitra in a checkout of wlearn for Python "
                    "(wlearn-mitra is not on PyPI)",
}


def _check_type_id(type_id: Any) -> None:
    if not isinstance(type_id, str) or "@" not in type_id:
        # 0.3's words (callers may match on them), and what a typeId that is no string is
        shown = type_id if isinstance(type_id, str) else f"{type_id!r}, a {type(type_id).__name__}"
        raise RegistryError(f'Invalid typeId "{shown}": must contain "@" '
                            '(e.g. "wlearn.mitra_onnx.classifier@1")'
                            + ("" if isinstance(type_id, str) else " and be a string"))


def register(type_id: str, loader_fn: Loader, *, accepts_context: bool = False) -> None:
    """Make ``loader_fn(manifest, toc, blobs) -> model`` the loader of ``type_id``; with
    ``accepts_context=True`` it is called with a fourth argument, the read-only load context
    (``context["loaderOptions"]``, see :func:`load`). As in PyPI's wlearn 0.3. (A loader found
    through an entry point asks for the context with the attribute ``accepts_context = True``;
    its optional ``describe`` attribute serves :func:`describe`.)

    Registering again replaces the previous loader. An explicit registration always wins
    over an entry point for the same typeId.
    """
    _check_type_id(type_id)
    if not callable(loader_fn):
        raise RegistryError(f"the loader for {type_id!r} must be callable")
    if not isinstance(accepts_context, bool):
        raise RegistryError("accepts_context must be a boolean")
    with _lock:
        _registry[type_id] = _Registration(loader_fn, accepts_context)


def get_registry() -> dict[str, Loader]:
    """A copy of the loaders known so far (registered, or discovered by :func:`load`)."""
    with _lock:
        return {type_id: entry.loader_fn for type_id, entry in _registry.items()}


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
    if package in _NOT_ON_PYPI:
        return f"Install {package}: {_NOT_ON_PYPI[package]}"
    if package is not None:
        return f"Install it with: pip install {package}"
    return (f"Install the package that provides {type_id!r} (it declares an entry point of "
            f"that name in the {ENTRY_POINT_GROUP!r} group).")


def describe_loader(type_id: str) -> str | None:
    """Where ``type_id``'s loader comes from, without importing any plugin; None if nowhere."""
    with _lock:
        entry = _registry.get(type_id)
    if entry is not None:
        loader = entry.loader_fn
        module = getattr(loader, "__module__", None) or "?"
        return f"{module}:{getattr(loader, '__qualname__', repr(loader))} (registered)"
    found = [ep for ep in _entry_points() if ep.name == type_id]
    if not found:
        return None
    return "; ".join(f"{ep.value} (entry point of {_provider(ep)})" for ep in found)


def _find(type_id: str) -> _Registration:
    _check_type_id(type_id)
    with _lock:
        entry = _registry.get(type_id)
        if entry is not None:
            return entry
        loader = _discover(type_id)
        if loader is not None:
            # An entry point cannot pass register()'s keyword; its loader says it itself.
            accepts = getattr(loader, "accepts_context", False) is True
            _registry[type_id] = entry = _Registration(loader, accepts)
            return entry
    available = available_loaders()
    listed = ", ".join(available) if available else "none"
    # 0.3's words first (callers may match on them), then what to install.
    raise RegistryError(f'No loader registered for typeId "{type_id}". Available loaders: '
                        f"{listed}. {install_hint(type_id)}")


def find_loader(type_id: str) -> Loader:
    """The loader for ``type_id``, importing its plugin on first use."""
    return _find(type_id).loader_fn


def assert_required_loaders(manifest: Mapping[str, Any]) -> None:
    """Raise :class:`RegistryError` before any loading when a typeId in
    ``manifest["requires"]`` (the nested bundles' loaders) has no loader, registered or
    installed. As in PyPI's wlearn 0.3."""
    for type_id in manifest.get("requires", ()):
        try:
            _find(type_id)
        except RegistryError as exc:
            raise RegistryError(f'Missing required loader for nested typeId "{type_id}". '
                                f"{exc}") from None  # 0.3's words first


def _snapshot(value: Any, label: str, seen: set[int]) -> Any:
    if isinstance(value, (Mapping, list, tuple)):
        if id(value) in seen:
            raise RegistryError(f"{label} must not contain cycles")
        seen.add(id(value))
        if isinstance(value, Mapping):
            copy: Any = MappingProxyType({k: _snapshot(v, f"{label}.{k}", seen)
                                          for k, v in value.items()})
        else:
            copy = tuple(_snapshot(v, f"{label}[{i}]", seen) for i, v in enumerate(value))
        seen.discard(id(value))
        return copy
    return value


def _make_load_context(loader_options: Mapping[str, Any] | None) -> Mapping[str, Any]:
    if loader_options is None:
        loader_options = {}
    if not isinstance(loader_options, Mapping):
        raise RegistryError("loader_options must be a dict keyed by typeId")
    options = MappingProxyType({type_id: _snapshot(value, f"loader_options[{type_id!r}]", set())
                                for type_id, value in loader_options.items()})
    return MappingProxyType({"loaderOptions": options})


def _load_with_context(data: BundleInput, context: Mapping[str, Any], *, verify: bool = True,
                       limits: Mapping[str, int] | None = None) -> Any:
    """Load with an already-built context: what a loader calls for its nested bundles, as
    0.3's ensembles do (``wlearn.registry._load_with_context``)."""
    if limits is None:
        # JavaScript has no fixed caps: by default a bundle is bounded by its own size, so
        # whatever @wlearn/core writes loads (spec/wlrn.md, differences from 0.3).
        manifest, toc, blobs = read_bundle(data, verify=verify)
    else:
        manifest, toc, blobs = (validate_bundle if verify else decode_bundle)(data,
                                                                              limits=limits)
    return _build(manifest, toc, blobs, context)


def _build(manifest: dict[str, Any], toc: list[dict[str, Any]], blobs: Any,
           context: Mapping[str, Any]) -> Any:
    type_id = manifest.get("typeId")
    if not type_id:
        raise RegistryError("Bundle manifest missing typeId")
    entry = _find(type_id)
    if "artifacts" in manifest:  # the 0.3 form; a legacy "requires" names no loaders
        assert_required_loaders(manifest)
    if entry.accepts_context:
        return entry.loader_fn(manifest, toc, blobs, context)
    return entry.loader_fn(manifest, toc, blobs)


def describe(manifest: dict[str, Any], toc: list[dict[str, Any]], blobs: Any, *,
             loader_options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What the loader of a bundle already read says of it, without building the model: the
    ``describe`` attribute of the loader, called as the loader would be (four arguments, the
    context as :func:`load` builds it). It checks what the loader checks before opening
    anything heavy, and raises what :func:`load` would raise for those checks; it returns
    ``{"model": {...}, "problems": [...], "notes": [...]}`` or a part of it: the model the
    bundle needs (``sha256``, ``name``, ``source``), why :func:`load` would still fail when it
    opens it (a model not at hand, another model's hash), and lines worth showing that do not
    stop a load (which other packages read the bundle). It never opens or runs a model. A loader
    without the hook gives ``{}``. Raises :class:`RegistryError` like :func:`load` for a
    missing typeId or loader.
    """
    type_id = manifest.get("typeId")
    if not type_id:
        raise RegistryError("Bundle manifest missing typeId")
    entry = _find(type_id)
    if "artifacts" in manifest:
        assert_required_loaders(manifest)
    hook = getattr(entry.loader_fn, "describe", None)
    if hook is None:
        return {}
    result = hook(manifest, toc, blobs, _make_load_context(loader_options))
    if not isinstance(result, Mapping):
        raise RegistryError(f"the describe hook of {type_id!r}'s loader returned "
                            f"{type(result).__name__}, not a dict")
    return dict(result)


def load_parts(manifest: dict[str, Any], toc: list[dict[str, Any]], blobs: Any, *,
               loader_options: Mapping[str, Any] | None = None) -> Any:
    """:func:`load` for a bundle already read (by :func:`wlearn.reading.read_bundle`):
    what :meth:`wlearn.Bundle.load` calls."""
    return _build(manifest, toc, blobs, _make_load_context(loader_options))


def load(data: BundleInput, *, loader_options: Mapping[str, Any] | None = None,
         verify: bool = True, limits: Mapping[str, int] | None = None) -> Any:
    """Decode a bundle (bytes-like, path or binary file) and build its model with the
    loader of its ``typeId``.

    Every SHA-256 is checked, nested bundles included (:func:`wlearn.bundle.validate_bundle`),
    unless ``verify=False``; ``limits`` bounds the input as there (default: bounds that grow
    with the input, as :func:`wlearn.reading.read_bundle`, not 0.3's fixed ones). Every typeId in the
    manifest's ``requires`` must have a loader before any is called. ``loader_options``
    (``{typeId: options}``) reach loaders registered with ``accepts_context=True`` as a
    read-only snapshot in ``context["loaderOptions"]``: how a caller passes a plugin's own
    load arguments (``wlearn.load(data, loader_options={"wlearn.mitra_onnx.classifier@1":
    {"onnx": "mitra.onnx"}})``), under this core and 0.3 alike. Raises :class:`BundleError`
    for a malformed bundle, :class:`RegistryError` for a missing loader.
    """
    return _load_with_context(data, _make_load_context(loader_options), verify=verify,
                              limits=limits)
