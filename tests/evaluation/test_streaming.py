"""`fcdmbench sample --eval`: the metrics of the sampling pass equal `sample` then `eval`.

FD-DINOv2: a tiny FCDM with random weights (--smoke) samples 5 images at 256x256 in batches of 2
(so the last batch is partly past --num); the two-block DINOv2 stand-in of test_fd_dinov2.py
extracts the features; the reference is a synthetic npz. Measured: the two FD values are
bit-identical here (the streamed sums group the images by sampler block, `eval` by cache chunk;
float64 sums grouped otherwise may differ in the last bits); the test allows 1e-9 relative.

ADM's five metrics: the same tiny FCDM, ADM's Inception topology with random weights
(`write_inception_2015_graph`) on the PyTorch backend, and 20 synthetic 256 px reference images.
The stream cuts the same Inception batches as `eval` (here chunks of 3 images, so the sampler's
blocks of 2 straddle them), so the features are the same and every metric is equal, not close.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from synthetic import seeded_state_dict
from typer.testing import CliRunner

from fcdmbench.cli.main import app
from fcdmbench.evaluation.dinov2 import fd_dinov2
from fcdmbench.evaluation.dinov2.network import DINOV2_TINY
from fcdmbench.evaluation.streaming import NO_NPZ, _AdmStream, _batch_end

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
    streamed, result = _sample(
        root, "a.npz", "--eval", "--metrics", "fd_dinov2", "--ref", ref, "--dinov2", str(weights)
    )
    assert "FD-DINOv2" in result.output and "note:" not in result.output
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
    assert one_pass["notes"] == two_step["notes"] == []
    assert one_pass["fid"] is None and one_pass["metrics_requested"] == ["fd_dinov2"]


def test_sample_eval_without_weights_fails_before_sampling(tiny_dinov2, monkeypatch):
    root, _ = tiny_dinov2
    monkeypatch.delenv("FCDMBENCH_DINOV2", raising=False)
    monkeypatch.setenv("FCDMBENCH_REFERENCE_DIR", str(root / "empty"))
    args = ["sample", "fcdm-s", "--smoke", "--num", "2", "--steps", "2", *TINY]
    result = CliRunner().invoke(
        app,
        [*args, "--out", str(root / "c.npz"), "--eval", "--metrics", "all", "--ref",
         str(root / "ref.npz")],
    )  # fmt: skip
    assert result.exit_code == 3 and "fetch dinov2" in result.output
    assert not (root / "c.npz").exists() and not (root / "c.eval.json").exists()


ADM_KEYS = ("inception_score", "fid", "sfid", "precision", "recall", "num_samples", "num_ref")


@pytest.mark.slow
def test_sample_eval_no_save_gives_adm_metrics_of_sample_then_eval(
    tmp_path, monkeypatch, adm_sqrtm_once
):
    """Two sampling runs and an eval. ADM's FID and sFID (scipy's sqrtm of 2048-d and 2023-d
    covariances, about a minute each on 2 cores) are computed once: the second run's covariances
    are bit-identical to the first's (asserted), so `adm_sqrtm_once` returns the same traces
    instead of computing them again; a covariance differing in one bit would be computed afresh
    and its metric compared as computed."""
    from standin_graph import write_inception_2015_graph

    monkeypatch.setenv("FCDMBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("FCDMBENCH_EVAL_CHUNK", "3")
    graph = write_inception_2015_graph(tmp_path / "graph.pb", seed=0)
    rng = np.random.default_rng(5)
    ref = tmp_path / "ref.npz"
    np.savez(ref, arr_0=rng.integers(0, 256, (20, 256, 256, 3), dtype=np.uint8))
    opts = ["--ref", str(ref), "--inception", str(graph)]
    _, result = _sample(tmp_path, "c.npz", "--eval", "--no-save", *opts)
    assert "no npz written" in result.output and "FID" in result.output
    names = sorted(p.name for p in tmp_path.iterdir())  # no npz, sample record or shards
    assert names == ["c.eval.json", "cache", "graph.pb", "ref.npz"]
    one_pass = json.loads((tmp_path / "c.eval.json").read_text())
    plain, _ = _sample(tmp_path, "b.npz")
    evaluated = CliRunner().invoke(
        app, ["eval", str(plain), "-n", "5", *opts, "--json", str(tmp_path / "b.eval.json")]
    )
    assert evaluated.exit_code == 0, evaluated.output
    two_step = json.loads((tmp_path / "b.eval.json").read_text())
    for key in (*ADM_KEYS, "mode", "inception", "metrics_requested", "model", "resolution"):
        assert one_pass[key] == two_step[key], key
    assert one_pass["fid"] > 0 and one_pass["inception_score"] > 0
    assert one_pass["reference"] == {**two_step["reference"], "activations_cached": False}
    assert one_pass["notes"] == [NO_NPZ] and not two_step["notes"]
    assert one_pass["samples"]["sha256"] == "" and one_pass["sample_record"] is None
    assert one_pass["sampler"]["steps"] == two_step["sampler"]["steps"] == 2
    assert (adm_sqrtm_once.computed, adm_sqrtm_once.reused) == (2, 2)  # FID and sFID, once each


class _CountingExtractor:
    """Records the batches it is given; features: the image's first pixel."""

    batch_size = 4

    def __init__(self):
        self.batches = []

    def extract_batch(self, images):
        self.batches.append(len(images))
        first = images[:, 0, 0, 0].astype(np.float32)[:, None]
        return first, -first


