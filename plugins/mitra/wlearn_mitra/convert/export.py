"""Export Tab2D to ONNX: the single graph (the JS package's interface) and the split pair.

Single graph: inputs ``x_support`` f32 [B,S,F], ``y_support`` int64 (classifier) or f32
(regressor) [B,S], ``x_query`` f32 [B,Q,F], ``padding_obs_support`` bool [B,S]; output
``output`` f32 [B,Q,C] or [B,Q]. Split pair: a support encoder (the first three of those plus
the padding -> the :class:`~wlearn_mitra.convert.tab2d.EncodedSupport` tensors, each layer's keys
and values as tensors of their own, named by :func:`~wlearn_mitra.graphs._layout.cache_names`) and a
query decoder (``x_query`` + the cache -> ``output``). See spec/mitra-onnx.md.
"""

from __future__ import annotations

import io
import json
import os
import warnings
from pathlib import Path
from typing import Callable, Union

import torch
from torch import nn

from wlearn.errors import ValidationError

from ..bundles._format import write as write_atomically
from ..graphs._identity import model_buffer
from ..graphs._modelfile import sha256_of
from ..graphs._layout import ENCODER_INPUTS, INPUT_NAMES, STAT_NAMES, cache_names, split_paths
from ..graphs._onnxinfo import (NODE_CLASSES_METADATA_KEY, SINGLE_SHA256_METADATA_KEY,
                                TARGET_ENCODING_METADATA_KEY, node_classes_in_metadata,
                                readable_metadata, target_encoding_in_metadata)
from .checkpoint import CheckpointSource, load_model
from .onnx_weights import CONFIG_METADATA_KEY
from .tab2d import EncodedSupport, Tab2D

#: ONNX opset of every graph written here (the JS package's files use 17 too).
OPSET = 17
GRAPH_METADATA_KEY = "mitra.graph"

PathLike = Union[str, os.PathLike]

_AXES = {
    "x_support": {0: "batch", 1: "n_support", 2: "n_features"},
    "y_support": {0: "batch", 1: "n_support"},
    "x_query": {0: "batch", 1: "n_query", 2: "n_features"},
    "padding_obs_support": {0: "batch", 1: "n_support"},
    "quantiles": {0: "batch", 1: "n_features"},
    "n_valid": {0: "batch"},
    "mean": {0: "batch", 1: "n_features"},
    "var": {0: "batch", 1: "n_features"},
}
#: Axes of every layer's keys or values [batch, n_tokens, H, n_support, E].
_LAYER_AXES = {0: "batch", 1: "n_tokens", 3: "n_support"}


def _output_axes(model: Tab2D) -> dict:
    if model.scalar_output:
        return {0: "batch", 1: "n_query"}
    return {0: "batch", 1: "n_query", 2: "n_classes"}


class _Single(nn.Module):
    def __init__(self, model: Tab2D) -> None:
        super().__init__()
        self.model = model

    def forward(self, x_support, y_support, x_query, padding_obs_support):
        return self.model(x_support, y_support, x_query, padding_obs_support)


class _Encoder(nn.Module):
    def __init__(self, model: Tab2D) -> None:
        super().__init__()
        self.model = model

    def forward(self, x_support, y_support, padding_obs_support):
        return _flat(self.model.encode_support(x_support, y_support, padding_obs_support))


class _Decoder(nn.Module):
    def __init__(self, model: Tab2D) -> None:
        super().__init__()
        self.model = model

    def forward(self, x_query, *flat):
        n_stats, n_layers = len(STAT_NAMES), self.model.n_layers
        keys = flat[n_stats : n_stats + n_layers]
        values = flat[n_stats + n_layers :]
        cache = EncodedSupport(*flat[:n_stats], tuple(keys), tuple(values))
        return self.model.decode_query(cache, x_query)


def _flat(cache: EncodedSupport) -> tuple[torch.Tensor, ...]:
    """The cache as the graphs pass it, in :func:`cache_names` order."""
    return (*cache[: len(STAT_NAMES)], *cache.keys, *cache.values)


