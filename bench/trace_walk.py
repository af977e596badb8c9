"""Count the Python walk of one predict and one ``wlearn.load``: modules, functions, module
switches and input checks.

Two walks, each traced with ``sys.setprofile`` (Python calls only: ``call`` events, so C
functions such as numpy's and ONNX Runtime's run uncounted; generator resumptions count as
calls, as the profiler reports them):

(a) ``predict``: one ``MitraClassifier.predict`` of 64 query rows on an already-open engine,
    fitted on the breast cancer table shipped with wlearn-mitra (569 x 30; found under the
    installed package, wherever its data folder lies), one predict done before to warm;
(b) ``load``: one ``wlearn.load(bytes)`` of that classifier's bundle, after the fitted
    estimator is disposed and collected, so the load opens the model again.

The model is the built-in classifier unless ``--onnx`` names a file (then the load finds it
through ``WLEARN_MITRA_CLASSIFIER_ONNX``, set for the call). Counted for the
project's own modules (``wlearn``, ``wlearn_mitra``, ``wlrn`` and their submodules): distinct
modules, distinct functions (module + qualified name), calls, and module switches (two
consecutive project calls in different modules). Input checks: every function whose name
holds ``check`` or ``validat`` (not a dunder; any module, so scikit-learn's ``check_array``
would count), with the number of times it ran during walk (a). Only public entry points are called, so the
script runs unchanged on any layout of the package.

    python bench/trace_walk.py                        # a table per walk
    python bench/trace_walk.py --json bench/results/walk-before.json
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import re
import sys
import time
import warnings
from collections import Counter
from importlib import resources
from pathlib import Path

import numpy as np

PROJECT = ("wlearn", "wlearn_mitra", "wlrn")
CHECK = re.compile(r"check|validat", re.IGNORECASE)
QUERY_ROWS = 64
ENV_CLASSIFIER = "WLEARN_MITRA_CLASSIFIER_ONNX"


def is_project(module: str) -> bool:
    return module.split(".", 1)[0] in PROJECT


def is_check(qualname: str) -> bool:
    """An input check: a function named for checking or validating (not Python's own
    ``__instancecheck__``-style hooks)."""
    name = qualname.rsplit(".", 1)[-1]
    return not name.startswith("__") and CHECK.search(name) is not None


class Walk:
    """The Python calls made while it is active (``with Walk() as walk:``)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.seconds = 0.0

    def _profile(self, frame, event, arg) -> None:
        if event == "call":
            code = frame.f_code
            self.calls.append((frame.f_globals.get("__name__", "?"),
                               getattr(code, "co_qualname", code.co_name)))

    def __enter__(self) -> "Walk":
        self._start = time.perf_counter()
        sys.setprofile(self._profile)
        return self

    def __exit__(self, *exc) -> None:
        sys.setprofile(None)
        self.seconds = time.perf_counter() - self._start
        # The last call recorded is __exit__ itself: not part of the walk.
        if self.calls and self.calls[-1][1].endswith("__exit__"):
            self.calls.pop()

    def summary(self) -> dict:
        own = [call for call in self.calls if is_project(call[0])]
        switches = sum(1 for before, after in zip(own, own[1:]) if before[0] != after[0])
        modules = Counter(module for module, _ in own)
        checks = Counter(f"{module}:{name}" for module, name in self.calls
                         if is_check(name))
        return {
            "seconds": round(self.seconds, 6),
            "python_calls": len(self.calls),
            "modules_all": len({module for module, _ in self.calls}),
            "calls": len(own),
            "modules": len(modules),
            "functions": len(set(own)),
            "module_switches": switches,
            "calls_per_module": dict(sorted(modules.items(), key=lambda kv: (-kv[1], kv[0]))),
            "input_checks": dict(sorted(checks.items(), key=lambda kv: (-kv[1], kv[0]))),
        }


def _table(name: str) -> tuple[np.ndarray, np.ndarray]:
    """A data table shipped inside the installed wlearn_mitra (``<name>-X.npy``/``-y.npy``)."""
    root = Path(str(resources.files("wlearn_mitra")))
    found = sorted(root.rglob(f"{name}-X.npy"))
    if not found:
        raise SystemExit(f"no {name}-X.npy under {root}")
    return np.load(found[0]), np.load(found[0].with_name(f"{name}-y.npy"))


def trace(onnx: str | None) -> dict:
    import wlearn
    from wlearn_mitra import MitraClassifier

    X, y = _table("breast-cancer")
    query = X[:QUERY_ROWS]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the built-in model's notice
        model = MitraClassifier(onnx=onnx).fit(X, y)
        model.predict(query)  # warm: engine open, graphs and caches made
        with Walk() as predict:
            model.predict(query)
        data = model.save()
        model.dispose()
        del model
        gc.collect()
        # wlearn.load finds a model named by the environment, as a user's would.
        saved = os.environ.get(ENV_CLASSIFIER)
        if onnx is not None:
            os.environ[ENV_CLASSIFIER] = str(onnx)
        try:
            with Walk() as load:
                loaded = wlearn.load(data)
        finally:
            if saved is None:
                os.environ.pop(ENV_CLASSIFIER, None)
            else:
                os.environ[ENV_CLASSIFIER] = saved
    loaded.dispose()
    return {
        "model": onnx or "built-in classifier",
        "table": f"breast-cancer {X.shape[0]} x {X.shape[1]}, predict of {QUERY_ROWS} rows",
        "python": platform.python_version(),
        "predict": predict.summary(),
        "load": load.summary(),
    }


def show(result: dict) -> None:
    print(f"model: {result['model']}; {result['table']}")
    rows = ("modules", "functions", "calls", "module_switches", "python_calls", "modules_all",
            "seconds")
    print(f"{'':18}{'predict':>12}{'load':>12}")
    for row in rows:
        print(f"{row:18}{result['predict'][row]:>12}{result['load'][row]:>12}")
    print("\ninput checks during one predict (calls):")
    for name, count in result["predict"]["input_checks"].items():
        print(f"  {count:4}  {name}")
    for walk in ("predict", "load"):
        print(f"\nproject modules of {walk} (calls):")
        for name, count in result[walk]["calls_per_module"].items():
            print(f"  {count:4}  {name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--onnx", help="classifier ONNX file (default: the built-in model)")
    parser.add_argument("--json", metavar="PATH", help="also save the counts as JSON")
    args = parser.parse_args(argv)
    result = trace(args.onnx)
    show(result)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