@pytest.mark.parametrize(
    ("num", "chunk", "blocks"),
    [(11, 6, [2, 2, 2, 2, 2, 1]), (11, 1024, [5, 6]), (9, 3, [9]), (7, 8, [1] * 7)],
)
def test_adm_stream_cuts_evals_batches_whatever_the_blocks(num, chunk, blocks):
    """The Inception batches are eval's (chunks of `chunk` images, batches of 4 inside each),
    whatever blocks the sampler's merge yields; the features stay in index order."""
    extractor = _CountingExtractor()
    stream = _AdmStream(extractor, num, None, None, 0, chunk)
    images = np.arange(num, dtype=np.uint8)[:, None, None, None] * np.ones((1, 2, 2, 3), np.uint8)
    start = 0
    for size in blocks:
        stream.add(images[start : start + size])
        start += size
    evals, first = [], 0
    while first < num:
        evals.append(_batch_end(first, num, 4, chunk) - first)
        first += evals[-1]
    expected = [
        min(4, min(c + chunk, num) - s)
        for c in range(0, num, chunk)
        for s in range(c, min(c + chunk, num), 4)
    ]
    assert extractor.batches == evals == expected
    assert stream.done == num
    assert np.array_equal(np.concatenate(stream.pool)[:, 0], np.arange(num))


def test_no_save_without_eval_is_a_config_error(tmp_path):
    args = ["sample", "fcdm-s", "--smoke", "--num", "2", "--steps", "2", *TINY]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "d.npz"), "--no-save"])
    assert result.exit_code == 2 and "--no-save" in result.output and "hint:" in result.output
    assert list(tmp_path.iterdir()) == []


def test_sample_eval_without_the_inception_graph_fails_before_sampling(tmp_path, monkeypatch):
    """ADM's metrics (the default) need the graph: exit 3 naming it, nothing written."""
    monkeypatch.delenv("FCDMBENCH_INCEPTION", raising=False)
    monkeypatch.setenv("FCDMBENCH_REFERENCE_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("FCDMBENCH_CACHE", str(tmp_path / "cache"))
    ref = tmp_path / "ref.npz"
    np.savez(ref, arr_0=np.zeros((4, 256, 256, 3), dtype=np.uint8))
    args = ["sample", "fcdm-s", "--smoke", "--num", "4", "--steps", "2", *TINY, "--eval"]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "e.npz"), "--ref", str(ref)])
    assert result.exit_code == 3 and "inception" in result.output.lower(), result.output
    assert "hint:" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ref.npz"]
