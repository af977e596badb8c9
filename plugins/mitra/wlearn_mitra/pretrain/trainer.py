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
support's range otherwise cause loss spikes), mean squared error.
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
from .prior import sample_batch, sample_shape

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
    init: str | None = None  # a checkpoint whose body (all but the y embedding and head) starts us
    threads: int = 1
    report_seconds: float = 300.0
    extra: dict = field(default_factory=dict)


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
    """A freshly initialised Tab2D; with ``warm_start``, its body from ``settings.init``."""
    output = 10 if settings.task == "classification" else 1
    torch.manual_seed(settings.seed)
    model = Tab2D(settings.dim, output, settings.n_layers, settings.n_heads,
                  TASK_NAMES[settings.task])
    with torch.no_grad():  # upstream's init_weights: embeddings N(0, 1)
        model.x_embedding.x_embedding.weight.normal_()
        model.y_embedding.y_mask.weight.normal_()
        if settings.task == "classification":
            model.y_embedding.y_embedding.weight.normal_()
    if settings.init and warm_start:
        from ..convert.checkpoint import load_model

        body = {k: v for k, v in load_model(settings.init).state_dict().items()
                if not k.startswith(("y_embedding.y_embedding", "final_layer."))}
        missing = model.load_state_dict(body, strict=False)
        if missing.unexpected_keys:
            raise ValueError(f"--init checkpoint does not fit: {missing.unexpected_keys[:4]}")
    return model


def _step_batch(settings: RunSettings, step: int):
    rng = np.random.default_rng([settings.seed, step])
    easy = rng.random() < settings.easy_fraction
    shape = sample_shape(rng, easy=easy, max_features=settings.max_features,
                         max_support=settings.max_support)
    tokens = (shape.n_support + shape.n_query) * (shape.n_features + 1)
    n_tables = max(1, settings.tokens_per_step // tokens)
    return sample_batch(rng, shape, n_tables, settings.task)


def loss_of(model: Tab2D, batch, task: str) -> torch.Tensor:
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
    prediction = model(x[:, :s], scaled[:, :s], x[:, s:])  # [B, Q]
    return F.mse_loss(prediction, scaled[:, s:].clamp(-1.0, 2.0))


class Run:
    """A pretraining run in ``folder``: new, or resumed from its ``state.pt``."""

    def __init__(self, folder: str | Path, settings: RunSettings | None = None) -> None:
        self.folder = Path(folder)
        stored = self.folder / RUN_FILE
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
        state_file = self.folder / STATE_FILE
        # A resumed run has its weights in state.pt: the --init checkpoint is not needed again.
        self.model = new_model(settings, warm_start=not state_file.is_file())
        self.optimizer = _optimizer(self.model, settings)
        self.step, self.seconds = 0, 0.0
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
        while self.seconds < end and self.step < last_step:
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
            if self.seconds >= next_report or self.seconds >= end or self.step >= last_step:
                self._report(losses, tables, evaluate_fn, echo)
                losses, tables = [], 0
                next_report = self.seconds + settings.report_seconds
        self.save()

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
