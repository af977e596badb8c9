"""Mitra checkpoints: ``config.json`` + ``model.safetensors``, local or on the Hugging Face Hub.

The layout is the one AutoGluon's ``Tab2D.save_pretrained`` writes. A plain ONNX file exported
by this package or by the JS package (``@wlearn/mitra``) also works as a source: its weights are
read back by name (see :mod:`wlearn_mitra.convert.onnx_weights`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Union

from wlearn.errors import ValidationError

from ..exceptions import MissingDependencyError

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
VARIANTS = {"classifier": "CLASSIFICATION", "regressor": "REGRESSION"}
_CONFIG_KEYS = ("dim", "dim_output", "n_layers", "n_heads", "task")

CheckpointSource = Union[str, os.PathLike]


def variant_of(task: str) -> str:
    """``"CLASSIFICATION"`` -> ``"classifier"``, ``"REGRESSION"`` -> ``"regressor"``."""
    for variant, name in VARIANTS.items():
        if str(task).upper() == name:
            return variant
    raise ValidationError(f"unknown Mitra task {task!r}; expected CLASSIFICATION or REGRESSION")


def _resolve_variant(config: dict, variant: str | None, where: str) -> dict:
    """The Tab2D config from a checkpoint's settings, its task checked against ``variant``."""
    if variant is not None and variant not in VARIANTS:
        raise ValidationError(f"variant must be 'classifier' or 'regressor', not {variant!r}")
    if config.get("task") is None:
        if variant is None:
            raise ValidationError(
                f"{where} does not name its task; pass variant='classifier' or 'regressor'"
            )
        config = {**config, "task": VARIANTS[variant]}
    # AutoGluon writes str(Task.X).upper(): "CLASSIFICATION", or "TASK.CLASSIFICATION" for
    # enums whose str() includes the class name.
    task = str(config["task"]).upper().removeprefix("TASK.")
    found = variant_of(task)
    if variant is not None and found != variant:
        raise ValidationError(f"{where} is a Mitra {found}, not a {variant}")
    missing = [key for key in _CONFIG_KEYS if key not in config]
    if missing:
        raise ValidationError(f"{where} lacks the settings {missing}")
    try:
        sizes = {key: int(config[key]) for key in ("dim", "dim_output", "n_layers", "n_heads")}
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{where} has a malformed setting: {exc}") from exc
    return {**sizes, "task": task}


def _hub_files(repo_id: str) -> tuple[Path, Path]:
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        raise MissingDependencyError(
            f"{repo_id!r} is not a local folder, and downloading it from the Hugging Face Hub "
            "needs huggingface_hub", "hub") from None
    try:
        return tuple(Path(hf_hub_download(repo_id, name)) for name in (CONFIG_FILE, WEIGHTS_FILE))
    except Exception as exc:  # network, authentication and missing-repo errors all end here
        raise ValidationError(
            f"could not download the Mitra checkpoint {repo_id!r} from the Hugging Face Hub: {exc}"
        ) from exc


def checkpoint_files(source: CheckpointSource) -> tuple[Path, Path]:
    """The local ``config.json`` and ``model.safetensors`` of a folder or a Hub repo id."""
    path = Path(source)
    if path.is_dir():
        files = path / CONFIG_FILE, path / WEIGHTS_FILE
        for file in files:
            if not file.is_file():
                raise ValidationError(f"Mitra checkpoint folder {path} has no {file.name}")
        return files
    text = os.fspath(source)
    looks_like_repo = (
        text.count("/") == 1 and not text.startswith((".", "/", "~")) and not path.exists()
    )
    if not looks_like_repo:
        raise ValidationError(
            f"Mitra checkpoint not found: {text} (give a folder with {CONFIG_FILE} and "
            f"{WEIGHTS_FILE}, an .onnx file, or a Hugging Face repo id such as "
            "autogluon/mitra-classifier)"
        )
    return _hub_files(text)


