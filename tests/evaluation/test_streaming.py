"""`fcdmbench sample --eval`: FD-DINOv2 in the sampling pass equals `sample` then `eval`.

A tiny FCDM with random weights (--smoke) samples 5 images at 256x256 in batches of 2 (so the
last batch is partly past --num); the two-block DINOv2 stand-in of test_fd_dinov2.py extracts the
features; the reference is a synthetic npz. Measured: the two FD values are bit-identical here
(the streamed sums group the images by sampler block, `eval` by cache chunk; float64 sums grouped
otherwise may differ in the last bits); the test allows 1e-9 relative.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from fcdmbench.cli.main import app
from fcdmbench.evaluation import fd_dinov2
from fcdmbench.evaluation.dinov2 import DINOV2_TINY, seeded_state_dict

TINY = ["--set", "width=16", "--set", "depths=1,1,1,1,1"]


@pytest.fixture()
def tiny_dinov2(monkeypatch, tmp_path):
    import torch

    real = fd_dinov2.load_dinov2_state_dict
    monkeypatch.setattr(fd_dinov2, "load_dinov2_state_dict", lambda p, c: real(p, DINOV2_TINY))
    path = tmp_path / "dinov2_tiny.pth"
    torch.save(seeded_state_dict(DINOV2_TINY, 0), path)
    rng = np.random.default_rng(5)
    np.savez(tmp_path / "ref.npz", arr_0=rng.integers(0, 256, (6, 256, 256, 3), dtype=np.uint8))
    monkeypatch.setenv("FCDMBENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path, path


def _sample(root, name, *extra):
    args = ["sample", "fcdm-s", "--smoke", "--num", "5", "--batch-size", "2", "--steps", "2"]
    out = root / name
    result = CliRunner().invoke(app, [*args, *TINY, "--out", str(out), *extra])
    assert result.exit_code == 0, result.output
    return out, result


@pytest.mark.slow
def test_sample_eval_equals_sample_then_eval(tiny_dinov2):
    """About 45 s on 2 loaded cores (two sampling runs and an eval)."""
    root, weights = tiny_dinov2
    ref = str(root / "ref.npz")
    streamed, result = _sample(root, "a.npz", "--eval", "--ref", ref, "--dinov2", str(weights))
    assert "FD-DINOv2" in result.output and "not streamed yet" in result.output
    one_pass = json.loads((root / "a.eval.json").read_text())
    plain, _ = _sample(root, "b.npz")
    with np.load(streamed) as a, np.load(plain) as b:
        assert np.array_equal(a["arr_0"], b["arr_0"])  # same seeds, same images
    evaluated = CliRunner().invoke(
        app,
        ["eval", str(plain), "--ref", ref, "--num", "5", "--metrics", "fd_dinov2",
         "--dinov2", str(weights), "--json", str(root / "b.eval.json")],
    )  # fmt: skip
    assert evaluated.exit_code == 0, evaluated.output
    two_step = json.loads((root / "b.eval.json").read_text())
    a, b = one_pass["fd_dinov2"], two_step["fd_dinov2"]
    assert a["value"] == pytest.approx(b["value"], rel=1e-9) and a["value"] > 0
    for key in ("num_samples", "num_ref", "weights_sha256", "extractor_id", "resize"):
        assert a[key] == b[key], key
    assert one_pass["model"] == two_step["model"] == "fcdm-s"
    assert one_pass["sampler"]["steps"] == two_step["sampler"]["steps"] == 2
    assert one_pass["notes"] and not two_step["notes"]


def test_sample_eval_without_weights_fails_before_sampling(tiny_dinov2, monkeypatch):
    root, _ = tiny_dinov2
    monkeypatch.delenv("FCDMBENCH_DINOV2", raising=False)
    monkeypatch.setenv("FCDMBENCH_REFERENCE_DIR", str(root / "empty"))
    args = ["sample", "fcdm-s", "--smoke", "--num", "2", "--steps", "2", *TINY]
    result = CliRunner().invoke(
        app, [*args, "--out", str(root / "c.npz"), "--eval", "--ref", str(root / "ref.npz")]
    )
    assert result.exit_code == 3 and "fetch dinov2" in result.output
    assert not (root / "c.npz").exists() and not (root / "c.eval.json").exists()
