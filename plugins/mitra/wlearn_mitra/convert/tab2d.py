"""Mitra's Tab2D as an ONNX-exportable PyTorch module, faithful to AutoGluon's.

Parameter names are those of AutoGluon's ``Tab2D`` (``autogluon.tabular.models.mitra``), so its
``model.safetensors`` loads with ``load_state_dict`` unchanged. The arithmetic follows AutoGluon's
CPU path step by step; only the formulation differs where ONNX lacks an operator:

* ``torch.quantile`` (linear interpolation) -> sort + gather + torch's own ``lerp`` formula;
* ``torch.bucketize(right=False)`` -> the same lower-bound binary search, unrolled into ten
  masked gather steps (999 boundaries need at most ten halvings), so memory grows with the
  number of values, never with values x 999.

The support rows never look at query rows, so the model is written as two halves:
``encode_support`` (support set -> :class:`EncodedSupport`) and ``decode_query`` (cache + query
rows -> output). ``forward`` is exactly ``decode_query(encode_support(...), x_query)``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

#: Number of quantile levels: 0.001 ... 0.999.
N_QUANTILES = 999
#: Upstream overwrites padded support values with this before taking quantiles.
PADDING_VALUE = 9999.0
#: Halvings a lower-bound search over ``N_QUANTILES`` boundaries needs (999 -> 499 -> ... -> 0).
_SEARCH_STEPS = 10

TASKS = ("CLASSIFICATION", "REGRESSION")


class EncodedSupport(NamedTuple):
    """Everything the query side needs from the support set.

    Shapes (B batch, F features, S support rows, L layers, H heads, E = dim / H):
    ``quantiles`` [B, F, 999], ``n_valid`` [B], ``mean`` [B, F], ``var`` [B, F],
    ``keys`` and ``values``: L tensors [B, F+1, H, S, E] each, one per layer, the row-attention
    keys and values of the normalised support states (token 0 is the label token). They stay
    separate tensors: stacking them would hold a second copy of all of them at once.
    """

    quantiles: torch.Tensor
    n_valid: torch.Tensor
    mean: torch.Tensor
    var: torch.Tensor
    keys: tuple[torch.Tensor, ...]
    values: tuple[torch.Tensor, ...]


def quantile_levels() -> torch.Tensor:
    """The levels as upstream builds them: float32 ``arange(1, 1000) / 1000``."""
    return torch.arange(1, N_QUANTILES + 1, dtype=torch.float32) / 1000


def support_quantiles(x_support: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
    """``torch.quantile(x, q, dim=1)`` of the support columns, as [B, F, 999].

    Padded rows are set to ``PADDING_VALUE`` first and still count in the row total, as
    upstream does. A column holding NaN gives NaN quantiles, as ``torch.quantile`` does.
    """
    x = torch.where(padding.unsqueeze(-1), torch.full_like(x_support, PADDING_VALUE), x_support)
    columns = x.transpose(1, 2)  # [B, F, S]
    ordered, _ = torch.sort(columns, dim=-1)
    last = columns.shape[-1] - 1
    ranks = quantile_levels().to(x.device) * last  # float32, as torch computes q * (n - 1)
    below = ranks.long()  # truncation == floor for ranks >= 0
    above = ranks.ceil().long()
    weight = ranks - below.float()
    low = ordered.index_select(-1, below)
    high = ordered.index_select(-1, above)
    # torch.lerp: low + w * (high - low) below w = 0.5, high - (high - low) * (1 - w) above,
    # each a fused multiply-add on CPU. A float32 product is exact in float64, so the
    # multiply-add in float64 then rounded to float32 gives the fused result (barring a float64
    # sum exactly halfway between two float32 values).
    step = (high - low).double()
    quantiles = torch.where(
        weight < 0.5,
        low.double() + weight.double() * step,
        high.double() - step * (1 - weight).double(),
    ).float()
    has_nan = torch.isnan(columns).any(dim=-1, keepdim=True)
    return torch.where(has_nan, torch.full_like(quantiles, float("nan")), quantiles)


def bucketize(values: torch.Tensor, boundaries: torch.Tensor) -> torch.Tensor:
    """``torch.bucketize(values, boundaries, right=False)`` per (batch, feature), as float.

    ``values`` [B, F, N], ``boundaries`` [B, F, 999] sorted. Returns, for each value, the index
    torch's lower-bound search stops at: the number of boundaries strictly below the value
    (NaN goes past every boundary, as in torch).
    """
    start = torch.zeros_like(values, dtype=torch.int64)
    end = torch.full_like(start, N_QUANTILES)
    for _ in range(_SEARCH_STEPS):
        active = start < end
        middle = torch.div(start + end, 2, rounding_mode="trunc")  # operands are >= 0
        probe = torch.gather(boundaries, 2, middle.clamp(max=N_QUANTILES - 1))
        go_right = ~(probe >= values)
        start = torch.where(active & go_right, middle + 1, start)
        end = torch.where(active & ~go_right, middle, end)
    return start.to(values.dtype)


def _standardise(
    buckets: torch.Tensor, n_valid: torch.Tensor, mean: torch.Tensor, var: torch.Tensor
) -> torch.Tensor:
    """Bucket counts [B, N, F] -> model features, with the support's statistics."""
    x = buckets / n_valid[:, None, None] - mean.unsqueeze(1)
    x = x / var.sqrt().unsqueeze(1)
    return torch.where(var.unsqueeze(1) == 0, torch.zeros_like(x), x)


