"""The floors of wlearn_mitra (plugins/mitra/ARCHITECTURE.md): what may import what.

Every import inside the package, at module level or inside a function, read with ``ast``
(no module is imported). A module may import modules of a lower floor and modules of its own
folder; nothing imports upward or sideways into another folder of its floor, no two modules
import each other through any path, and a runtime never imports another runtime.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import wlearn_mitra

PACKAGE = Path(wlearn_mitra.__file__).parent

#: Floor of each top-level name of the package (a folder or a module), lowest first; the
#: same table as in ARCHITECTURE.md.
FLOORS = {
    "exceptions": 0, "_hints": 0, "_cpu": 0, "_tasks": 0,
    "inputs": 1,
    "graphs": 2, "bundles": 2,
    "runtimes": 3,
    "engine": 4,
    "estimators": 5, "convert": 5,
    "loaders": 6, "pretrain": 6,
    "demo": 7,
    "__init__": 8, "cli": 9,
}
#: What may sit beside each other on a floor and still import one another: the foundation's
#: exceptions module words its install hints with _hints.
SIDEWAYS = {("exceptions", "_hints")}
#: The runtime modules: one per runtime, never importing another.
RUNTIMES = {"runtimes._ort", "runtimes._openvino"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _imports(path: Path) -> set[str]:
    """The package's modules ``path`` imports (dotted, relative to wlearn_mitra)."""
    here = _module_name(path).split(".")
    if not _is_package(path) or here == ["__init__"]:
        here = here[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)] if node.level > 1 else list(here)
                base = base + (node.module.split(".") if node.module else [])
            elif node.module and node.module.split(".")[0] == "wlearn_mitra":
                base = node.module.split(".")[1:]
            else:
                continue
            for alias in node.names:
                candidate = ".".join([*base, alias.name])
                found.add(candidate if _exists(candidate) else ".".join(base))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "wlearn_mitra":
                    found.add(".".join(alias.name.split(".")[1:]))
    return {name or "__init__" for name in found}


def _exists(dotted: str) -> bool:
    path = PACKAGE.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _graph() -> dict[str, set[str]]:
    return {
        _module_name(path): _imports(path) - {_module_name(path)}
        for path in sorted(PACKAGE.rglob("*.py"))
    }


def _top(module: str) -> str:
    return module.split(".")[0]


def test_every_top_level_name_has_a_floor():
    names = {_top(name) for name in _graph()}
    assert names <= set(FLOORS), f"give these a floor in ARCHITECTURE.md: {names - set(FLOORS)}"


def test_nothing_imports_upward_or_sideways():
    wrong = []
    for module, imported in _graph().items():
        for target in imported:
            a, b = _top(module), _top(target)
            if a == b or (a, b) in SIDEWAYS:
                continue
            if FLOORS[b] >= FLOORS[a]:
                wrong.append(f"{module} (floor {FLOORS[a]}) imports {target} (floor {FLOORS[b]})")
    assert not wrong, "\n".join(wrong)


def test_no_import_cycle():
    graph = _graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if nxt == "__init__" or node == "__init__":
                continue  # the package's face imports everything; submodules never import it
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(trail[trail.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, "\n".join(cycles)


def test_no_module_imports_the_package_face():
    users = [m for m, imported in _graph().items() if "__init__" in imported and m != "cli"]
    assert not users, users


def test_a_runtime_never_imports_another():
    graph = _graph()
    assert RUNTIMES <= set(graph)
    for runtime in RUNTIMES:
        others = graph[runtime] & (RUNTIMES - {runtime})
        assert not others, f"{runtime} imports {others}"


@pytest.mark.parametrize("source, wrong", [
    ("from ..engine import _engine\n", "graphs._x (floor 2) imports engine._engine (floor 4)"),
    ("from ..bundles import _format\n", "graphs._x (floor 2) imports bundles._format (floor 2)"),
])
def test_the_floor_check_fails_on_an_upward_import(tmp_path, monkeypatch, source, wrong):
    # The check itself can fail: a module of graphs/ importing upward or sideways is reported.
    fake = PACKAGE / "graphs" / "_x.py"
    real_rglob = Path.rglob

    def rglob(self, pattern):
        yield from real_rglob(self, pattern)
        if self == PACKAGE:
            yield fake

    real_read = Path.read_text
    monkeypatch.setattr(Path, "rglob", rglob)
    monkeypatch.setattr(Path, "read_text",
                        lambda self, *a, **k: source if self == fake else real_read(self, *a, **k))
    with pytest.raises(AssertionError, match=wrong.replace("(", r"\(").replace(")", r"\)")):
        test_nothing_imports_upward_or_sideways()
