"""What the fuzzer runs on each input, and what counts as a finding.

Two targets read untrusted bytes:

- :func:`check_bundle`: ``decode_bundle`` and ``validate_bundle`` of the codec (``wlrn``) and
  of the wlearn core (both manifest forms, nested bundles), and ``wlearn.load`` (which
  runs the Mitra loaders: meta JSON, support arrays, label and category extensions); a model
  that loads is saved and loaded again (the state must survive unchanged) and, for some
  inputs, asked for a prediction.
- :func:`check_onnx`: the ONNX-model inspection of ``wlearn_mitra._onnxinfo`` and, for some
  inputs, opening a ``MitraEngine`` on the bytes (ONNX Runtime's session and the checks of
  the graph's inputs) and predicting with it.

A finding is any exception that is not a ``WlearnError`` (or, for the protobuf walkers,
not the ``ValueError``/``IndexError`` their callers catch), a result that breaks an
invariant, or a Python allocation beyond :func:`allocation_limit` while tracemalloc traces.
Hangs are the fuzzer's to catch (libFuzzer ``-timeout``).
"""

from __future__ import annotations

import contextlib
import tracemalloc
import warnings
from functools import partial
from pathlib import Path
from typing import Iterator

import numpy as np

import wlearn
import wlrn
from wlearn import WlearnError, registry

DATA = Path(__file__).resolve().parents[2] / "plugins" / "mitra" / "wlearn_mitra" / "data"
CLASSIFIER = DATA / "tiny-mitra-classifier.onnx"
REGRESSOR = DATA / "tiny-mitra-regressor.onnx"
CLASSIFIER_BYTES, REGRESSOR_BYTES = CLASSIFIER.read_bytes(), REGRESSOR.read_bytes()


class Finding(AssertionError):
    """An input made a reader misbehave."""


def allocation_limit(n_bytes: int) -> int:
    """The most Python-heap bytes reading an input of ``n_bytes`` may take at its peak.

    Parsed JSON takes up to ~20x its text, arrays are copied once or twice; 64x plus a fixed
    16 MiB is generous for every reader and still far below what a forged length or count
    would make a careless reader allocate.
    """
    return 16 * 2**20 + 64 * n_bytes


@contextlib.contextmanager
def bounded_allocation(n_bytes: int, what: str) -> Iterator[None]:
    """Raise a Finding if the block's peak traced allocation exceeds the limit (only while
    tracemalloc is tracing; numpy's buffers are traced too)."""
    if not tracemalloc.is_tracing():
        yield
        return
    base = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    yield
    peak = tracemalloc.get_traced_memory()[1] - base
    if peak > allocation_limit(n_bytes):
        raise Finding(f"{what}: allocated {peak:,} bytes at peak for a {n_bytes:,}-byte input")


_ready = False


def setup() -> None:
    """Bind the tiny models to the Mitra typeIds (every call: tests/conftest.py unbinds
    models after each test) and quieten ONNX Runtime's log (once)."""
    global _ready
    from wlearn_mitra import register_loaders

    # Bound as bytes: the engine cache then knows them by identity, where a path is stat'ed
    # and its protobuf walked (for external data files) on every load.
    register_loaders(classifier=CLASSIFIER_BYTES, regressor=REGRESSOR_BYTES)
    if _ready:
        return
    import onnxruntime as ort

    ort.set_default_logger_severity(4)  # malformed graphs are expected; keep the log quiet
    # The installed plugins do not change during a run; scanning every distribution's
    # metadata again for each unknown typeId would take most of the run's time.
    entry_points = registry._entry_points()
    registry._entry_points = lambda: entry_points
    _ready = True


def _only_wlearn(exc: BaseException, where: str) -> None:
    if not isinstance(exc, WlearnError):
        raise Finding(f"{where} raised {type(exc).__name__}: {exc}") from exc


# --- bundles --------------------------------------------------------------------------------

def check_bundle(data: bytes, *, predict: bool = False) -> str:
    """Run every bundle reader on ``data``; returns how far it got (for statistics)."""
    setup()
    with bounded_allocation(len(data), "decode_bundle/validate_bundle"):
        decoded = _decode(data)
    with bounded_allocation(len(data), "wlearn.load"):
        try:
            model = wlearn.load(data, verify=False)
        except Exception as exc:  # noqa: BLE001 - the point is to sort exceptions
            _only_wlearn(exc, "wlearn.load")
            return "codec" if decoded is None else "refused by loader"
    if decoded is None:
        raise Finding("wlearn.load accepted a bundle decode_bundle refuses")
    if not hasattr(model, "support_x_"):
        return "other model"
    _check_model(model)
    with bounded_allocation(len(data), "save/load round trip"):
        _round_trip(model)
    if predict:
        _predict(model)
    return "loaded"


