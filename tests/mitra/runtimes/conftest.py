"""The runtimes every behaviour of ``test_runtime_suite.py`` is run on, and what each one
accepts. A runtime whose package is not installed is skipped (OpenVINO is an extra).

Runtimes are driven only through the public API (``MitraEngine(..., runtime=...)`` and the
estimators' ``runtime`` parameter); what differs between them is written here, once."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field

import pytest


@dataclass(frozen=True)
class Runtime:
    name: str
    #: the ``precision`` values the runtime accepts (the order of its error message)
    precisions: tuple[str, ...]
    #: reduced precisions: (least, largest) max |probability difference| from its fp32 on
    #: the JS fixture cases: really reduced, and close
    reduced: dict[str, tuple[float, float]] = field(default_factory=dict)
    #: fp32 against ONNX Runtime's single graph on the same feed (the reference)
    atol: float = 1e-6
    #: ``"package"`` to import, or None for a dependency every install has
    package: str | None = None
    #: where its graphs are kept below ``optimized_dir`` (a glob), and how many files one
    #: graph is (named by the model's identity; a runtime's own caches lie elsewhere there)
    cache_glob: str = "*"
    cache_files: int = 1
    #: reduced precisions whose split pair answers as its single graph, within this
    pair_atol: dict[str, float] = field(default_factory=dict)
    #: reduced precisions some CPUs lack: the error's words where this one does
    unavailable: dict[str, str] = field(default_factory=dict)

    def runs(self, precision: str) -> bool:
        """Whether this machine runs ``precision`` on this runtime (OpenVINO's bf16 needs a
        CPU with bfloat16 arithmetic; any other accepted precision runs everywhere)."""
        if self.name == "openvino" and precision == "bf16":
            import openvino

            capabilities = openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
            return "BF16" in capabilities
        return precision in self.precisions


RUNTIMES = [
    # int8: dynamic quantisation, made once per model (0 < diff < 0.05 on the fixtures).
    Runtime("onnxruntime", ("fp32", "int8"), {"int8": (0.0, 0.05)}, atol=1e-6,
            cache_glob="*.onnx", pair_atol={"int8": 1e-6}),
    # OpenVINO's CPU kernels sum in another order than ONNX Runtime's: 1e-4 (fp32).
    Runtime("openvino", ("fp32", "bf16"), {"bf16": (1e-5, 0.1)}, atol=1e-4,
            package="openvino", cache_glob="openvino-ir/*", cache_files=2,
            unavailable={"bf16": "bfloat16"}),
]


@pytest.fixture(params=RUNTIMES, ids=lambda r: r.name)
def runtime(request) -> Runtime:
    """Each runtime in turn; skipped where its package is not installed."""
    r = request.param
    if r.package is not None and importlib.util.find_spec(r.package) is None:
        pytest.skip(f"{r.package} is not installed (wlearn-mitra's {r.package} extra)")
    return r
