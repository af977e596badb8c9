"""The code a fuzz corpus reaches: each input run once under coverage.py, then the share of
lines reached per module and per reader function.

    python tests/fuzz/coverage_report.py bundle WORK/corpus tests/fuzz/corpus/bundle
    python tests/fuzz/coverage_report.py onnx WORK/corpus tests/fuzz/corpus/onnx

Inputs run as in the campaign (every 16th bundle also predicts, every 32nd ONNX input opens
an engine), so the figures are those of what the campaign exercised.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import coverage

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

#: What each target is for: module -> functions (empty: the whole module).
READERS = {
    "bundle": {
        "wlrn/bundle.py": ["decode_bundle", "validate_bundle", "_check_placement",
                           "_check_fields", "_check_overlaps", "read_input"],
        "wlrn/_json.py": ["parse_strict", "_check_depth", "_unique_object", "_parse_int",
                          "_parse_float"],
        "wlearn_py/bundle.py": ["decode_bundle", "validate_bundle", "_decode", "_validate",
                                "_bounded_view"],
        "wlearn_py/_form.py": ["_check_declarations", "_check_strict", "_check_requires"],
        "wlearn_py/registry.py": ["load", "_load_with_context", "_find", "find_loader",
                                  "assert_required_loaders", "_check_type_id"],
        "wlearn_mitra/_artifacts.py": ["decode", "_array", "_int_field", "_views"],
        "wlearn_mitra/_labels.py": ["from_json"],
        "wlearn_mitra/loaders.py": [],
        "wlearn_mitra/estimators.py": ["_from_bundle"],
    },
    "onnx": {
        "wlearn_mitra/_onnxinfo.py": [],
        "wlearn_mitra/_identity.py": ["model_identity"],
        "wlearn_mitra/engine.py": ["_check_inputs", "_check_output", "_args", "_y_dtype",
                                   "_model_source", "_new_session", "__init__", "_checked"],
    },
}


def _functions(path: str, names: list[str]) -> set[int]:
    """Line numbers of the named functions' bodies (all functions of that name)."""
    tree = ast.parse(Path(path).read_text())
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in names:
            lines.update(range(node.lineno, node.end_lineno + 1))
    return lines


def main(argv: list[str]) -> None:
    target, folders = argv[1], argv[2:]
    import fuzz

    opts = fuzz._options([target, "--predict-every", "16", "--engine-every", "32",
                          "--trace-every", "0"])[0]
    cov = coverage.Coverage(data_file=None, source=["wlrn", "wlearn", "wlearn_mitra"])
    cov.start()
    fuzz.replay(opts, folders)
    cov.stop()
    data = cov.get_data()
    print(f"{'module / functions':58} {'lines':>7} {'reached':>8} {'share':>6}")
    for suffix, names in READERS[target].items():
        path = next((f for f in data.measured_files() if f.endswith(suffix)), None)
        if path is None:
            print(f"{suffix:58} not imported")
            continue
        _, statements, _, missing, _ = cov.analysis2(path)
        wanted = set(statements)
        if names:
            wanted &= _functions(path, names)
        reached = wanted - set(missing)
        label = suffix + (f" ({', '.join(names)})" if names else "")
        print(f"{label[:58]:58} {len(wanted):7} {len(reached):8} "
              f"{len(reached) / max(len(wanted), 1):6.0%}")


if __name__ == "__main__":
    main(sys.argv)
