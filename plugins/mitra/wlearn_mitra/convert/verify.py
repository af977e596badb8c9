"""Compare an exported Mitra ONNX graph with the PyTorch module it came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from wlearn.errors import ValidationError

from .checkpoint import CheckpointSource, load_model
from ..graphs._layout import ENCODER_INPUTS, INPUT_NAMES, cache_names, split_paths
from .tab2d import Tab2D

#: Default largest accepted |PyTorch - ONNX Runtime| on any output value.
TOLERANCE = 1e-4


@dataclass
class VerifyReport:
    """Max abs difference per (graph, case); ``ok`` when all are within ``tolerance``."""

    tolerance: float
    differences: dict[str, float] = field(default_factory=dict)

    @property
    def max_difference(self) -> float:
        return max(self.differences.values(), default=0.0)

    @property
    def ok(self) -> bool:
        # NaN never passes: a graph producing NaN where PyTorch does not is broken.
        return all(d <= self.tolerance for d in self.differences.values())

    def lines(self) -> list[str]:
        width = max(map(len, self.differences), default=0)
        rows = [
            f"{name:<{width}}  max |torch - onnx| = {d:.3g}"
            for name, d in self.differences.items()
        ]
        verdict = "OK" if self.ok else "FAIL"
        rows.append(
            f"{verdict}: largest difference {self.max_difference:.3g}, "
            f"tolerance {self.tolerance:g}"
        )
        return rows


def verification_cases(model: Tab2D, seed: int = 0) -> dict[str, tuple[np.ndarray, ...]]:
    """Named ``(x_support, y_support, x_query, padding_obs_support)`` inputs.

    Random normal values, integer values with many ties (where quantile edges coincide with
    data), padded support rows, and a batch of two tables.
    """
    rng = np.random.default_rng(seed)
    classifier = not model.scalar_output

    def labels(batch: int, rows: int) -> np.ndarray:
        if classifier:
            return rng.integers(0, model.dim_output, (batch, rows)).astype(np.int64)
        return rng.random((batch, rows)).astype(np.float32)

    def case(batch, rows, queries, features, ties=False, padded=0):
        if ties:
            x_support = rng.integers(0, 5, (batch, rows, features)).astype(np.float32)
            x_query = rng.integers(-1, 6, (batch, queries, features)).astype(np.float32)
        else:
            x_support = rng.standard_normal((batch, rows, features)).astype(np.float32)
            x_query = rng.standard_normal((batch, queries, features)).astype(np.float32)
        padding = np.zeros((batch, rows), dtype=bool)
        if padded:
            padding[-1, rows - padded:] = True
        return x_support, labels(batch, rows), x_query, padding

    return {
        "random 64x5, 32 queries": case(1, 64, 32, 5),
        "tie-heavy integers 128x6, 32 queries": case(1, 128, 32, 6, ties=True),
        "batch of 2, padded support rows": case(2, 50, 9, 4, padded=13),
        "tie-heavy, padded, 1 feature": case(2, 40, 7, 1, ties=True, padded=5),
    }


def _torch_output(model: Tab2D, inputs: tuple[np.ndarray, ...]) -> np.ndarray:
    with torch.no_grad():
        return model(*(torch.from_numpy(a) for a in inputs)).numpy()


def _session(path: Path):
    import onnxruntime as ort

    if not path.is_file():
        raise ValidationError(f"ONNX model file not found: {path}")
    try:
        return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ValidationError(f"ONNX Runtime could not load {path}: {exc}") from exc


def _kind(classifier: bool) -> str:
    return "classifier" if classifier else "regressor"


def _check_matches(session, path: Path, model: Tab2D, inputs: tuple[str, ...],
                   output: bool = True) -> None:
    """Refuse a graph that cannot take the checkpoint's inputs (a regressor's graph for a
    classifier's checkpoint, or another graph entirely) before running it: ONNX Runtime
    would answer with its own traceback."""
    classifier = not model.scalar_output
    types = {arg.name: arg.type for arg in session.get_inputs()}
    missing = [name for name in inputs if name not in types]
    if missing:
        raise ValidationError(f"{path} is not a Mitra graph of this checkpoint: it has no "
                              f"inputs {missing} (its inputs: {sorted(types)})")
    if "y_support" in types:
        graph_classifier = types["y_support"] == "tensor(int64)"
        if graph_classifier != classifier:
            raise ValidationError(
                f"{path} is a Mitra {_kind(graph_classifier)} graph (y_support is "
                f"{types['y_support']}), but the checkpoint is a {_kind(classifier)}: verify "
                f"the {_kind(classifier)}'s graph against it")
    if not output:
        return
    outputs = {arg.name: arg.shape for arg in session.get_outputs()}
    shape = outputs.get("output")
    rank = 2 if model.scalar_output else 3
    if shape is None or (isinstance(shape, list) and len(shape) != rank):
        raise ValidationError(
            f"{path} gives {'no output' if shape is None else f'an output of rank {len(shape)}'}"
            f" named 'output', where the checkpoint's {_kind(classifier)} gives rank {rank}")


def _run(session, path: Path, outputs: list[str], feeds: dict) -> list:
    try:
        return session.run(outputs, feeds)
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ValidationError(f"ONNX Runtime could not run {path} on the checkpoint's inputs "
                              f"(is it this checkpoint's graph?): {exc}") from exc


def verify(
    checkpoint: CheckpointSource,
    onnx_path: str | Path,
    variant: str | None = None,
    *,
    tolerance: float = TOLERANCE,
    seed: int = 0,
    split: bool | None = None,
) -> VerifyReport:
    """Run the checkpoint in PyTorch and the ONNX graph in ONNX Runtime on the same inputs.

    With ``split`` (default: when the files exist) the encoder/decoder pair next to
    ``onnx_path`` (see :func:`~wlearn_mitra.convert.export.split_paths`) is checked too.
    """
    model = load_model(checkpoint, variant)
    onnx_path = Path(onnx_path)
    single = _session(onnx_path)
    encoder_path, decoder_path = split_paths(onnx_path)
    if split is None:
        split = encoder_path.is_file() and decoder_path.is_file()
    pair = (_session(encoder_path), _session(decoder_path)) if split else None
    _check_matches(single, onnx_path, model, INPUT_NAMES)
    if pair is not None:
        _check_matches(pair[0], encoder_path, model, ENCODER_INPUTS, output=False)

    report = VerifyReport(tolerance)
    for name, inputs in verification_cases(model, seed).items():
        expected = _torch_output(model, inputs)
        feeds = dict(zip(INPUT_NAMES, inputs))
        (got,) = _run(single, onnx_path, ["output"], feeds)
        report.differences[name] = _difference(expected, got)
        if pair is not None:
            encoder, decoder = pair
            names = cache_names(model.n_layers)
            cache = _run(encoder, encoder_path, list(names),
                         {k: feeds[k] for k in ENCODER_INPUTS})
            decoder_feeds = {"x_query": feeds["x_query"], **dict(zip(names, cache))}
            (got,) = _run(decoder, decoder_path, ["output"], decoder_feeds)
            report.differences[f"{name} [encoder+decoder]"] = _difference(expected, got)
    return report


def _difference(expected: np.ndarray, got: np.ndarray) -> float:
    if expected.shape != got.shape:
        raise ValidationError(f"ONNX output has shape {got.shape}, PyTorch {expected.shape}")
    # np.max propagates NaN, so a NaN anywhere fails the check.
    return float(np.max(np.abs(expected.astype(np.float64) - got.astype(np.float64)), initial=0.0))
