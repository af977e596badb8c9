"""Every Python example in the README and in docs/ runs as written.

Whatever ```python blocks the files hold are run, each on its own as a fresh script (a reader
may start at any section) in an empty temporary folder, with none of the user's
WLEARN_MITRA_* variables set. README examples may import only what a fresh
``pip install ./codec ./ ./plugins/mitra`` brings (the standard library, numpy, onnxruntime and
our packages); examples in docs/ may need an extra, and are skipped, naming it, without it.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
#: What a fresh install of the three distributions provides besides the standard library.
FRESH_INSTALL = {"wlearn", "wlrn", "wlearn_mitra", "numpy", "onnxruntime"}
#: How to get a module a docs example needs.
EXTRAS = {
    "dask": "the dask extra: pip install './plugins/mitra[dask]'",
    "distributed": "the dask extra: pip install './plugins/mitra[dask]'",
    "dask_ml": "dask-ml: pip install dask-ml",
    "pandas": "pandas: pip install pandas",
}


def examples() -> list:
    found = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for match in BLOCK.finditer(text):
            line = text.count("\n", 0, match.start()) + 2
            name = f"{doc.relative_to(ROOT)}:{line}"
            found.append(pytest.param(doc, match.group(1), id=name))
    return found


def imported_modules(code: str) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            modules.add(node.module.split(".")[0])
    return modules


def test_the_readme_has_python_examples():
    assert any(doc.name == "README.md" for doc, *_ in (p.values for p in examples()))


@pytest.mark.parametrize("doc, code", examples())
def test_example_runs_as_written(doc: Path, code: str, tmp_path: Path):
    modules = imported_modules(code)
    if doc.name == "README.md":
        extra = sorted(modules - FRESH_INSTALL - set(sys.stdlib_module_names))
        assert not extra, f"README examples must run on a fresh install; this one imports {extra}"
    for module in sorted(modules):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"needs {EXTRAS.get(module, module)}")
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WLEARN_MITRA_")}
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"the example failed:\n{done.stdout}\n{done.stderr[-4000:]}"
