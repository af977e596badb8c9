"""AutoGluon's PyTorch Tab2D, eager, on a checkpoint and inputs given by bench_mitra.py.

Runs in an environment with ``autogluon.tabular[mitra]`` installed; it needs only torch,
safetensors and numpy besides AutoGluon (and bench/benchlib/, which needs only numpy). With
``--converter`` it runs this project's re-statement of Tab2D
(``wlearn_mitra.convert.tab2d``, same weights, same CPU arithmetic within 3e-6) instead, for
machines without AutoGluon. Prints one JSON line.

    python bench/_mitra_torch_eager.py CHECKPOINT_DIR INPUTS.npz OUTPUT.npz [--bf16] [--converter]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from benchlib.mitra import hwm_mb  # bench/ is first on sys.path when run as a script


def autogluon_model(checkpoint: Path):
    from autogluon.tabular.models.mitra._internal.models.tab2d import Tab2D

    config = json.loads((checkpoint / "config.json").read_text())
    model = Tab2D(
        dim=config["dim"],
        dim_output=config["dim_output"],
        n_layers=config["n_layers"],
        n_heads=config["n_heads"],
        task=config["task"],
        use_pretrained_weights=False,
        path_to_weights="",
        device="cpu",
    )
    model.load_state_dict(load_file(checkpoint / "model.safetensors"))
    return model


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("inputs", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--bf16", action="store_true", help="autocast to bfloat16, as AutoGluon's predict does")
    parser.add_argument("--repeats", type=int, default=2, help="timed calls; the best one is reported")
    parser.add_argument("--converter", action="store_true",
                        help="this project's Tab2D (wlearn_mitra.convert) instead of AutoGluon's")
    args = parser.parse_args()

    if args.converter:
        from wlearn_mitra.convert.checkpoint import load_model

        model = load_model(args.checkpoint)
    else:
        model = autogluon_model(args.checkpoint)
    model.eval()

    data = np.load(args.inputs)
    xs = torch.from_numpy(data["x_support"])[None]
    ys = torch.from_numpy(data["y_support"])[None]
    xq = torch.from_numpy(data["x_query"])[None]
    s, f, q = xs.shape[1], xs.shape[2], xq.shape[1]
    if args.converter:  # (x_support, y_support, x_query, padding_obs_support)
        feeds = (xs, ys, xq, torch.zeros(1, s, dtype=torch.bool))
    else:
        feeds = (
            xs,
            ys,
            xq,
            torch.zeros(1, f, dtype=torch.bool),
            torch.zeros(1, s, dtype=torch.bool),
            torch.zeros(1, q, dtype=torch.bool),
        )
    times, cpu_times = [], []
    for _ in range(max(1, args.repeats)):
        cpu = time.process_time()
        start = time.perf_counter()
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            output = model(*feeds)
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu)
    np.savez(args.output, output=output[0].float().numpy())
    peak_mb = hwm_mb()
    best = int(np.argmin(times))
    print(json.dumps({"seconds": times[best], "cpu_seconds": cpu_times[best], "first_seconds": times[0],
                      "peak_rss_mb": peak_mb,
                      "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