def example_inputs(
    model: Tab2D, *, batch: int = 2, n_support: int = 11, n_query: int = 7, n_features: int = 3,
    seed: int = 0,
) -> tuple[torch.Tensor, ...]:
    """Random ``(x_support, y_support, x_query, padding_obs_support)`` for tracing and checks."""
    generator = torch.Generator().manual_seed(seed)
    x_support = torch.randn(batch, n_support, n_features, generator=generator)
    x_query = torch.randn(batch, n_query, n_features, generator=generator)
    if model.task == "CLASSIFICATION" or not model.scalar_output:
        y_support = torch.randint(0, model.dim_output, (batch, n_support), generator=generator)
    else:
        y_support = torch.rand(batch, n_support, generator=generator)
    padding = torch.zeros(batch, n_support, dtype=torch.bool)
    return x_support, y_support, x_query, padding


def _export(module: nn.Module, args: tuple, path: PathLike, inputs, outputs, axes, metadata,
            opset: int) -> Path:
    import onnx

    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # Shape arithmetic is traced symbolically; the tracer warns about it regardless.
        warnings.simplefilter("ignore")
        with torch.no_grad():
            torch.onnx.export(
                module.eval(),
                args,
                buffer,
                input_names=list(inputs),
                output_names=list(outputs),
                dynamic_axes={name: axes[name] for name in (*inputs, *outputs)},
                opset_version=opset,
                dynamo=False,
            )
    proto = onnx.load_from_string(buffer.getvalue())
    # The exporter pins axes it can prove constant (10 classes); name every dynamic axis.
    for value in (*proto.graph.input, *proto.graph.output):
        for axis, name in axes.get(value.name, {}).items():
            dim = value.type.tensor_type.shape.dim[axis]
            dim.Clear()
            dim.dim_param = name
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Atomically (as bundles are saved): a failed write (a full disk, Ctrl-C) leaves the file
    # there before, which may be the very model the weights were read from, whole.
    write_atomically(path, proto.SerializeToString())
    return path


def _metadata(model: Tab2D, graph: str, max_node_classes: int | None,
              target_encoding: bool | None = None) -> dict:
    metadata = {CONFIG_METADATA_KEY: json.dumps(model.config), GRAPH_METADATA_KEY: graph}
    if target_encoding is not None:
        metadata[TARGET_ENCODING_METADATA_KEY] = "true" if target_encoding else "false"
    if max_node_classes is not None:
        if model.task != "CLASSIFICATION":
            raise ValidationError("max_node_classes is declared only by a classifier's graph")
        metadata[NODE_CLASSES_METADATA_KEY] = str(max_node_classes)
        node_classes_in_metadata(metadata)  # ValidationError outside 2..10
    return metadata


def export_onnx(model: Tab2D, path: PathLike, *, opset: int = OPSET,
                max_node_classes: int | None = None,
                target_encoding: bool | None = None) -> Path:
    """Write the single graph (the JS package's interface) to ``path``; with
    ``max_node_classes`` (a classifier, 2..10) or ``target_encoding`` (True or False), the
    graph declares it as its estimators' default (spec/mitra-onnx.md "Declared defaults")."""
    axes = {**_AXES, "output": _output_axes(model)}
    return _export(_Single(model), example_inputs(model), path, INPUT_NAMES, ("output",), axes,
                   _metadata(model, "single", max_node_classes, target_encoding), opset)