def load_checkpoint(source: CheckpointSource, variant: str | None = None) -> tuple[dict, dict]:
    """Read a checkpoint: returns ``(config, state_dict)`` with torch tensors.

    ``source`` is a checkpoint folder, a Hugging Face repo id, or an ``.onnx`` Mitra graph.
    ``variant`` ('classifier' / 'regressor') is checked against the config, or fills it in
    when the config does not say.
    """
    path = Path(source)
    if path.suffix == ".onnx":
        from .onnx_weights import read_onnx_weights

        config, state_dict = read_onnx_weights(path)
        return _resolve_variant(config, variant, str(path)), state_dict

    config_file, weights_file = checkpoint_files(source)
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationError(f"cannot read {config_file}: {exc}") from exc
    if not isinstance(config, dict):
        raise ValidationError(f"{config_file} is not a JSON object")
    config = _resolve_variant(config, variant, str(config_file))
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state_dict = load_file(weights_file)
    except (OSError, SafetensorError) as exc:
        raise ValidationError(f"cannot read {weights_file}: {exc}{_lfs_hint(weights_file)}"
                              ) from exc
    return config, state_dict


def _lfs_hint(path) -> str:
    """What to do when ``path`` is a Git LFS pointer (a repository cloned without LFS)."""
    try:
        with open(path, "rb") as handle:
            start = handle.read(64)
    except OSError:
        return ""
    if not start.startswith(b"version https://git-lfs"):
        return ""
    return (". It is a Git LFS pointer, not the weights: the repository was cloned without "
            "Git LFS; run `git lfs pull` in it, or give the Hugging Face repo id to download")


def build_model(config: dict, state_dict: dict):
    """A :class:`~wlearn_mitra.convert.tab2d.Tab2D` in eval mode with the given weights."""
    import torch

    from .tab2d import Tab2D

    try:
        model = Tab2D(**config)
    except ValueError as exc:
        raise ValidationError(f"invalid Mitra config {config}: {exc}") from exc
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    if missing or unexpected:
        raise ValidationError(
            f"checkpoint does not fit Tab2D {config}: "
            f"missing {missing[:8]}, unexpected {unexpected[:8]}"
        )
    for key, tensor in expected.items():
        if tuple(state_dict[key].shape) != tuple(tensor.shape):
            raise ValidationError(
                f"checkpoint tensor {key} has shape {tuple(state_dict[key].shape)}, "
                f"expected {tuple(tensor.shape)} for config {config}"
            )
    model.load_state_dict({k: v.to(torch.float32) for k, v in state_dict.items()})
    return model.eval()


def load_model(source: CheckpointSource, variant: str | None = None):
    """:func:`load_checkpoint` + :func:`build_model`."""
    return build_model(*load_checkpoint(source, variant))


def save_checkpoint(model, folder: CheckpointSource) -> Path:
    """Write ``config.json`` + ``model.safetensors`` as AutoGluon's ``save_pretrained`` does."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, folder / WEIGHTS_FILE)
    (folder / CONFIG_FILE).write_text(json.dumps(model.config), encoding="utf-8")
    return folder


def random_checkpoint(
    folder: CheckpointSource,
    variant: str,
    *,
    dim: int = 512,
    n_layers: int = 12,
    n_heads: int = 4,
    seed: int = 0,
    dim_output: int | None = None,
) -> Path:
    """Write a checkpoint with random weights (full Mitra size by default), for benchmarks.

    ``dim_output``: the head's width; default 10 (classifier) or 1 (scalar regressor). A
    regressor with ``dim_output > 1`` is a bin-head regressor, as Mitra-v2's
    (``autogluon/mitra-regressor-2``: 1000 bins).

    Initialisation: PyTorch's defaults plus upstream's ``init_weights`` (x and y embeddings
    N(0, 1)). The predictions mean nothing; the cost and the numerics are those of Mitra.
    """
    import torch

    from .tab2d import Tab2D

    if variant not in VARIANTS:
        raise ValidationError(f"variant must be 'classifier' or 'regressor', not {variant!r}")
    task = VARIANTS[variant]
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        if dim_output is None:
            dim_output = 10 if variant == "classifier" else 1
        model = Tab2D(dim, dim_output, n_layers, n_heads, task)
        with torch.no_grad():
            model.x_embedding.x_embedding.weight.normal_()
            model.x_embedding.x_embedding.bias.normal_()
            model.y_embedding.y_embedding.weight.normal_()
            model.y_embedding.y_mask.weight.normal_()
    finally:
        torch.random.set_rng_state(state)
    return save_checkpoint(model, folder)
