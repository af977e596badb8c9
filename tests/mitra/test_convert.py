"""The Mitra converter: faithful to AutoGluon's Tab2D, exported graphs equal to the module."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
pytest.importorskip("safetensors")
ort = pytest.importorskip("onnxruntime")

from wlearn.errors import ValidationError  # noqa: E402
from wlearn_mitra.convert import (  # noqa: E402
    convert,
    export_onnx,
    load_model,
    random_checkpoint,
    read_onnx_weights,
    verify,
)
from wlearn_mitra.convert.export import INPUT_NAMES  # noqa: E402
from wlearn_mitra.convert.tab2d import bucketize, support_quantiles  # noqa: E402

from _paths import fixtures_dir

FIXTURES = fixtures_dir()
ONNX_FIXTURES = FIXTURES / "onnx"
UPSTREAM = FIXTURES / "upstream"
MODELS = ("tiny-mitra-classifier", "tiny-mitra-regressor")
CASES = sorted(
    (model, path.name) for model in MODELS for path in (UPSTREAM / model).glob("*.npz")
)
TOLERANCE = 1e-4


def run(session, inputs) -> np.ndarray:
    return session.run(["output"], dict(zip(INPUT_NAMES, inputs)))[0]


def upstream_case(model: str, name: str):
    data = np.load(UPSTREAM / model / name)
    return tuple(data[k] for k in INPUT_NAMES), data["output"]


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("onnx")
    return {m: convert(ONNX_FIXTURES / m, out / f"{m}.onnx") for m in MODELS}


def test_fixture_cases_present():
    # Six upstream references: random, duplicated/constant columns and integer ties per model.
    assert len(CASES) == 6


@pytest.mark.parametrize(("model", "case"), CASES)
def test_torch_module_matches_autogluon(model, case):
    inputs, expected = upstream_case(model, case)
    module = load_model(ONNX_FIXTURES / model)
    with torch.no_grad():
        got = module(*(torch.from_numpy(a) for a in inputs)).numpy()
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOLERANCE)


@pytest.mark.parametrize(("model", "case"), CASES)
def test_onnx_matches_autogluon(converted, model, case):
    inputs, expected = upstream_case(model, case)
    got = run(ort.InferenceSession(str(converted[model])), inputs)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOLERANCE)


@pytest.mark.parametrize("model", MODELS)
def test_js_export_differs_on_ties_only(model):
    # The JS package's graph counts quantiles <= x; upstream counts quantiles < x. On
    # continuous data the two agree, on integer data they do not. Our graph fixes that.
    session = ort.InferenceSession(str(ONNX_FIXTURES / f"{model}.onnx"))
    continuous, expected = upstream_case(model, "basic_randn_64x16x5.npz")
    assert np.abs(run(session, continuous) - expected).max() < TOLERANCE
    ties, expected = upstream_case(model, "ties_int0to4_128x32x6.npz")
    assert np.abs(run(session, ties) - expected).max() > 0.01


def test_graph_interface_matches_js_files(converted):
    for model in MODELS:
        ours = ort.InferenceSession(str(converted[model]))
        theirs = ort.InferenceSession(str(ONNX_FIXTURES / f"{model}.onnx"))
        for side in ("get_inputs", "get_outputs"):
            signature = [[(v.name, v.type, v.shape) for v in getattr(s, side)()] for s in (ours, theirs)]
            assert signature[0] == signature[1]


def test_engine_runs_converted_graph(converted):
    from wlearn_mitra.engine import MitraEngine

    for model, task in zip(MODELS, ("classification", "regression")):
        inputs, expected = upstream_case(model, "ties_int0to4_128x32x6.npz")
        x_support, y_support, x_query, _ = inputs
        engine = MitraEngine(converted[model], task=task)
        got = engine.forward(x_support[0], y_support[0], x_query[0])
        np.testing.assert_allclose(got, expected[0], rtol=0, atol=TOLERANCE)


# -- independent math: torch's own quantile and bucketize ---------------------------------


@pytest.mark.parametrize("seed", range(12))
def test_quantiles_and_buckets_equal_torch_exactly(seed):
    generator = torch.Generator().manual_seed(seed)
    rows = int(torch.randint(2, 400, (), generator=generator))
    kind = seed % 3
    if kind == 0:
        x = torch.randn(2, rows, 4, generator=generator)
    elif kind == 1:  # integer codes: most quantiles fall on data values
        x = torch.randint(0, 5, (2, rows, 4), generator=generator).float()
    else:  # scaled codes: values that are not exact in binary
        x = torch.randint(0, 7, (2, rows, 4), generator=generator).float() * 0.1
    padding = torch.rand(2, rows, generator=generator) < 0.25
    padding[:, 0] = False

    padded = torch.where(padding.unsqueeze(-1), torch.full_like(x, 9999.0), x)
    levels = torch.arange(1, 1000, dtype=torch.float32) / 1000
    expected = torch.quantile(padded, levels, dim=1).permute(1, 2, 0)  # [B, F, 999]
    quantiles = support_quantiles(x, padding)
    assert torch.equal(quantiles, expected)

    others = torch.randint(-1, 8, (2, 64, 4), generator=generator).float() * 0.1
    extremes = torch.tensor([float("nan"), 9999.0, -1e30]).expand(2, 4, 3).transpose(1, 2)
    probes = torch.cat([padded, others, extremes], dim=1)
    values = probes.transpose(1, 2).contiguous()
    reference = torch.stack([
        torch.stack([torch.bucketize(values[b, f], expected[b, f], right=False) for f in range(4)])
        for b in range(2)
    ]).float()
    assert torch.equal(bucketize(values, expected), reference)


def test_module_matches_autogluon_tab2d_when_installed():
    # Runs where autogluon.tabular[mitra] is installed (not needed in CI: the upstream fixtures
    # pin the same behaviour). Padded rows and tied values included.
    tab2d = pytest.importorskip("autogluon.tabular.models.mitra._internal.models.tab2d")
    from safetensors.torch import load_file

    for model_name in MODELS:
        config = json.loads((ONNX_FIXTURES / model_name / "config.json").read_text())
        weights = load_file(ONNX_FIXTURES / model_name / "model.safetensors")
        ours = load_model(ONNX_FIXTURES / model_name)
        theirs = tab2d.Tab2D(**config, use_pretrained_weights=False, path_to_weights="", device="cpu")
        theirs.load_state_dict(weights)
        theirs.eval()
        generator = torch.Generator().manual_seed(11)
        for ties in (False, True):
            batch, rows, queries, features = 2, 57, 13, 4
            if ties:
                x_support = torch.randint(0, 4, (batch, rows, features), generator=generator).float()
                x_query = torch.randint(-1, 5, (batch, queries, features), generator=generator).float()
            else:
                x_support = torch.randn(batch, rows, features, generator=generator)
                x_query = torch.randn(batch, queries, features, generator=generator)
            if config["task"] == "CLASSIFICATION":
                y_support = torch.randint(0, 10, (batch, rows), generator=generator)
            else:
                y_support = torch.rand(batch, rows, generator=generator)
            padding = torch.zeros(batch, rows, dtype=torch.bool)
            padding[1, -9:] = True
            with torch.no_grad():
                expected = theirs(x_support.clone(), y_support.clone(), x_query.clone(),
                                  torch.zeros(batch, features, dtype=torch.bool), padding,
                                  torch.zeros(batch, queries, dtype=torch.bool))
                got = ours(x_support, y_support, x_query, padding)
            torch.testing.assert_close(got, expected, rtol=0, atol=TOLERANCE)


# -- other configurations, dynamic axes, batches -------------------------------------------


@pytest.fixture(scope="module", params=["classifier", "regressor"])
def small_random(request, tmp_path_factory):
    folder = random_checkpoint(tmp_path_factory.mktemp(request.param), request.param,
                               dim=24, n_layers=3, n_heads=2, seed=7)
    out = convert(folder, folder / "model.onnx", split=True)
    return folder, out, request.param


def test_random_checkpoint_layout(small_random):
    folder, _, variant = small_random
    config = json.loads((folder / "config.json").read_text())
    assert config == {"dim": 24, "dim_output": 10 if variant == "classifier" else 1,
                      "n_layers": 3, "n_heads": 2,
                      "task": "CLASSIFICATION" if variant == "classifier" else "REGRESSION"}


def test_random_checkpoint_is_seeded(tmp_path):
    def weights(name, seed):
        folder = random_checkpoint(tmp_path / name, "regressor", dim=8, n_layers=1, n_heads=2, seed=seed)
        return (folder / "model.safetensors").read_bytes()

    state = torch.random.get_rng_state()
    assert weights("a", 1) == weights("b", 1) != weights("c", 2)
    assert torch.equal(torch.random.get_rng_state(), state)  # global generator untouched


def test_verify_small_random(small_random):
    folder, out, _ = small_random
    report = verify(folder, out)
    # Both the single graph and the encoder/decoder pair are checked on every case.
    assert len(report.differences) == 8
    assert report.ok, report.lines()


@pytest.mark.parametrize(("batch", "rows", "queries", "features"), [(3, 5, 1, 1), (1, 200, 33, 12)])
def test_dynamic_axes(small_random, batch, rows, queries, features):
    folder, out, variant = small_random
    model = load_model(folder)
    rng = np.random.default_rng(rows)
    if variant == "classifier":
        y_support = rng.integers(0, 10, (batch, rows))
    else:
        y_support = rng.random((batch, rows)).astype(np.float32)
    inputs = (
        rng.integers(0, 3, (batch, rows, features)).astype(np.float32),
        y_support,
        rng.standard_normal((batch, queries, features)).astype(np.float32),
        np.zeros((batch, rows), dtype=bool),
    )
    with torch.no_grad():
        expected = model(*(torch.from_numpy(a) for a in inputs)).numpy()
    got = run(ort.InferenceSession(str(out)), inputs)
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOLERANCE)


def test_query_rows_are_independent(small_random):
    _, out, variant = small_random
    (x_support, y_support, x_query, padding), _ = upstream_case(
        "tiny-mitra-classifier", "ties_int0to4_128x32x6.npz")
    session = ort.InferenceSession(str(out))
    if variant == "regressor":
        y_support = y_support.astype(np.float32) / 9
    whole = run(session, (x_support, y_support, x_query, padding))
    halves = [run(session, (x_support, y_support, part, padding))
              for part in np.array_split(x_query, 2, axis=1)]
    np.testing.assert_allclose(np.concatenate(halves, axis=1), whole, rtol=0, atol=1e-5)


# -- weights from a plain ONNX file ----------------------------------------------------------


@pytest.mark.parametrize("model", MODELS)
def test_weights_read_back_from_js_onnx(model):
    from safetensors.torch import load_file

    config, state = read_onnx_weights(ONNX_FIXTURES / f"{model}.onnx")
    assert config == json.loads((ONNX_FIXTURES / model / "config.json").read_text())
    expected = load_file(ONNX_FIXTURES / model / "model.safetensors")
    assert set(state) == set(expected)
    for key, tensor in expected.items():
        assert torch.equal(state[key], tensor), key


@pytest.mark.parametrize("model", MODELS)
def test_faithful_graph_from_js_onnx_file(tmp_path, model):
    # Converting the JS package's file in place replaces it with the faithful graph.
    source = tmp_path / "mitra.onnx"
    source.write_bytes((ONNX_FIXTURES / f"{model}.onnx").read_bytes())
    out = convert(source, source, split=True)
    assert out == source
    inputs, expected = upstream_case(model, "ties_int0to4_128x32x6.npz")
    got = run(ort.InferenceSession(str(out)), inputs)
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOLERANCE)


def test_weights_read_back_from_own_export(small_random):
    folder, out, _ = small_random
    config, state = read_onnx_weights(out)
    assert config == json.loads((folder / "config.json").read_text())
    expected = load_model(folder).state_dict()
    for key, tensor in expected.items():
        assert torch.equal(state[key].reshape(tensor.shape), tensor), key


def test_config_inferred_without_metadata(small_random, tmp_path):
    # A graph without our metadata (as the JS package writes them): sizes from the weights,
    # the head count from the attention reshape.
    import onnx

    folder, out, _ = small_random
    proto = onnx.load(str(out))
    del proto.metadata_props[:]
    onnx.save(proto, str(tmp_path / "bare.onnx"))
    config, _ = read_onnx_weights(tmp_path / "bare.onnx")
    assert config == json.loads((folder / "config.json").read_text())
    assert config["n_heads"] == 2


def test_non_mitra_onnx_is_rejected(tmp_path):
    import onnx
    from onnx import helper, TensorProto

    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"], name="/relu/Relu")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    path = tmp_path / "relu.onnx"
    onnx.save(helper.make_model(graph), str(path))
    with pytest.raises(ValidationError, match="not a Mitra"):
        read_onnx_weights(path)


# -- checkpoints and errors ------------------------------------------------------------------


def test_missing_checkpoint(tmp_path):
    with pytest.raises(ValidationError, match="not found"):
        load_model(tmp_path / "nowhere")
    with pytest.raises(ValidationError, match="model.safetensors"):
        (tmp_path / "config.json").write_text('{"dim": 8}')
        load_model(tmp_path)


def test_repo_id_without_huggingface_hub(monkeypatch):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    with pytest.raises(ValidationError, match=r"pip install huggingface_hub \(wlearn-mitra.s hub extra\)"):
        load_model("autogluon/mitra-classifier")


def test_repo_id_downloads_through_huggingface_hub(monkeypatch, tmp_path):
    import types

    calls = []

    def hf_hub_download(repo_id, filename):
        calls.append((repo_id, filename))
        return str(ONNX_FIXTURES / "tiny-mitra-classifier" / filename)

    fake = types.ModuleType("huggingface_hub")
    fake.hf_hub_download = hf_hub_download
    monkeypatch.setitem(sys.modules, "huggingface_hub", fake)
    monkeypatch.chdir(tmp_path)  # so the id cannot be mistaken for a local folder
    model = load_model("autogluon/mitra-classifier")
    assert calls == [("autogluon/mitra-classifier", "config.json"),
                     ("autogluon/mitra-classifier", "model.safetensors")]
    assert model.task == "CLASSIFICATION" and model.dim == 32

    def offline(repo_id, filename):
        raise OSError("no network")

    fake.hf_hub_download = offline
    with pytest.raises(ValidationError, match="could not download .*no network"):
        load_model("autogluon/mitra-classifier")


def test_variant_checks(tmp_path):
    with pytest.raises(ValidationError, match="is a Mitra regressor, not a classifier"):
        load_model(ONNX_FIXTURES / "tiny-mitra-regressor", "classifier")
    with pytest.raises(ValidationError, match="variant must be"):
        load_model(ONNX_FIXTURES / "tiny-mitra-regressor", "ranker")
    # A config without "task" needs the variant.
    folder = tmp_path / "untagged"
    folder.mkdir()
    config = json.loads((ONNX_FIXTURES / "tiny-mitra-regressor" / "config.json").read_text())
    del config["task"]
    (folder / "config.json").write_text(json.dumps(config))
    weights = ONNX_FIXTURES / "tiny-mitra-regressor" / "model.safetensors"
    (folder / "model.safetensors").write_bytes(weights.read_bytes())
    with pytest.raises(ValidationError, match="pass variant"):
        load_model(folder)
    assert load_model(folder, "regressor").task == "REGRESSION"


def test_mismatched_weights(tmp_path):
    folder = tmp_path / "wrong"
    folder.mkdir()
    config = json.loads((ONNX_FIXTURES / "tiny-mitra-classifier" / "config.json").read_text())
    config["n_layers"] = 3
    (folder / "config.json").write_text(json.dumps(config))
    weights = ONNX_FIXTURES / "tiny-mitra-classifier" / "model.safetensors"
    (folder / "model.safetensors").write_bytes(weights.read_bytes())
    with pytest.raises(ValidationError, match="missing .*layers.2"):
        load_model(folder)
    (folder / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ValidationError, match="cannot read"):
        load_model(folder)


# -- command line ------------------------------------------------------------------------------


def cli(*argv: str) -> int:
    from wlearn_mitra.cli import main

    return main(list(argv))


def test_cli_round_trip(tmp_path, capsys):
    checkpoint = str(ONNX_FIXTURES / "tiny-mitra-regressor")
    out = tmp_path / "r.onnx"
    assert cli("convert", "--checkpoint", checkpoint, "--out", str(out), "--split") == 0
    for name in ("r.onnx", "r.encoder.onnx", "r.decoder.onnx"):
        assert (tmp_path / name).is_file()
    capsys.readouterr()
    assert cli("verify", "--checkpoint", checkpoint, "--onnx", str(out)) == 0
    printed = capsys.readouterr().out
    assert "tie-heavy" in printed and "[encoder+decoder]" in printed
    assert printed.rstrip().splitlines()[-1].startswith("OK")


def test_cli_verify_fails_on_js_graph(capsys):
    # The JS package's graph disagrees with the module on tied values: verify must say so.
    model = "tiny-mitra-classifier"
    js_file = ONNX_FIXTURES / f"{model}.onnx"
    code = cli("verify", "--checkpoint", str(ONNX_FIXTURES / model), "--onnx", str(js_file))
    assert code == 1
    assert "FAIL" in capsys.readouterr().out


def test_cli_errors(tmp_path, capsys, monkeypatch):
    assert cli("convert", "--checkpoint", str(tmp_path / "missing"), "--out", str(tmp_path / "o.onnx")) == 1
    assert "not found" in capsys.readouterr().err
    assert not (tmp_path / "o.onnx").exists()
    import wlearn_mitra.convert.cli as convert_cli

    monkeypatch.setattr(convert_cli, "_missing_dependencies", lambda: ["torch"])
    assert cli("convert", "--checkpoint", "x", "--out", "y.onnx") == 1
    assert "pip install torch onnx safetensors" in capsys.readouterr().err


def test_cli_convert_writes_each_file_whole_or_not_at_all(tmp_path, capsys, monkeypatch):
    checkpoint = str(ONNX_FIXTURES / "tiny-mitra-regressor")
    out = tmp_path / "r.onnx"
    assert cli("convert", "--checkpoint", checkpoint, "--out", str(out)) == 0
    before = out.read_bytes()
    capsys.readouterr()
    # convert refuses a folder as --out, before reading anything
    assert cli("convert", "--checkpoint", checkpoint, "--out", str(tmp_path)) == 1
    assert "is a folder: give the path of the .onnx file" in capsys.readouterr().err

    # A write over the model that fails (a full disk), or Ctrl-C, at the last moment: the
    # model there stays whole, no partial or temporary file is left, and one line says so.
    def fail_with(exc):
        def replace(source, target):
            raise exc
        monkeypatch.setattr(os, "replace", replace)

    fail_with(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
    assert cli("convert", "--checkpoint", checkpoint, "--out", str(out)) == 1
    err = [line for line in capsys.readouterr().err.splitlines()
           if not line.startswith("[")]  # the progress log's lines
    assert len(err) == 1 and str(out) in err[0] and os.strerror(errno.ENOSPC) in err[0]
    assert err[0].startswith("wlearn-mitra: ") and "whole or not at all" in err[0]
    fail_with(KeyboardInterrupt())
    assert cli("convert", "--checkpoint", checkpoint, "--out", str(out)) == 130
    assert capsys.readouterr().err.splitlines()[-1] == (
        "wlearn-mitra: interrupted (convert writes each file whole or not at all)")
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.onnx"]


def test_cli_module_imports_without_torch():
    code = ("import sys, wlearn_mitra.convert; from wlearn_mitra.cli import build_parser; "
            "build_parser(); print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_export_onnx_records_config(small_random, tmp_path):
    import onnx

    folder, _, _ = small_random
    path = export_onnx(load_model(folder), tmp_path / "m.onnx")
    metadata = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert json.loads(metadata["mitra.config"]) == json.loads((folder / "config.json").read_text())
    assert metadata["mitra.graph"] == "single"


@pytest.mark.parametrize(("checkpoint", "graph"), [
    ("tiny-mitra-classifier", "tiny-mitra-regressor"),
    ("tiny-mitra-regressor", "tiny-mitra-classifier"),
])
def test_cli_verify_of_a_graph_of_the_other_task_says_so(capsys, checkpoint, graph):
    # A classifier's checkpoint against a regressor's graph ended in ONNX Runtime's own
    # traceback (INVALID_ARGUMENT for y_support's type).
    code = cli("verify", "--checkpoint", str(ONNX_FIXTURES / checkpoint),
               "--onnx", str(ONNX_FIXTURES / f"{graph}.onnx"))
    err = capsys.readouterr().err
    assert code == 1
    assert "the checkpoint is a" in err and "Traceback" not in err
    assert f"{graph}.onnx is a Mitra" in err


def test_verify_of_a_graph_that_is_not_mitra_is_a_clear_error(tmp_path):
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["output"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [None])])
    path = tmp_path / "other.onnx"
    import onnx

    onnx.save_model(helper.make_model(graph, ir_version=8,
                                      opset_imports=[helper.make_opsetid("", 17)]), str(path))
    with pytest.raises(ValidationError, match="is not a Mitra graph of this checkpoint"):
        verify(ONNX_FIXTURES / "tiny-mitra-classifier", path)
    path.write_bytes(b"garbage")
    with pytest.raises(ValidationError, match="could not load"):
        verify(ONNX_FIXTURES / "tiny-mitra-classifier", path)


def test_a_git_lfs_pointer_for_the_weights_is_named(tmp_path):
    from wlearn.errors import ValidationError

    folder = random_checkpoint(tmp_path / "ckpt", "classifier", dim=8, n_layers=1, n_heads=2)
    (folder / "model.safetensors").write_text(
        "version https://git-lfs.github.com/spec/v1\noid sha256:" + "0" * 64 + "\nsize 1\n")
    with pytest.raises(ValidationError, match="Git LFS pointer.*git lfs pull"):
        load_model(folder)
    (folder / "model.safetensors").write_bytes(b"\x00" * 10)  # merely damaged: no LFS hint
    with pytest.raises(ValidationError, match="cannot read") as refused:
        load_model(folder)
    assert "LFS" not in str(refused.value)
