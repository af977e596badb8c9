"""Pretraining our Tab2D on synthetic tables (needs the ``convert`` extra: torch).

The model is :class:`~wlearn_mitra.convert.tab2d.Tab2D` itself, so its state dict has
AutoGluon's keys and every path that takes a Mitra checkpoint takes ours. The recipe follows
nanoTabPFN (Pfefferle et al., 2025: a few layers, schedule-free AdamW, gradient clipping at
1.0) with the prior of :mod:`.prior`: half the batches are small easy tables, without which
training sits at the class frequencies for a long time.

A run is a folder holding ``state.pt`` (weights, optimiser state, step, seconds trained),
``run.json`` (the settings) and ``log.jsonl`` (one line per report: loss, tables seen and the
held-out scores of :func:`evaluate`). Batch ``i`` is drawn from ``default_rng([seed, i])``,
so a run stopped and resumed gives the same tables as one that never stopped.

Classification loss: cross-entropy over each table's own K logits (the engine reads logits
0..K-1 the same way). Regression: targets min-max scaled by the support set as the engine
scales them (upstream Mitra's ``minmax``), clipped to [-1, 2] (targets far outside the
support's range otherwise cause loss spikes), mean squared error. Regression with a bin head
(``n_bins`` > 0, Mitra-v2's regressor): the scaled targets of support and query rows become
bin ids over ``linspace(-0.5, 1.5, n_bins + 1)`` as AutoGluon's regression-as-classification
path makes them (:func:`bin_ids`), the support ids are fed as class ids, and the loss is the
cross-entropy of the query rows' bins.

``prior`` selects the version of :mod:`.prior` (a run records it; runs made before versions
existed have none in ``run.json`` and draw version 1). ``init`` is a checkpoint folder or a
run folder (its averaged weights): a model of the same shape starts from all of it, another
from its body; a bin-head regressor started from a scalar regressor gets bin embeddings equal
to the scalar y embedding at the bin centres, so its body first sees what it was trained on,
and a head whose softmax is a Gaussian around the scalar head's prediction.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..convert.checkpoint import build_model, save_checkpoint
from ..convert.tab2d import Tab2D
from .prior import LATEST, VERSIONS, sample_batch, sample_shape

TASK_NAMES = {"classification": "CLASSIFICATION", "regression": "REGRESSION"}
STATE_FILE = "state.pt"
RUN_FILE = "run.json"
LOG_FILE = "log.jsonl"
CHECKPOINT_DIR = "checkpoint"


@dataclass
class RunSettings:
    """Everything that defines a run; stored in ``run.json`` and checked on resume."""

    task: str = "classification"
    seed: int = 0
    dim: int = 64
    n_layers: int = 3
    n_heads: int = 4
    lr: float = 3e-3
    warmup_steps: int = 300
    tokens_per_step: int = 12288
    max_features: int = 64
    max_support: int = 512
    easy_fraction: float = 0.5
    init: str | None = None  # a checkpoint or run folder that starts us (see the module doc)
    threads: int = 1
    report_seconds: float = 300.0
    extra: dict = field(default_factory=dict)
    prior: int = 1  # version of .prior; 1 for runs whose run.json predates versions
    n_bins: int = 0  # regression only: 0 = scalar head (MSE), else a bin head (cross-entropy)

    def __post_init__(self) -> None:
        if self.task not in TASK_NAMES:
            raise ValueError(f"task must be one of {sorted(TASK_NAMES)}, not {self.task!r}")
        if self.prior not in VERSIONS:
            raise ValueError(f"prior must be one of {VERSIONS}, not {self.prior!r}")
        if self.n_bins < 0 or self.n_bins == 1 or (self.n_bins and self.task != "regression"):
            raise ValueError(f"n_bins must be 0 or at least 2, and only for regression; got "
                             f"{self.n_bins} for {self.task}")
        for name in ("dim", "n_layers", "n_heads", "tokens_per_step", "max_features",
                     "max_support", "threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name, low in (("seed", 0), ("warmup_steps", 0)):
            if getattr(self, name) < low:
                raise ValueError(f"{name} must be at least {low}, got {getattr(self, name)}")
        if self.dim % self.n_heads:
            raise ValueError(f"dim {self.dim} is not divisible by n_heads {self.n_heads}")
        if not 0 < self.lr < math.inf:
            raise ValueError(f"lr must be a positive finite number, got {self.lr}")
        if not 0 <= self.easy_fraction <= 1:
            raise ValueError(f"easy_fraction must be in [0, 1], got {self.easy_fraction}")
        if not 0 < self.report_seconds < math.inf:
            raise ValueError(f"report minutes must be positive and finite, got "
                             f"{self.report_seconds / 60}")


#: Width (scaled-target units) of the Gaussian a bin head warm-started from a scalar
#: regressor predicts around the scalar prediction (about its root mean squared error).
WARM_START_WIDTH = 0.2
#: Edges of a bin head's bins over the min-max scaled target (AutoGluon's regression-CE path).
BIN_RANGE = (-0.5, 1.5)


def bin_edges(n_bins: int) -> torch.Tensor:
    """float32 [n_bins + 1]: ``torch.linspace(-0.5, 1.5, n_bins + 1)`` as AutoGluon makes it."""
    return torch.linspace(*BIN_RANGE, n_bins + 1)


def bin_centres(n_bins: int) -> torch.Tensor:
    """float32 [n_bins]: the middle of each bin."""
    edges = bin_edges(n_bins)
    return (edges[:-1] + edges[1:]) / 2


def bin_ids(scaled: torch.Tensor, n_bins: int) -> torch.Tensor:
    """int64 bin ids of min-max scaled targets (any shape): ``bucketize(y, edges) - 1`` in
    float32, clamped to [0, n_bins - 1], as AutoGluon's ``trainer_finetune`` does."""
    ids = torch.bucketize(scaled.float(), bin_edges(n_bins)) - 1
    return ids.clamp(0, n_bins - 1)