_READERS = [
    ("wlrn.decode_bundle", wlrn.decode_bundle),
    ("wlrn.validate_bundle", wlrn.validate_bundle),
    ("wlrn.validate_bundle(strict=True)", partial(wlrn.validate_bundle, strict=True)),
    ("wlearn.decode_bundle", wlearn.decode_bundle),
    ("wlearn.validate_bundle", wlearn.validate_bundle),
    ("wlearn.validate_bundle(allow_legacy_manifest=False)",
     partial(wlearn.validate_bundle, allow_legacy_manifest=False)),
]


def _decode(data: bytes):
    """Every bundle reader's verdict; the manifest if the lenient wlearn decoder accepts."""
    accepted = {}
    for name, fn in _READERS:
        try:
            manifest, toc, blobs = fn(data)
        except Exception as exc:  # noqa: BLE001
            _only_wlearn(exc, name)
            accepted[name] = None
            continue
        if not isinstance(manifest, dict) or not isinstance(toc, list):
            raise Finding(f"{name} returned a {type(manifest).__name__} manifest")
        first: dict[str, int] = {}
        for entry in toc:
            if isinstance(entry["id"], str):  # as JS's toc.find: the first entry of an id
                first.setdefault(entry["id"], entry["length"])
        for artifact_id, length in first.items():
            if len(blobs[artifact_id]) != length:
                raise Finding(f"{name}: artifact {artifact_id!r} has the wrong length")
        accepted[name] = manifest
    # Each stricter reader accepts only what the more lenient one does.
    for lenient, strict in [("wlrn.decode_bundle", "wlrn.validate_bundle"),
                            ("wlrn.validate_bundle", "wlrn.validate_bundle(strict=True)"),
                            ("wlrn.decode_bundle", "wlearn.decode_bundle"),
                            ("wlearn.decode_bundle", "wlearn.validate_bundle"),
                            ("wlearn.validate_bundle", _READERS[-1][0])]:
        if accepted[strict] is not None and accepted[lenient] is None:
            raise Finding(f"{strict} accepts a bundle {lenient} refuses")
    return accepted["wlearn.decode_bundle"]


def _check_model(model) -> None:
    x = model.support_x_
    if x.dtype != np.float32 or x.ndim != 2 or x.shape[1] != model.n_features_in_:
        raise Finding(f"support_x_ is {x.dtype} {x.shape}, n_features_in_ {model.n_features_in_}")
    if len(model.support_y_) != len(x):
        raise Finding("support_y_ and support_x_ differ in length")
    classes = getattr(model, "classes_", None)
    if classes is not None:
        if len(classes) == 0 or (len(classes) > 1 and not np.all(classes[:-1] < classes[1:])):
            raise Finding(f"classes_ are not sorted and distinct: {classes!r}")
        if not np.isin(model.support_y_, classes).all():
            raise Finding("support_y_ holds a label that classes_ lacks")
    # A regressor's NaN targets load (@wlearn/mitra writes them); predict refuses them.


def _same(a: np.ndarray, b: np.ndarray, name: str) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if name == "support_x_":  # bit for bit, NaN and infinities included
        return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()
    # Labels: integral floats are written as JS's integer classes, as fit does (2.0 -> 2).
    return a.shape == b.shape and bool(np.all((a == b) | ((a != a) & (b != b))))


def _round_trip(model) -> None:
    # Bundles keep what @wlearn/mitra wrote as given (a seed of "abc"), which save may refuse.
    try:
        data = model.save()
    except Exception as exc:  # noqa: BLE001
        _only_wlearn(exc, "save of a loaded model")
        return
    try:
        again = wlearn.load(data)
    except Exception as exc:  # noqa: BLE001
        raise Finding(f"a saved model does not load again: {type(exc).__name__}: "
                      f"{exc}") from exc
    for name in ("support_x_", "support_y_", "classes_"):
        if hasattr(model, name) and not _same(getattr(model, name), getattr(again, name), name):
            raise Finding(f"{name} changed in a save/load round trip")
    # 512.0 written by another writer comes back as 512: equal numbers, as in JavaScript.
    if model.get_params() != again.get_params():
        raise Finding(f"parameters changed in a save/load round trip: {model.get_params()} "
                      f"became {again.get_params()}")


