"""The core's modules import one another without a cycle, lazy (in-function) imports
included: each can be read, and imported, on its own."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "wlearn_py"


def _graph() -> dict[str, set[str]]:
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    assert not [p for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"], \
        "the core is one flat package"
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module in modules:
        tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module:
                    targets = [node.module.split(".")[0]]
                else:  # from . import x: the submodule x, else the package's __init__
                    targets = [a.name if a.name in modules else "__init__" for a in node.names]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("wlearn."):
                targets = [node.module.split(".")[1]]
            elif isinstance(node, ast.Import):
                targets = [a.name.split(".")[1] for a in node.names
                           if a.name.startswith("wlearn.")]
            graph[module].update(t for t in targets if t in modules and t != module)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_core_has_no_import_cycle():
    cycle = _cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_reading_policy_is_below_registry_and_view():
    graph = _graph()
    assert "reading" in graph["registry"] and "reading" in graph["view"]
    assert "view" not in graph["registry"]


def test_0_3_module_paths_keep_working():
    import wlearn.bundle
    import wlearn.errors
    import wlearn.registry
    import wlearn.view

    for name in ("encode_bundle", "decode_bundle", "validate_bundle", "read_bundle_input",
                 "write_bundle_output", "DEFAULT_BUNDLE_LIMITS", "NESTED_BUNDLE_MEDIA_TYPE"):
        assert hasattr(wlearn.bundle, name)
    for name in ("register", "load", "get_registry", "assert_required_loaders",
                 "_load_with_context"):
        assert hasattr(wlearn.registry, name)
    assert wlearn.view.read_bundle is wlearn.read_bundle is wlearn.reading.read_bundle
