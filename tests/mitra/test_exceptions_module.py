"""``wlearn_mitra.exceptions`` names every error the plugin raises, the core's included (the
README: "The errors of the plugin are all in ``wlearn_mitra.exceptions``")."""

from __future__ import annotations

import ast
import builtins
from pathlib import Path

import wlearn.errors

import wlearn_mitra
from wlearn_mitra import exceptions

PACKAGE = Path(wlearn_mitra.__file__).parent


def _raised_names() -> dict[str, str]:
    """Names of the classes the package's ``raise X(...)`` statements call, but builtins and
    private ones: name -> one file that raises it."""
    found: dict[str, str] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                func = node.exc.func
                name = getattr(func, "id", None) or getattr(func, "attr", None)
                if (name and name.endswith("Error") and not name.startswith("_")
                        and not hasattr(builtins, name)):
                    found.setdefault(name, str(path.relative_to(PACKAGE)))
    return found


def test_every_error_the_plugin_raises_is_in_the_exceptions_module():
    raised = _raised_names()
    assert {"ValidationError", "BundleError", "ResourceLimitError"} <= set(raised)
    missing = {name: where for name, where in raised.items() if name not in exceptions.__all__}
    assert not missing, f"raised but not in wlearn_mitra.exceptions.__all__: {missing}"


def test_the_core_classes_are_the_cores_own():
    for name in ("WlearnError", "ValidationError", "BundleError", "ResourceLimitError",
                 "BackendError", "DisposedError"):
        assert getattr(exceptions, name) is getattr(wlearn.errors, name), name


def test_all_names_exist():
    assert len(set(exceptions.__all__)) == len(exceptions.__all__)
    for name in exceptions.__all__:
        assert hasattr(exceptions, name), name