def _optimizer(model: torch.nn.Module, settings: RunSettings):
    try:
        import schedulefree
    except ImportError as exc:  # pragma: no cover - the extra installs it
        from .._hints import install_hint

        raise ImportError(f"pretraining needs schedulefree: {install_hint('pretrain')}") from exc
    return schedulefree.AdamWScheduleFree(
        model.parameters(), lr=settings.lr, warmup_steps=settings.warmup_steps, weight_decay=0.0
    )


def new_model(settings: RunSettings, warm_start: bool = True) -> Tab2D:
    """A freshly initialised Tab2D; with ``warm_start``, started from ``settings.init``."""
    if settings.task == "classification":
        output = 10
    else:
        output = settings.n_bins or 1
    torch.manual_seed(settings.seed)
    model = Tab2D(settings.dim, output, settings.n_layers, settings.n_heads,
                  TASK_NAMES[settings.task])
    with torch.no_grad():  # upstream's init_weights: embeddings N(0, 1)
        model.x_embedding.x_embedding.weight.normal_()
        model.y_embedding.y_mask.weight.normal_()
        if not model.scalar_output:
            model.y_embedding.y_embedding.weight.normal_()
    if settings.init and warm_start:
        _warm_start(model, _load_init(settings.init))
    return model


def _load_init(source: str) -> Tab2D:
    """The model in a checkpoint folder, or a run folder's averaged model."""
    folder = Path(source)
    if (folder / RUN_FILE).is_file() and (folder / STATE_FILE).is_file():
        return Run(folder).averaged_model()
    from ..convert.checkpoint import load_model

    return load_model(source)


