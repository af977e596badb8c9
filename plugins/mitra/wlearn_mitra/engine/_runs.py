"""Private: the raw runs of a graph set, one batch each: the single graph's forward pass, the
support encoder (its tensors kept in the support cache) and the query decoder.

Each feeds the graphs exactly what Mitra's contract names (:mod:`._contract`) and checks the
output: its shape, and that it is finite (ModelOutputError naming the model and any disk cache
file it was read from). Nothing here preprocesses, chunks or ensembles: that is the engine's.
"""

from __future__ import annotations

import numpy as np

from wlearn.errors import ValidationError

from ..exceptions import ModelOutputError
from ..graphs._cachedir import CACHE_NOTE
from ._contract import output_shape
from ._encoded import SupportCache, support_key
from ._graphset import GraphSet
from ._planning import DEFAULT_MEMORY_MB, MB, support_bytes


def forward(
    graphs: GraphSet, x_support: np.ndarray, y_support: np.ndarray, x_query: np.ndarray
) -> np.ndarray:
    if np.shape(x_support)[-1] == 0:
        # A Mitra graph reads features; with none, some graphs divide by zero (SIGFPE).
        raise ValidationError(
            "the support set has no features: a Mitra graph needs at least one column "
            "(predict() answers such a table with the class shares or the mean target)")
    feeds = {
        "x_support": np.ascontiguousarray(x_support, dtype=np.float32)[None],
        "y_support": np.ascontiguousarray(y_support, dtype=graphs.y_dtype)[None],
        "x_query": np.ascontiguousarray(x_query, dtype=np.float32)[None],
        "padding_obs_support": np.zeros((1, len(x_support)), dtype=bool),
    }
    (output,) = graphs.single.run(["output"], feeds)
    # a raw pass on non-finite support targets (target_scaling="js", as @wlearn/mitra)
    # answers what the graph answers: NaN in, NaN out
    return checked(graphs, output, len(x_query),
                         finite_inputs=bool(np.isfinite(feeds["y_support"]).all()))


def digest(graphs: GraphSet, x_support: np.ndarray, y_support: np.ndarray) -> str:
    """The support cache's key of a model-ready support set: a digest of exactly what the
    encoder would be fed."""
    return support_key(np.ascontiguousarray(x_support, dtype=np.float32),
                       np.ascontiguousarray(y_support, dtype=graphs.y_dtype))


def encode(
    graphs: GraphSet, cache: SupportCache | None, x_support: np.ndarray, y_support: np.ndarray,
    owner: object = None,
) -> tuple[np.ndarray, ...]:
    """The support encoder's tensors for a model-ready support set, cached by content
    (while ``owner`` lives, when one is given: see
    :class:`~wlearn_mitra.engine._encoded.SupportCache`); ``cache`` None encodes without
    looking up or keeping anything."""
    xs = np.ascontiguousarray(x_support, dtype=np.float32)
    ys = np.ascontiguousarray(y_support, dtype=graphs.y_dtype)
    if cache is None:
        return _encoded(graphs, xs, ys)
    key = support_key(xs, ys)
    entry = cache.get(key, owner)
    if entry is None:
        entry = _encoded(graphs, xs, ys)
        cache.put(key, entry)  # only a finished encoding is ever stored
        cache.own(key, owner)
    return entry


def _encoded(graphs: GraphSet, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, ...]:
    """One run of the support encoder, its working memory handed back afterwards as
    :func:`hand_back` says."""
    feeds = {
        "x_support": xs[None],
        "y_support": ys[None],
        "padding_obs_support": np.zeros((1, len(xs)), dtype=bool),
    }
    working = support_bytes(graphs.shape, len(xs), xs.shape[1])
    return tuple(graphs.encoder.run(graphs.cache_names, feeds,
                                    one_off=hand_back(graphs.encoder, working)))


#: Working memory (MB) a run on ONNX Runtime's shared arena leaves there for the next run
#: instead of handing it to the system: the query side's default chunk budget, which the
#: decoder's chunks keep reserved in any case.
KEEP_MB = DEFAULT_MEMORY_MB


def hand_back(graph: object, working_bytes: float | None = None) -> bool:
    """Whether a run that another graph's run follows (encoding before decoding, one member's
    last chunk before the next member's encoding) hands its working memory back to the system
    (the runtime's ``one_off``).

    Always, for a graph with memory of its own (OpenVINO; an InferenceSession given ready):
    kept, it would serve no other graph. Not, for a graph on ONNX Runtime's shared arena
    (:func:`wlearn_mitra.runtimes._ort.shared_arena`), where the next run takes it over
    instead of faulting fresh memory in, unless the run's estimated working memory is over
    :data:`KEEP_MB` (a long context's support pass), which would otherwise stay reserved
    after the predict.
    """
    if not getattr(graph, "shares_arena", False):
        return True
    return working_bytes is not None and working_bytes > KEEP_MB * MB


def decode(graphs: GraphSet, encoded: tuple[np.ndarray, ...], x_query: np.ndarray,
           one_off: bool = False) -> np.ndarray:
    """The query decoder's raw output [Q, 10] or [Q] for an encoded support set; ``one_off``
    hands the run's working memory back once it is done (the last chunk of a member that
    another member's encoding follows)."""
    feeds = dict(zip(graphs.cache_names, encoded))
    feeds["x_query"] = np.ascontiguousarray(x_query, dtype=np.float32)[None]
    (output,) = graphs.decoder.run(["output"], feeds, one_off=one_off)
    return checked(graphs, output, len(x_query))


def checked(graphs: GraphSet, output: np.ndarray, n_query: int, finite_inputs: bool = True
            ) -> np.ndarray:
    """The one batch of ``output``, once its shape is what the readout expects (a graph
    declares its output's rank, not its sizes) and, for finite inputs, every value is
    finite (ModelOutputError otherwise)."""
    shape = output_shape(graphs.classification, graphs.n_bins, n_query)
    if output.shape != shape:
        raise ValidationError(
            f"the ONNX model returned an output of shape {output.shape}, expected {shape}: "
            "it is not a Mitra graph"
        )
    finite = np.isfinite(output)
    if finite_inputs and not finite.all():
        bad = int(n_query - finite.reshape(1, n_query, -1).all(axis=2).sum())
        files = graphs.cache_files()
        where = (f"; it was read through the disk cache files {', '.join(map(str, files))} "
                 f"({CACHE_NOTE})" if files else "")
        error = ModelOutputError(
            f"the ONNX model {graphs.model_name} answered NaN or infinity for {bad} of "
            f"{n_query} query rows: its weights hold non-finite values or a file it was "
            f"read from is damaged{where}"
        )
        error.cache_files = files
        raise error
    return output[0]
