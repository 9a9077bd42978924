"""`fcdmbench sample --rng upstream` writes the images and labels upstream's sample_ddp.py writes.

Fixture: tests/fixtures/sampling/upstream_sample_ddp.json, made by running DiT's and FCDM's own
``sample_ddp.py`` (on CPU with gloo; PROVENANCE.md lists the patches) with the same random-weight
checkpoint (`deterministic_state_dict` of upstream's keys, seed 0, stored under ``ema``), the same
tiny VAE folder (`tiny_vae(0).save_pretrained(DIR)`), seed 0, 4 images, 10 steps, CFG 4.0, one
thread.
It holds the sha256 of upstream's uint8 images per recording CPU (an Intel Xeon and an AMD EPYC:
network kernels and float32 sqrt/exp differ between them) and per ATEN_CPU_CAPABILITY (upstream's
own images differ between ``default`` and ``avx2``/``avx512``), and the labels upstream drew (the
same everywhere). The tests compare with the recording whose kernels this machine reproduces
(conftest.upstream_recording); where none does, a bit-for-bit comparison means nothing, and the
test skips with that reason.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from gloo_ranks import kill_all, launch_ranks
from typer.testing import CliRunner

from fcdmbench.cli.main import app

FIXTURES = Path(__file__).parents[1] / "fixtures"
UPSTREAM = json.loads((FIXTURES / "sampling" / "upstream_sample_ddp.json").read_text())


@pytest.fixture(scope="module")
def vae_dir(tmp_path_factory):
    pytest.importorskip("diffusers")
    from fcdmbench.sampling.vae import tiny_vae

    path = tmp_path_factory.mktemp("vae")  # a diffusers folder, for --vae DIR
    tiny_vae(seed=0).save_pretrained(str(path))
    return path


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """Upstream-keyed random checkpoints, as upstream's scripts load them (``ckpt["ema"]``)."""
    from fcdmbench.parity import deterministic_state_dict

    folder = tmp_path_factory.mktemp("ckpt")
    paths = {}
    for model in ("dit-s-2", "fcdm-s"):
        fx = torch.load(FIXTURES / "parity" / f"{model}.pt", weights_only=True)
        shapes = {k: tuple(v) for k, v in fx["upstream_shapes"].items()}
        paths[model] = folder / f"{model}.pt"
        torch.save({"ema": deterministic_state_dict(shapes, seed=0)}, paths[model])
    return paths


def _args(case: dict, ckpt: Path, vae: Path, out: Path, rng: str = "upstream") -> list[str]:
    return [
        "sample",
        case["model"],
        "--ckpt",
        str(ckpt),
        "--vae",
        str(vae),
        "--rng",
        rng,
        "--seed",
        str(case["seed"]),
        "--num-samples",
        str(case["num"]),
        "--batch-size",
        str(case["batch_size"]),
        "--steps",
        str(case["steps"]),
        "--cfg-scale",
        str(case["cfg_scale"]),
        "--device",
        "cpu",
        *case["fcdmbench_args"],
        "--out",
        str(out),
    ]


def _images_sha256(out: Path) -> tuple[str, list[int]]:
    with np.load(out) as data:
        images, labels = data["arr_0"], data["arr_1"]
    assert images.shape == (4, 256, 256, 3) and images.dtype == np.uint8
    return hashlib.sha256(np.ascontiguousarray(images).tobytes()).hexdigest(), labels.tolist()


def _run_in_process(args: list[str]) -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # upstream ran with OMP_NUM_THREADS=1
    try:
        result = CliRunner().invoke(app, args)
    finally:
        torch.set_num_threads(threads)
    assert result.exit_code == 0, result.output


def _expected(case: dict, upstream_recording) -> str:
    """The sha256 of upstream's images recorded on the CPU whose kernels this machine reproduces."""
    cpu, _, reason = upstream_recording(case["model"])
    if reason is not None:
        pytest.skip(reason)
    if cpu not in case["images_sha256"]:
        pytest.skip(f"upstream's sample_ddp.py was not run on {cpu}")
    return case["images_sha256"][cpu][torch.backends.cpu.get_cpu_capability()]


def _check_one_process(case, checkpoints, vae_dir, tmp_path, upstream_recording) -> Path:
    expected = _expected(case, upstream_recording)
    out = tmp_path / "s.npz"
    _run_in_process(_args(case, checkpoints[case["model"]], vae_dir, out))
    sha, labels = _images_sha256(out)
    assert labels == case["labels"]
    assert sha == expected, "images differ from upstream's sample_ddp.py"
    record = json.loads((tmp_path / "s.npz.json").read_text())
    assert record["rng"] == "upstream" and "seed * world + r" in record["seed_scheme"]
    return out


@pytest.mark.slow
def test_dit_iddpm_matches_upstream_sample_ddp(checkpoints, vae_dir, tmp_path, upstream_recording):
    """One process: dit-s-2 --rng upstream --seed 0 --num 4 --batch-size 4 --steps 10
    --cfg-scale 4.0 --device cpu."""
    _check_one_process(
        UPSTREAM["cases"]["dit-s-2-iddpm-1proc"], checkpoints, vae_dir, tmp_path, upstream_recording
    )


@pytest.mark.slow  # ~30 s: FCDM-S at 256 px, 10 DDIM steps, 8 rows
def test_fcdm_ddim_matches_upstream_sample_ddp(checkpoints, vae_dir, tmp_path, upstream_recording):
    """FCDM's script samples with DDIM unless --ddpm is given; fcdmbench --sampler ddim."""
    _check_one_process(
        UPSTREAM["cases"]["fcdm-s-ddim-1proc"], checkpoints, vae_dir, tmp_path, upstream_recording
    )


@pytest.mark.slow  # ~30 s: a second full run
def test_default_rng_does_not_give_upstreams_images(checkpoints, vae_dir, tmp_path):
    """Negative control: the comparison can fail (fcdmbench's own seeding, same settings)."""
    case = UPSTREAM["cases"]["dit-s-2-iddpm-1proc"]
    out = tmp_path / "own.npz"
    _run_in_process(_args(case, checkpoints["dit-s-2"], vae_dir, out, rng="fcdmbench"))
    sha, labels = _images_sha256(out)
    recorded = {sha for per_cpu in case["images_sha256"].values() for sha in per_cpu.values()}
    assert sha not in recorded and labels != case["labels"]
    assert json.loads((tmp_path / "own.npz.json").read_text())["rng"] == "fcdmbench"


@pytest.mark.slow  # ~40 s: two processes start torch and diffusers
def test_two_gloo_ranks_match_upstream_per_rank_seeding(
    checkpoints, vae_dir, tmp_path, upstream_recording
):
    case = UPSTREAM["cases"]["dit-s-2-iddpm-2proc"]
    expected = _expected(case, upstream_recording)
    out = tmp_path / "two.npz"
    args = _args(case, checkpoints["dit-s-2"], vae_dir, out) + ["--json"]
    procs = launch_ranks(args, case["world_size"])
    try:
        results = [p.communicate(timeout=300) for p in procs]
    finally:
        kill_all(procs)
    assert [p.returncode for p in procs] == [0, 0], [r[1][-2000:] for r in results]
    record = json.loads(results[0][0])
    assert record["world_size"] == 2 and record["rng"] == "upstream"
    sha, labels = _images_sha256(out)
    assert labels == case["labels"]
    assert sha == expected, "images differ from upstream's sample_ddp.py on 2 processes"