def _warm_start(model: Tab2D, init: Tab2D) -> None:
    state = init.state_dict()
    if init.config == model.config:
        model.load_state_dict(state)
        return
    body = {k: v for k, v in state.items()
            if not k.startswith(("y_embedding.y_embedding", "final_layer."))}
    missing = model.load_state_dict(body, strict=False)
    if missing.unexpected_keys:
        raise ValueError(f"--init checkpoint does not fit: {missing.unexpected_keys[:4]}")
    if init.scalar_output and model.task == "REGRESSION" and not model.scalar_output:
        linear = init.y_embedding.y_embedding  # Linear(1, dim) of the scaled target
        with torch.no_grad():
            centres = bin_centres(model.dim_output)[:, None]
            model.y_embedding.y_embedding.weight.copy_(linear(centres))
            # Logits c_i * p / s^2 - c_i^2 / (2 s^2), p the scalar head's prediction (linear
            # in the features, as a head must be): softmax over the bins is a Gaussian of
            # width s around p, so the bin model starts as good as the scalar one.
            head, width = init.final_layer, WARM_START_WIDTH
            centres = centres[:, 0]
            model.final_layer.weight.copy_(centres[:, None] * head.weight / width**2)
            model.final_layer.bias.copy_(centres * head.bias / width**2
                                         - centres**2 / (2 * width**2))


def _step_batch(settings: RunSettings, step: int):
    """The tables of training step ``step``: a function of (seed, step, prior version)."""
    rng = np.random.default_rng([settings.seed, step])
    easy = rng.random() < settings.easy_fraction
    shape = sample_shape(rng, easy=easy, max_features=settings.max_features,
                         max_support=settings.max_support)
    tokens = (shape.n_support + shape.n_query) * (shape.n_features + 1)
    n_tables = max(1, settings.tokens_per_step // tokens)
    return sample_batch(rng, shape, n_tables, settings.task, settings.prior)


def loss_of(model: Tab2D, batch, task: str) -> torch.Tensor:
    """Mean loss of ``model`` on the query rows of ``batch`` (see the module docstring)."""
    s = batch.n_support
    x = torch.from_numpy(batch.x)
    if task == "classification":
        y = torch.from_numpy(batch.y)
        logits = model(x[:, :s], y[:, :s], x[:, s:])  # [B, Q, 10]
        slots = torch.arange(logits.shape[-1])
        unused = slots[None, :] >= torch.from_numpy(batch.n_classes)[:, None]  # [B, 10]
        logits = logits.masked_fill(unused[:, None, :], float("-inf"))
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y[:, s:].reshape(-1),
                               ignore_index=-1)
    y = torch.from_numpy(batch.y).double()
    low = y[:, :s].min(dim=1, keepdim=True).values
    high = y[:, :s].max(dim=1, keepdim=True).values
    scaled = ((y - low) / (high - low).clamp_min(1e-12)).float()
    if not model.scalar_output:
        ids = bin_ids(scaled, model.dim_output)
        logits = model(x[:, :s], ids[:, :s], x[:, s:])  # [B, Q, n_bins]
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, s:].reshape(-1))
    prediction = model(x[:, :s], scaled[:, :s], x[:, s:])  # [B, Q]
    return F.mse_loss(prediction, scaled[:, s:].clamp(-1.0, 2.0))


