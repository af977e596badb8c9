"""Make the Mitra-v2 regressor test data: a tiny random bin-head checkpoint, its ONNX graph, and
AutoGluon 1.6.3's own outputs for it.

Run from the repository root with an environment holding torch, onnx, safetensors and this
project's packages (``. /work/wtenv.sh <worktree>`` style PYTHONPATH); AutoGluon's outputs need
``autogluon.tabular==1.6.3`` importable as well (installed ``--no-deps`` beside einops, einx,
omegaconf, loguru, huggingface_hub, transformers, autogluon.common). Writes, next to itself:

* ``tiny-regressor-2/config.json`` + ``model.safetensors``: Tab2D ``dim`` 16, 2 layers, 4
  heads, ``task`` REGRESSION, ``dim_output`` 1000 (Mitra-v2's head), random weights (seed 18:
  PyTorch's defaults, x/y embeddings N(0, 1), the final layer's weights times 4 so that the bin
  distributions are peaked rather than flat);
* ``tiny-regressor-2.onnx``: ``wlearn-mitra convert`` of it;
* ``autogluon.npz`` (only where AutoGluon imports):
  - ``graph_*``: random inputs (bin ids as y, padded rows included) and the logits of
    AutoGluon's ``Tab2D`` on them;
  - ``X``, ``y``, ``X_val``, ``y_val``, ``X_query``: a small regression table and
    ``prediction``, AutoGluon's ``MitraRegressor`` predictions for it on the regression
    cross-entropy path (``regression_loss=CROSS_ENTROPY``, ``dim_output`` 1000) with the
    released recipe's mean decode, mirrors off, float32, no fine-tuning, a validation set
    given (so the preprocessing statistics come from all of ``X``).

``--full`` also compares a full-size random v2 regressor (dim 512, 12 layers, 1000 bins) with
AutoGluon's Tab2D on one input and prints the largest difference (nothing is written).
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
import textwrap
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
CHECKPOINT = HERE / "tiny-regressor-2"
ONNX = HERE / "tiny-regressor-2.onnx"
N_BINS = 1000
CONFIG = {"dim": 16, "n_layers": 2, "n_heads": 4}


def make_checkpoint(folder: Path, dim: int, n_layers: int, n_heads: int, seed: int,
                    sharpen: float) -> Path:
    from safetensors.torch import load_file, save_file

    from wlearn_mitra.convert import random_checkpoint

    random_checkpoint(folder, "regressor", dim=dim, n_layers=n_layers, n_heads=n_heads,
                      seed=seed, dim_output=N_BINS)
    if sharpen != 1:
        state = load_file(folder / "model.safetensors")
        state["final_layer.weight"] = state["final_layer.weight"] * sharpen
        save_file(state, folder / "model.safetensors")
    # As AutoGluon's Tab2D.save_pretrained writes it (json.dump, default separators).
    config = {"dim": dim, "dim_output": N_BINS, "n_layers": n_layers, "n_heads": n_heads,
              "task": "REGRESSION"}
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return folder


def autogluon_tab2d(folder: Path):
    from safetensors.torch import load_file
    from autogluon.tabular.models.mitra._internal.models.tab2d import Tab2D

    config = json.loads((folder / "config.json").read_text())
    model = Tab2D(**config, use_pretrained_weights=False, path_to_weights="", device="cpu")
    model.load_state_dict(load_file(folder / "model.safetensors"))
    return model.eval()


def graph_inputs(seed: int, rows: int = 57, queries: int = 13, features: int = 4):
    generator = torch.Generator().manual_seed(seed)
    x_support = torch.randn(2, rows, features, generator=generator)
    x_support[1] = torch.randint(0, 4, (rows, features), generator=generator).float()  # ties
    x_query = torch.randn(2, queries, features, generator=generator)
    y_support = torch.randint(0, N_BINS, (2, rows), generator=generator)
    padding = torch.zeros(2, rows, dtype=torch.bool)
    padding[1, -9:] = True
    return x_support, y_support, x_query, padding


def autogluon_logits(model, inputs) -> np.ndarray:
    x_support, y_support, x_query, padding = inputs
    batch, queries, features = x_query.shape
    with torch.no_grad():
        out = model(x_support.clone(), y_support.clone(), x_query.clone(),
                    torch.zeros(batch, features, dtype=torch.bool), padding,
                    torch.zeros(batch, queries, dtype=torch.bool))
    return out.numpy()


def install_regression_ce(n_bins: int) -> None:
    """AutoGluon's sklearn MitraRegressor on its regression cross-entropy path with the
    released mean decode: the config asks for CROSS_ENTROPY with ``n_bins`` outputs (in
    float32), and the trainer's argmax decode is replaced, in its own source, by the
    softmax-weighted mean of ``bins[:-1] + bin_width / 2``."""
    import autogluon.tabular.models.mitra._internal.core.trainer_finetune as trainer
    import autogluon.tabular.models.mitra.sklearn_interface as interface
    from autogluon.tabular.models.mitra._internal.config.enums import LossName, Task

    if getattr(interface, "_wlearn_reference", False):
        return
    create = interface.MitraBase._create_config

    def create_config(self, task, dim_output, time_limit=None):
        cfg, model_class = create(self, task, dim_output, time_limit)
        cfg.task = Task.REGRESSION
        cfg.hyperparams["regression_loss"] = LossName.CROSS_ENTROPY
        cfg.hyperparams["dim_output"] = n_bins
        cfg.hyperparams["precision"] = "float32"
        return cfg, model_class

    interface.MitraBase._create_config = create_config
    source = textwrap.dedent(inspect.getsource(trainer.TrainerFinetune.predict))
    argmax = "y_hat = np.argmax(y_hat, axis=-1)"
    centre = "y_hat = (self.bins[y_hat] + self.bin_width / 2).cpu().numpy()"
    assert source.count(argmax) == 1 and source.count(centre) == 1, "AutoGluon changed"
    indent = source.split(argmax)[0].rsplit("\n", 1)[1]
    mean = (f"_p = torch.softmax(torch.as_tensor(y_hat).float(), dim=-1)\n"
            f"{indent}y_hat = (_p * (self.bins[:-1] + self.bin_width / 2)).sum(dim=-1).numpy()")
    source = source.replace(argmax, mean).replace(f"{indent}{centre}\n", "")
    namespace: dict = {}
    exec(compile(source, trainer.__file__, "exec"), trainer.__dict__, namespace)
    trainer.TrainerFinetune.predict = namespace["predict"]
    interface._wlearn_reference = True


def table(seed: int):
    """A table whose targets span [0, 1] exactly (so they are their own scaled values) and
    sit on bin edges: 13 on AutoGluon's float32 edges, 13 on numpy's float64 linspace (which
    float32 rounding moves across an edge), the rest random."""
    rng = np.random.default_rng(seed)
    n, features = 120, 5
    X = rng.standard_normal((n, features))
    X[:, 3] = rng.integers(0, 4, n)  # ties
    y = rng.random(n)
    y[:2] = 0.0, 1.0
    torch_edges = torch.linspace(-0.5, 1.5, N_BINS + 1).double().numpy()
    numpy_edges = np.linspace(-0.5, 1.5, N_BINS + 1)
    on_edges = np.arange(257, 750, 38)
    y[2:2 + len(on_edges)] = torch_edges[on_edges]
    y[2 + len(on_edges):2 + 2 * len(on_edges)] = numpy_edges[on_edges + 3]
    X_val, y_val = X[:20], y[:20]
    X_query = rng.standard_normal((40, features))
    X_query[:, 3] = rng.integers(-1, 5, 40)
    return X, y, X_val, y_val, X_query


def autogluon_predictions(folder: Path, X, y, X_val, y_val, X_query) -> np.ndarray:
    from autogluon.tabular.models.mitra.sklearn_interface import MitraRegressor

    install_regression_ce(N_BINS)
    model = MitraRegressor(fine_tune=False, hf_model=str(folder), device="cpu",
                           random_mirror_regression=False, random_mirror_x=False)
    model.fit(X, y, X_val=X_val, y_val=y_val)
    return np.asarray(model.predict(X_query), dtype=np.float64)


def importable_autogluon() -> bool:
    try:
        import autogluon.tabular.models.mitra.sklearn_interface  # noqa: F401
    except ImportError as exc:
        print(f"AutoGluon not importable ({exc}): its outputs are not written", file=sys.stderr)
        return False
    return True


def full_size_check() -> float:
    import tempfile

    import onnxruntime as ort

    from wlearn_mitra.convert import convert

    with tempfile.TemporaryDirectory() as tmp:
        folder = make_checkpoint(Path(tmp) / "full", 512, 12, 4, seed=2, sharpen=1)
        out = convert(folder, Path(tmp) / "full.onnx")
        inputs = graph_inputs(5, rows=96, queries=16, features=6)
        expected = autogluon_logits(autogluon_tab2d(folder), inputs)
        session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
        names = ("x_support", "y_support", "x_query", "padding_obs_support")
        got = session.run(["output"], {n: t.numpy() for n, t in zip(names, inputs)})[0]
    return float(np.max(np.abs(got - expected)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="also check a full-size model")
    args = parser.parse_args()
    from wlearn_mitra.convert import convert

    make_checkpoint(CHECKPOINT, **CONFIG, seed=18, sharpen=4.0)
    convert(CHECKPOINT, ONNX)
    print(f"wrote {CHECKPOINT} and {ONNX}")
    if not importable_autogluon():
        return
    inputs = graph_inputs(11)
    logits = autogluon_logits(autogluon_tab2d(CHECKPOINT), inputs)
    X, y, X_val, y_val, X_query = table(3)
    prediction = autogluon_predictions(CHECKPOINT, X, y, X_val, y_val, X_query)
    names = ("x_support", "y_support", "x_query", "padding_obs_support")
    np.savez(HERE / "autogluon.npz",
             **{f"graph_{n}": t.numpy() for n, t in zip(names, inputs)}, graph_output=logits,
             X=X, y=y, X_val=X_val, y_val=y_val, X_query=X_query, prediction=prediction)
    print(f"wrote {HERE / 'autogluon.npz'}")
    if args.full:
        print(f"full size (dim 512, 12 layers, 1000 bins): max |ONNX - AutoGluon| = "
              f"{full_size_check():.3g}")


if __name__ == "__main__":
    main()
