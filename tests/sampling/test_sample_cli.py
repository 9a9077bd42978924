"""`fcdmbench sample` end to end on CPU (tiny FCDM, tiny random AutoencoderKL folder), bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from fcdmbench.cli.main import app

TINY = ["--set", "width=16", "--set", "depths=1,1,1,1,1"]
runner = CliRunner()


pytestmark = pytest.mark.usefixtures("one_thread_module")


@pytest.fixture(scope="module")
def vae_dir(tmp_path_factory):
    """A randomly initialised small AutoencoderKL saved the way a downloaded one is."""
    diffusers = pytest.importorskip("diffusers")
    from fcdmbench.sampling.vae import TINY_VAE_CONFIG

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("vae")
    diffusers.AutoencoderKL(**TINY_VAE_CONFIG).save_pretrained(path)
    return path


def _tiny_state_dict(width: int = 16, seed: int = 0) -> dict:
    from fcdmbench.parity import deterministic_state_dict
    from fcdmbench.registry import create_model

    model = create_model("fcdm-s", width=width, depths=(1, 1, 1, 1, 1), device="meta")
    return deterministic_state_dict(model.state_dict(), seed=seed)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    torch.save({"model": _tiny_state_dict(seed=1), "ema": _tiny_state_dict(seed=2)}, path)
    return path


def test_tiny_model_end_to_end_to_a_valid_adm_npz(tmp_path, vae_dir, ckpt):
    out = tmp_path / "samples.npz"
    result = runner.invoke(
        app,
        [
            "sample",
            "fcdm-s",
            "--ckpt",
            str(ckpt),
            "--num",
            "3",
            "--steps",
            "3",
            "--batch-size",
            "2",
            "--vae",
            str(vae_dir),
            "--labels",
            "balanced",
            "--out",
            str(out),
            *TINY,
        ],
    )
    assert result.exit_code == 0, result.output
    with np.load(out) as data:
        images, labels = data["arr_0"], data["arr_1"]
    assert images.dtype == np.uint8 and images.shape == (3, 256, 256, 3)
    assert labels.dtype == np.int64 and labels.shape == (3,)
    assert len(set(labels.tolist())) == 3 and labels.max() < 1000  # balanced: distinct classes
    assert images.std() > 0  # not a constant image
    record = json.loads((tmp_path / "samples.npz.json").read_text())
    assert record["schema"] == "fcdmbench.sample/2" and record["rng"] == "fcdmbench"
    assert record["checkpoint"]["weights_used"] == "ema"
    assert record["checkpoint"]["weights_available"] == ["ema", "model"]
    from fcdmbench.files import file_sha256

    assert record["checkpoint"]["sha256"] == file_sha256(ckpt)
    assert record["npz_sha256"] == file_sha256(out)
    assert record["sampler"]["name"] == "iddpm" and record["sampler"]["steps"] == 3
    assert record["sampler"]["network_evaluations_per_image"] == 6  # CFG doubles
    assert record["cfg"] == {"scale": 1.5, "channels": 3, "null_label": 1000, "active": True}
    assert record["vae"]["resolved"] == str(vae_dir.resolve()) and not record["smoke"]
    assert record["precision"]["mode"] == "fp32-strict" and record["devices"] == {"cpu": 3}
    assert record["precision"]["flags"]["tf32_matmul"] is False
    assert not (tmp_path / "samples.shards").exists()  # removed after the merge


@pytest.mark.parametrize(("sampler", "precision"), [("ddim", "bf16"), ("sde", "tf32")])
def test_smoke_mode_is_stamped_and_other_samplers_run(tmp_path, sampler, precision):
    flags = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    out = tmp_path / "s.npz"
    result = runner.invoke(
        app,
        [
            "sample",
            "fcdm-s",
            "--smoke",
            "--num",
            "2",
            "--steps",
            "3",
            "--sampler",
            sampler,
            "--cfg-channels",
            "all",
            "--out",
            str(out),
            "--precision",
            precision,
            "--json",
            *TINY,
        ],
    )
    assert result.exit_code == 0, result.output
    with np.load(out) as data:
        assert data["arr_0"].shape == (2, 256, 256, 3)
        assert json.loads(str(data["fcdmbench_meta"]))["smoke"] is True
    record = json.loads((tmp_path / "s.npz.json").read_text())
    assert record["smoke"] and record["checkpoint"]["weights_used"].startswith("random")
    assert record["vae"]["random_weights"] and record["cfg"]["channels"] == 4
    assert record["precision"]["mode"] == precision
    assert record["precision"]["autocast"] == ("bfloat16" if precision == "bf16" else None)
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == flags
    if sampler == "sde":  # flow checkpoints are velocity-only: learn_sigma defaults to False
        assert record["model"]["overrides"]["learn_sigma"] is False
        assert record["sampler"]["sde"]["last_step_size"] == 0.04


def test_missing_checkpoint_exits_3(tmp_path):
    result = runner.invoke(
        app,
        [
            "sample",
            "fcdm-s",
            "--ckpt",
            str(tmp_path / "nope.pt"),
            "--num",
            "1",
            "--out",
            str(tmp_path / "x.npz"),
            *TINY,
        ],
    )
    assert result.exit_code == 3
    assert "not found" in result.output and "nope.pt" in result.output


def test_checkpoint_of_another_model_names_the_mismatched_keys(tmp_path):
    path = tmp_path / "wide.pt"
    torch.save({"ema": _tiny_state_dict(width=24)}, path)
    result = runner.invoke(
        app,
        [
            "sample",
            "fcdm-s",
            "--ckpt",
            str(path),
            "--num",
            "1",
            "--out",
            str(tmp_path / "x.npz"),
            *TINY,
        ],
    )
    assert result.exit_code == 3, result.output
    assert "does not fit fcdm-s" in result.output
    assert "shape 80: dec1.0.ada_ln.bias: checkpoint (72,) vs model (48,)" in result.output
    foreign = {
        "pos_embed": torch.zeros(1, 256, 16),
        "blocks.0.attn.qkv.weight": torch.zeros(48, 16),
    }
    torch.save({"model": foreign}, path)
    result = runner.invoke(
        app,
        [
            "sample",
            "fcdm-s",
            "--ckpt",
            str(path),
            "--num",
            "1",
            "--out",
            str(tmp_path / "x.npz"),
            *TINY,
        ],
    )
    assert result.exit_code == 3
    assert "missing" in result.output and "blocks.0.attn.qkv.weight" in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["--smoke", "--ckpt", "x.pt"],  # both
        [],  # neither
        ["--smoke", "--set", "no_such_field=1"],
        ["--smoke", "--set", "width=wide"],
    ],
)
def test_bad_options_exit_2(tmp_path, args):
    result = runner.invoke(
        app, ["sample", "fcdm-s", "--num", "1", "--out", str(tmp_path / "x.npz"), *args]
    )
    assert result.exit_code == 2, result.output
    assert "error:" in result.output or "Error" in result.output