class Run:
    """A pretraining run in ``folder``: new, or resumed from its ``state.pt``."""

    def __init__(self, folder: str | Path, settings: RunSettings | None = None) -> None:
        self.folder = Path(folder)
        stored = self.folder / RUN_FILE
        state_file = self.folder / STATE_FILE
        if state_file.is_file() and not stored.is_file():
            raise ValueError(f"{self.folder} holds {STATE_FILE} but not {RUN_FILE}, the "
                             "settings it was trained with; restore it, or choose another folder")
        # The checkpoint is written at the end of a run, after state.pt: a run killed before
        # its first save (its log may have a line) starts again, one that ended does not.
        trained = (self.folder / CHECKPOINT_DIR).exists()
        if stored.is_file() and not state_file.is_file() and trained:
            raise ValueError(f"{self.folder} holds a trained run without its {STATE_FILE}: "
                             "resuming would start again from step 0 and overwrite its "
                             "checkpoint; restore the file, or choose another folder")
        if stored.is_file():
            saved = RunSettings(**json.loads(stored.read_text()))
            if settings is not None and asdict(settings) != asdict(saved):
                raise ValueError(
                    f"{self.folder} holds a run with other settings; resume it without "
                    f"settings or choose another folder"
                )
            settings = saved
        elif settings is None:
            raise FileNotFoundError(f"no run in {self.folder}")
        self.settings = settings
        torch.set_num_threads(settings.threads)
        # A resumed run has its weights in state.pt: the --init checkpoint is not needed again.
        self.model = new_model(settings, warm_start=not state_file.is_file())
        self.optimizer = _optimizer(self.model, settings)
        self.step, self.seconds = 0, 0.0
        self._stop = False
        if state_file.is_file():
            state = torch.load(state_file, weights_only=True)
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.step, self.seconds = int(state["step"]), float(state["seconds"])
        else:
            self.folder.mkdir(parents=True, exist_ok=True)
            stored.write_text(json.dumps(asdict(settings), indent=1))

    def save(self) -> None:
        """Write ``state.pt`` atomically (a crash leaves the previous one)."""
        state = {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "step": self.step, "seconds": self.seconds}
        partial = self.folder / (STATE_FILE + ".partial")
        torch.save(state, partial)
        partial.replace(self.folder / STATE_FILE)

    def log(self, record: dict) -> None:
        with open(self.folder / LOG_FILE, "a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")

    def averaged_model(self) -> Tab2D:
        """The model with schedule-free's averaged weights (what is evaluated and shipped)."""
        self.optimizer.eval()
        try:
            config = self.model.config
            return build_model(config, {k: v.clone() for k, v in self.model.state_dict().items()})
        finally:
            self.optimizer.train()

    def train(self, seconds: float = math.inf, evaluate_fn: Callable | None = None,
              echo: Callable[[str], None] = print, *, steps: int | None = None) -> None:
        """Train for ``seconds`` more seconds of training (whole steps; evaluation time not
        counted) or ``steps`` more steps, whichever ends first, reporting and saving every
        ``report_seconds`` and at the end."""
        settings = self.settings
        self.model.train()
        self.optimizer.train()
        end = self.seconds + seconds
        last_step = math.inf if steps is None else self.step + steps
        next_report = self.seconds + settings.report_seconds
        losses, tables = [], 0
        self._stop = False
        while self.seconds < end and self.step < last_step and not self._stop:
            began = time.monotonic()
            batch = _step_batch(settings, self.step)
            loss = loss_of(self.model, batch, settings.task)
            self.optimizer.zero_grad(set_to_none=True)
            if math.isfinite(loss.item()):
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
                self.optimizer.step()
            losses.append(loss.item())
            tables += len(batch.x)
            self.step += 1
            self.seconds += time.monotonic() - began
            if (self.seconds >= next_report or self.seconds >= end or self.step >= last_step
                    or self._stop):
                self._report(losses, tables, evaluate_fn, echo)
                losses, tables = [], 0
                next_report = self.seconds + settings.report_seconds
        self.save()

    def request_stop(self) -> None:
        """Make :meth:`train` stop after the step under way (report, save, return): safe to
        call from a signal handler."""
        self._stop = True

    def _report(self, losses, tables, evaluate_fn, echo) -> None:
        record = {"step": self.step, "minutes": round(self.seconds / 60, 2),
                  "loss": round(float(np.nanmean(losses)), 4), "tables": tables}
        if evaluate_fn is not None:
            record["scores"] = evaluate_fn(self.averaged_model())
        self.log(record)
        self.save()
        echo(json.dumps(record))

    def export(self, out_dir: str | Path | None = None) -> Path:
        """Write the averaged model as a Mitra checkpoint folder (config.json +
        model.safetensors), loadable by ``wlearn-mitra convert``."""
        return save_checkpoint(self.averaged_model(), Path(out_dir or self.folder / CHECKPOINT_DIR))