class _XEmbedding(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.x_embedding = nn.Linear(1, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.x_embedding(x.unsqueeze(-1))


class _YClasses(nn.Module):
    def __init__(self, dim: int, n_classes: int) -> None:
        super().__init__()
        self.y_embedding = nn.Embedding(n_classes, dim)
        self.y_mask = nn.Embedding(1, dim)

    def forward(self, y: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        y = torch.where(padding, torch.zeros_like(y), y.long())
        embedded = self.y_embedding(y)
        return torch.where(padding.unsqueeze(-1), torch.zeros_like(embedded), embedded)


class _YRegression(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.y_embedding = nn.Linear(1, dim)
        self.y_mask = nn.Embedding(1, dim)

    def forward(self, y: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        embedded = self.y_embedding(y.float().unsqueeze(-1))
        return torch.where(padding.unsqueeze(-1), torch.zeros_like(embedded), embedded)


class Attention(nn.Module):
    """Multi-head attention. ``attention(x)`` -> per-head (keys, values) of ``x``;
    ``attention(x, keys, values)`` -> the attention output for the rows of ``x``.

    Both go through ``forward`` so that exported node names carry the module path, which is
    how :mod:`~wlearn_mitra.convert.onnx_weights` finds the weights again.
    """

    def __init__(self, dim: int, n_heads: int) -> None:
        super().__init__()
        if dim % n_heads:
            raise ValueError(f"dim {dim} is not divisible by n_heads {n_heads}")
        self.n_heads = n_heads
        self.scale = (dim // n_heads) ** -0.5
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.o = nn.Linear(dim, dim)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        """[N, T, D] -> [N, H, T, D/H]."""
        n, t, d = x.shape
        return x.reshape(n, t, self.n_heads, -1).transpose(1, 2)

    def forward(self, x, keys=None, values=None):
        if keys is None:
            return self._heads(self.k(x)), self._heads(self.v(x))
        n, t, d = x.shape
        queries = self._heads(self.q(x))
        if torch.onnx.is_in_onnx_export():
            # Written out with a constant scale on the queries, ONNX Runtime folds the scale
            # and the key transpose into one fused MatMul; the exported
            # scaled_dot_product_attention would copy and rescale the keys on every call.
            scores = torch.matmul(queries * self.scale, keys.transpose(-1, -2))
            mixed = torch.matmul(scores.softmax(dim=-1), values)
        else:  # PyTorch: the attention kernel upstream runs
            mixed = F.scaled_dot_product_attention(queries, keys, values)
        return self.o(mixed.transpose(1, 2).reshape(n, t, d))


class Layer(nn.Module):
    """Pre-LayerNorm block: attention across rows, MLP, attention across features, MLP.

    ``layer(tokens)`` runs the block on support tokens [B, N, T, D] and returns
    ``(tokens, keys, values)``, the row-attention keys/values being those of these tokens.
    ``layer(tokens, keys, values)`` runs it on query tokens attending to given support
    keys/values. ``kv_only`` stops after the keys/values (tokens are returned unchanged);
    ``label_only`` finishes only the label token (returned as [B, N, 1, D]), all the last
    layer's output needs.
    """

    def __init__(self, dim: int, n_heads: int) -> None:
        super().__init__()
        self.layer_norm1 = nn.LayerNorm(dim)
        self.attention1 = Attention(dim, n_heads)
        self.layer_norm2 = nn.LayerNorm(dim)
        self.linear1 = nn.Linear(dim, dim * 4)
        self.linear2 = nn.Linear(dim * 4, dim)
        self.layer_norm3 = nn.LayerNorm(dim)
        self.attention2 = Attention(dim, n_heads)
        self.layer_norm4 = nn.LayerNorm(dim)
        self.linear3 = nn.Linear(dim, dim * 4)
        self.linear4 = nn.Linear(dim * 4, dim)

    def forward(self, tokens, keys=None, values=None, kv_only=False, label_only=False):
        b, n, t, d = tokens.shape
        # Each token column (a feature, or the label) is one sequence over the rows.
        rows = self.layer_norm1(tokens).transpose(1, 2).reshape(b * t, n, d)
        if keys is None:
            keys, values = self.attention1(rows)
            if kv_only:
                return tokens, keys, values
        x = tokens + self.attention1(rows, keys, values).reshape(b, t, n, d).transpose(1, 2)
        x = x + self.linear2(F.gelu(self.linear1(self.layer_norm2(x))))
        # Each row is one sequence over its tokens.
        per_row = self.layer_norm3(x).reshape(b * n, t, d)
        row_keys, row_values = self.attention2(per_row)
        if label_only:
            x, per_row, t = x[:, :, :1], per_row[:, :1], 1
        x = x + self.attention2(per_row, row_keys, row_values).reshape(b, n, t, d)
        x = x + self.linear4(F.gelu(self.linear3(self.layer_norm4(x))))
        return x, keys, values


class Tab2D(nn.Module):
    """Mitra's Tab2D. ``forward(x_support, y_support, x_query, padding_obs_support)``.

    Shapes: ``x_support`` [B, S, F] float, ``y_support`` [B, S] (class indices, int64, or
    float targets), ``x_query`` [B, Q, F], ``padding_obs_support`` [B, S] bool (True = padded
    row). Returns [B, Q, dim_output] (classifier) or [B, Q] (regressor with dim_output 1).
    """

    def __init__(self, dim: int, dim_output: int, n_layers: int, n_heads: int, task: str) -> None:
        super().__init__()
        task = str(task).upper()
        if task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, not {task!r}")
        self.dim, self.dim_output, self.n_layers, self.n_heads = dim, dim_output, n_layers, n_heads
        self.task = task
        self.x_embedding = _XEmbedding(dim)
        if task == "REGRESSION" and dim_output == 1:
            self.y_embedding: nn.Module = _YRegression(dim)
        else:
            self.y_embedding = _YClasses(dim, dim_output)
        self.layers = nn.ModuleList(Layer(dim, n_heads) for _ in range(n_layers))
        self.final_layer_norm = nn.LayerNorm(dim)
        self.final_layer = nn.Linear(dim, dim_output)

    @property
    def config(self) -> dict:
        return {
            "dim": self.dim,
            "dim_output": self.dim_output,
            "n_layers": self.n_layers,
            "n_heads": self.n_heads,
            "task": self.task,
        }

    @property
    def scalar_output(self) -> bool:
        return self.task == "REGRESSION" and self.dim_output == 1

    def encode_support(
        self, x_support: torch.Tensor, y_support: torch.Tensor, padding_obs_support: torch.Tensor
    ) -> EncodedSupport:
        padding = padding_obs_support.bool()
        valid = (~padding).float()
        n_valid = valid.sum(dim=1)

        quantiles = support_quantiles(x_support, padding)
        buckets = bucketize(x_support.transpose(1, 2), quantiles).transpose(1, 2)  # [B, S, F]
        # Upstream zeroes padded rows before each moment so they do not count.
        x = buckets / n_valid[:, None, None] * valid.unsqueeze(-1)
        mean = x.sum(dim=1) / n_valid[:, None]
        centred = (x - mean.unsqueeze(1)) * valid.unsqueeze(-1)
        var = (centred * centred).sum(dim=1) / n_valid[:, None]
        x = _standardise(buckets, n_valid, mean, var)
        # Padded rows are exactly 0 upstream (0 / std, or 0 where var == 0).
        x = torch.where(padding.unsqueeze(-1), torch.zeros_like(x), x)

        tokens = torch.cat(
            [self.y_embedding(y_support, padding).unsqueeze(2), self.x_embedding(x)], dim=2
        )  # [B, S, F+1, D]
        b, s, t, _ = tokens.shape
        keys, values = [], []
        for index, layer in enumerate(self.layers):
            # The last layer's support output is never read: only its keys/values are.
            tokens, k, v = layer(tokens, kv_only=index + 1 == len(self.layers))
            keys.append(k.reshape(b, t, self.n_heads, s, -1))
            values.append(v.reshape(b, t, self.n_heads, s, -1))
        return EncodedSupport(quantiles, n_valid, mean, var, tuple(keys), tuple(values))

    def decode_query(self, cache: EncodedSupport, x_query: torch.Tensor) -> torch.Tensor:
        quantiles, n_valid, mean, var, keys, values = cache
        buckets = bucketize(x_query.transpose(1, 2), quantiles).transpose(1, 2)  # [B, Q, F]
        x = self.x_embedding(_standardise(buckets, n_valid, mean, var))
        b, _, _, d = x.shape
        # The label token of a query row is the learned "unknown label" embedding.
        label = self.y_embedding.y_mask(torch.zeros_like(x_query[:, :, :1], dtype=torch.long))
        tokens = torch.cat([label, x], dim=2)  # [B, Q, F+1, D]
        t = tokens.shape[2]
        for index, layer in enumerate(self.layers):
            k = keys[index].reshape(b * t, self.n_heads, -1, d // self.n_heads)
            v = values[index].reshape(b * t, self.n_heads, -1, d // self.n_heads)
            tokens, _, _ = layer(tokens, k, v, label_only=index + 1 == len(self.layers))
        output = self.final_layer(self.final_layer_norm(tokens[:, :, 0]))  # label token
        return output[..., 0] if self.scalar_output else output

    def forward(
        self,
        x_support: torch.Tensor,
        y_support: torch.Tensor,
        x_query: torch.Tensor,
        padding_obs_support: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if padding_obs_support is None:
            padding_obs_support = torch.zeros(y_support.shape, dtype=torch.bool)
        return self.decode_query(
            self.encode_support(x_support, y_support, padding_obs_support), x_query
        )