def _predict(model) -> None:
    # A bundle's nEstimators multiplies the cost of every prediction as a caller's
    # n_estimators does; what the probe checks is the answer, so a few members suffice.
    if isinstance(model.n_estimators, int) and model.n_estimators > 4:
        model.set_params(n_estimators=4)
    query = np.asarray(model.support_x_[:2], dtype=np.float64)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # plain arrays for a model fitted on named columns
            if hasattr(model, "classes_"):
                proba = model.predict_proba(query)
                labels = model.predict(query)
            else:
                values = model.predict(query)
    except Exception as exc:  # noqa: BLE001
        _only_wlearn(exc, "predict of a loaded model")
        return
    if hasattr(model, "classes_"):
        if proba.shape != (len(query), len(model.classes_)) or not np.isfinite(proba).all():
            raise Finding(f"predict_proba gave {proba.shape} {proba!r}")
        if not np.allclose(proba.sum(axis=1), 1.0, atol=1e-5):
            raise Finding("predict_proba rows do not sum to 1")
        if not np.isin(labels, model.classes_).all():
            raise Finding("predict gave a label outside classes_")
    elif values.shape != (len(query),) or not np.isfinite(values).all():
        raise Finding(f"a regressor predicted {values!r} from finite support targets")


# --- ONNX models ----------------------------------------------------------------------------

def check_onnx(data: bytes, *, engine: bool = False) -> str:
    """Run the ONNX-model inspection on ``data``; with ``engine``, open and run it too."""
    from wlearn_mitra.graphs import _identity, _onnxinfo
    from wlearn_mitra.engine import _planning

    with bounded_allocation(len(data), "_onnxinfo"):
        for classification in (True, False):
            try:
                shape = _onnxinfo.model_shape(data, classification)
            except Exception as exc:  # noqa: BLE001 - documented to fall back, never raise
                raise Finding(f"model_shape raised {type(exc).__name__}: {exc}") from exc
            for name in ("dim", "n_heads", "n_slots"):
                value = getattr(shape, name)
                if type(value) is not int or value < 1:
                    raise Finding(f"model_shape gave {name}={value!r}")
            try:
                rows = _planning.plan(shape, 512, 100, max_memory_mb=1024).rows
            except WlearnError:  # a budget the sizes read cannot fit: refused, as it should
                continue
            if rows < 1:
                raise Finding(f"the predict plan has {rows} rows per chunk")
        for fn in (_onnxinfo.initializer_dims, _onnxinfo.graph_input_names, _onnxinfo.metadata,
                   _onnxinfo.external_locations):
            try:
                fn(data)
            except (ValueError, IndexError):
                pass  # what engine._stacked and model_shape catch
            except Exception as exc:  # noqa: BLE001
                raise Finding(f"{fn.__name__} raised {type(exc).__name__}: {exc}") from exc
        try:
            _identity.model_identity(data, memoryview(data))
        except Exception as exc:  # noqa: BLE001
            _only_wlearn(exc, "model_identity")
    if not engine:
        return "inspected"
    return _open_engine(data)


def _open_engine(data: bytes) -> str:
    from wlearn_mitra.engine import MitraEngine

    setup()
    outcome = "refused"
    for task in ("classification", "regression"):
        try:
            eng = MitraEngine(data, task=task, split=None)
        except Exception as exc:  # noqa: BLE001
            _only_wlearn(exc, f"MitraEngine({task!r})")
            continue
        outcome = "opened"
        rng = np.random.default_rng(0)
        xs, xq = rng.normal(size=(6, 3)), rng.normal(size=(2, 3))
        ys = np.array([0, 1, 2, 0, 1, 2]) if task == "classification" else rng.normal(size=6)
        try:
            out = eng.predict(xs, ys, xq, n_classes=3 if task == "classification" else None)
        except Exception as exc:  # noqa: BLE001
            _only_wlearn(exc, f"predict of an engine opened on fuzzed bytes ({task})")
            continue
        if not np.isfinite(out).all() and task == "classification":
            raise Finding(f"an opened engine predicted non-finite probabilities {out!r}")
        del eng
    return outcome