def export_split(
    model: Tab2D, encoder_path: PathLike, decoder_path: PathLike, *, opset: int = OPSET,
    max_node_classes: int | None = None, target_encoding: bool | None = None,
    single_sha256: str | None = None,
) -> tuple[Path, Path]:
    """Write the support encoder and the query decoder graphs (the declarations as for
    :func:`export_onnx`). ``single_sha256``: the single graph's SHA-256, recorded in both
    graphs; the engine uses a pair beside a model only when it names that model."""
    x_support, y_support, x_query, padding = example_inputs(model)
    with torch.no_grad():
        cache = model.encode_support(x_support, y_support, padding)
    names = cache_names(model.n_layers)
    axes = {**_AXES, "output": _output_axes(model)}
    axes.update((name, _LAYER_AXES) for name in names[len(STAT_NAMES) :])
    stamp = {} if single_sha256 is None else {SINGLE_SHA256_METADATA_KEY: single_sha256}
    encoder = _export(_Encoder(model), (x_support, y_support, padding), encoder_path,
                      ENCODER_INPUTS, names, axes,
                      {**_metadata(model, "encoder", max_node_classes, target_encoding), **stamp},
                      opset)
    decoder = _export(_Decoder(model), (x_query, *_flat(cache)), decoder_path, ("x_query", *names),
                      ("output",), axes,
                      {**_metadata(model, "decoder", max_node_classes, target_encoding), **stamp},
                      opset)
    return encoder, decoder


def convert(
    checkpoint: CheckpointSource,
    out: PathLike,
    variant: str | None = None,
    *,
    split: bool = False,
    opset: int = OPSET,
    log: Callable[[str], object] | None = None,
    max_node_classes: int | None = None,
    target_encoding: bool | None = None,
) -> Path:
    """Convert a Mitra checkpoint to ONNX.

    ``checkpoint``: a folder with ``config.json`` + ``model.safetensors``, a Hugging Face repo
    id, or an existing single Mitra ``.onnx`` graph (its weights are reused). ``variant``
    ('classifier' / 'regressor') is taken from the config when not given. With ``split``, the
    support encoder and query decoder are written next to ``out`` (see :func:`split_paths`).
    ``log(message)`` hears each step as it starts (a full-size export takes minutes).
    ``max_node_classes`` (a classifier, 2..10): the graphs declare it as the estimators'
    default (spec/mitra-onnx.md "Declared defaults"); ValidationError otherwise. When not
    given, a classifier ``.onnx`` source's own declaration is kept. ``target_encoding`` (True
    or False, either task): the graphs declare it as the estimators' default; when not given,
    an ``.onnx`` source's own declaration is kept.
    Returns the path of the single graph.
    """
    say = log or (lambda message: None)
    if Path(out).is_dir():
        raise ValidationError(f"{out} is a folder: give the path of the .onnx file to write")
    say(f"reading the checkpoint {checkpoint}")
    model = load_model(checkpoint, variant)
    if Path(checkpoint).suffix == ".onnx":
        # a graph converted again keeps the defaults it declares, unless others are given
        with model_buffer(Path(checkpoint)) as view:  # mapped: tensor data is not read
            declared = readable_metadata(view)
        if max_node_classes is None and model.task == "CLASSIFICATION":
            max_node_classes = node_classes_in_metadata(declared)
        if target_encoding is None:
            target_encoding = target_encoding_in_metadata(declared)
    out = Path(out)
    config = model.config
    say(f"read a Mitra {str(config['task']).lower()} model (dim {config['dim']}, "
        f"{config['n_layers']} layers, {sum(p.numel() for p in model.parameters()):,} weights); "
        f"exporting the single graph to {out}")
    # The weights are in memory by now, so ``out`` may be the very file they came from.
    export_onnx(model, out, opset=opset, max_node_classes=max_node_classes,
                target_encoding=target_encoding)
    if not split and all(path.is_file() for path in split_paths(out)):
        say(f"the split pair beside {out.name} is left from an earlier convert; predictions do "
            "not use it (it names another model), so it may be deleted")
    if split:
        encoder, decoder = split_paths(out)
        say(f"exporting the support encoder {encoder.name} and the query decoder {decoder.name}")
        export_split(model, encoder, decoder, opset=opset, max_node_classes=max_node_classes,
                     target_encoding=target_encoding, single_sha256=sha256_of(out))
    return out
