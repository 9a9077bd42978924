"""FD-DINOv2 in `fcdmbench eval`: --metrics, --dinov2, the record, the cache, bad inputs.

The ViT-L network is replaced by the two-block `DINOV2_TINY` (same code path) so that a random
checkpoint is a few hundred kB; ADM's metrics run on the stand-in Inception graph of
test_evaluate.py.
"""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from synthetic import seeded_state_dict

from fcdmbench.errors import ConfigError, InputError, ReferenceBatchError
from fcdmbench.evaluation.dinov2 import fd_dinov2
from fcdmbench.evaluation.dinov2.fd_dinov2 import (
    ADM_METRICS,
    Metric,
    compute_fd_dinov2,
    parse_metrics,
)
from fcdmbench.evaluation.dinov2.fd_stats import FeatureMoments
from fcdmbench.evaluation.dinov2.network import DINOV2_TINY, ResizeMode
from fcdmbench.evaluation.metrics import frechet_distance


def _images(seed, num, res=32):
    return np.random.default_rng(seed).integers(0, 256, (num, res, res, 3), dtype=np.uint8)


@pytest.fixture()
def tiny(monkeypatch, tmp_path):
    """A tiny random checkpoint, loaded as if it were ViT-L/14."""
    import torch

    real = fd_dinov2.load_dinov2_state_dict
    monkeypatch.setattr(fd_dinov2, "DINOV2_VITL14", DINOV2_TINY)
    monkeypatch.setattr(fd_dinov2, "load_dinov2_state_dict", lambda p, c: real(p, DINOV2_TINY))
    path = tmp_path / "dinov2_tiny.pth"
    torch.save(seeded_state_dict(DINOV2_TINY, 0), path)
    np.savez(tmp_path / "ref.npz", arr_0=_images(1, 12))
    np.savez(tmp_path / "samples.npz", arr_0=_images(2, 9))
    return tmp_path, path


def test_parse_metrics():
    assert parse_metrics("adm") == ADM_METRICS
    assert parse_metrics("all") == (*ADM_METRICS, Metric.FD_DINOV2)
    assert parse_metrics("fid, fd_dinov2,fid") == (Metric.FID, Metric.FD_DINOV2)
    for bad in ("fid,kid", " , "):
        with pytest.raises(ConfigError) as info:
            parse_metrics(bad)
        assert info.value.hint


def test_fd_dinov2_equals_frechet_of_the_features(tiny):
    root, weights = tiny
    result = compute_fd_dinov2(
        root / "samples.npz", 9, root / "ref.npz", (weights, "not in manifest"), cache_dir=root
    )
    ext = fd_dinov2.load_dinov2_extractor(weights)
    want = frechet_distance(
        FeatureMoments.of(ext.features(_images(2, 9))).to_stats(),
        FeatureMoments.of(ext.features(_images(1, 12))).to_stats(),
    )
    assert result.value == pytest.approx(want, rel=1e-9) and result.value > 0
    assert (result.num_samples, result.num_ref, result.resize) == (9, 12, "torch")
    assert not result.samples_cached and not result.ref_cached
    again = compute_fd_dinov2(
        root / "samples.npz", 9, root / "ref.npz", (weights, "x"), cache_dir=root
    )
    assert again.samples_cached and again.ref_cached and again.value == result.value
    pil = compute_fd_dinov2(
        root / "samples.npz", 9, root / "ref.npz", (weights, "x"), cache_dir=root,
        resize=ResizeMode.PIL,
    )  # fmt: skip
    assert not pil.samples_cached and pil.extractor_id != result.extractor_id


def test_edm2_pickle_reference(tiny):
    root, weights = tiny
    ext = fd_dinov2.load_dinov2_extractor(weights)
    stats = FeatureMoments.of(ext.features(_images(1, 12))).to_stats()
    pkl = root / "ref.pkl"
    pkl.write_bytes(pickle.dumps({"fd_dinov2": {"mu": stats.mu, "sigma": stats.sigma}}))
    from_pkl = compute_fd_dinov2(root / "samples.npz", 9, pkl, (weights, "x"), cache_dir=root)
    from_npz = compute_fd_dinov2(
        root / "samples.npz", 9, root / "ref.npz", (weights, "x"), cache_dir=root
    )
    assert from_pkl.value == pytest.approx(from_npz.value, rel=1e-12)
    assert from_pkl.num_ref == 0 and from_pkl.ref_source.startswith("stats in")


def test_fewer_than_two_images(tiny):
    root, weights = tiny
    with pytest.raises(InputError, match="at least 2"):
        compute_fd_dinov2(root / "samples.npz", 1, root / "ref.npz", (weights, "x"))


def test_missing_weights_name_the_fetch_and_the_path(tmp_path, monkeypatch):
    monkeypatch.delenv("FCDMBENCH_DINOV2", raising=False)
    with pytest.raises(ReferenceBatchError) as info:
        fd_dinov2.resolve_dinov2_path(None, reference_dir=tmp_path)
    assert "fcdmbench reference fetch dinov2" in info.value.hint
    assert "dinov2_vitl14_pretrain.pth" in info.value.hint and str(tmp_path) in info.value.hint
    with pytest.raises(ReferenceBatchError, match="not found"):
        fd_dinov2.resolve_dinov2_path(tmp_path / "nope.pth")


@pytest.mark.slow
def test_eval_cli_all_metrics_records_fd_dinov2(tiny, monkeypatch):
    """FD-DINOv2 beside ADM's metrics in one run. ADM's FID and sFID are replaced by their mean
    term, as in test_evaluate.py (a 2048-d sqrtm takes a minute or more on 2 cores; the FID
    arithmetic is checked against ADM in test_metrics.py); FD-DINOv2 is computed in full."""
    pytest.importorskip("tensorflow")
    from test_evaluate import build_standin_graph
    from typer.testing import CliRunner

    import fcdmbench.evaluation.evaluate as ev
    from fcdmbench.cli.main import app

    dims = []

    def mean_term(sample, ref, *, method):
        dims.append(len(sample.mu))
        return float(((sample.mu - ref.mu) ** 2).sum())

    monkeypatch.setattr(ev, "frechet_distance", mean_term)
    root, weights = tiny
    graph = build_standin_graph(root / "standin.pb")
    env = {"FCDMBENCH_CACHE": str(root / "cache"), "FCDMBENCH_INCEPTION": str(graph)}
    args = ["eval", str(root / "samples.npz"), "--ref", str(root / "ref.npz"), "--num", "9"]
    args += ["--backend", "tensorflow"]  # the stand-in graph is TensorFlow's
    out = CliRunner().invoke(
        app, [*args, "--metrics", "all", "--dinov2", str(weights), "--json", str(root / "r.json")],
        env=env,
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    record = json.loads((root / "r.json").read_text())
    assert record["fd_dinov2"]["value"] > 0 and record["fid"] is not None
    assert record["fd_dinov2"]["weights_sha256"] and record["fd_dinov2"]["num_ref"] == 12
    assert record["metrics_requested"] == ["fid", "sfid", "is", "pr", "fd_dinov2"]
    assert "FD-DINOv2" in out.output and dims == [2048, 2023]  # FID, then sFID
    bad = CliRunner().invoke(
        app, [*args, "--metrics", "all", "--json", str(root / "bad.json")],
        env={**env, "FCDMBENCH_REFERENCE_DIR": str(root / "empty")},
    )  # fmt: skip
    assert bad.exit_code == 3 and "fetch dinov2" in bad.output
    assert not (root / "bad.json").exists()


def _manifest(tmp_path, monkeypatch, sha256: str):
    body = (
        f'[dinov2]\nfilename = "w.pth"\nurl = "{(tmp_path / "absent.pth").as_uri()}"\n'
        f'sha256 = "{sha256}"\nsize = 0\nstatus = "{"verified" if sha256 else "unverified"}"\n'
        'source = "test"\nkind = "weights"\n'
    )
    (tmp_path / "manifest.toml").write_text(body)
    monkeypatch.setenv("FCDMBENCH_MANIFEST", str(tmp_path / "manifest.toml"))
    monkeypatch.setenv("FCDMBENCH_REFERENCE_DIR", str(tmp_path / "ref"))
    monkeypatch.delenv("FCDMBENCH_DINOV2", raising=False)


def test_fetch_dinov2_offline_names_url_and_path(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from fcdmbench.cli.main import app

    _manifest(tmp_path, monkeypatch, "")
    out = CliRunner().invoke(app, ["reference", "fetch", "dinov2"])
    assert out.exit_code == 3
    assert "absent.pth" in out.output and str(tmp_path / "ref" / "w.pth") in out.output
    assert not (tmp_path / "ref" / "w.pth").exists()


def test_weights_with_a_wrong_sha256_are_refused(tmp_path, monkeypatch):
    _manifest(tmp_path, monkeypatch, "0" * 64)
    (tmp_path / "ref").mkdir()
    (tmp_path / "ref" / "w.pth").write_bytes(b"tampered")
    with pytest.raises(ReferenceBatchError, match="sha256") as info:
        fd_dinov2.resolve_dinov2_path(None)
    assert "fetch dinov2" in info.value.hint


def test_eval_cli_fd_dinov2_alone_needs_no_inception(tiny, monkeypatch):
    from typer.testing import CliRunner

    from fcdmbench.cli.main import app

    root, weights = tiny
    monkeypatch.setenv("FCDMBENCH_INCEPTION", str(root / "no-such-graph.pb"))
    args = ["eval", str(root / "samples.npz"), "--ref", str(root / "ref.npz"), "--num", "9"]
    out = CliRunner().invoke(
        app,
        [*args, "--metrics", "fd_dinov2", "--dinov2", str(weights), "--json", str(root / "r.json")],
        env={"FCDMBENCH_CACHE": str(root / "cache")},
    )
    assert out.exit_code == 0, out.output
    record = json.loads((root / "r.json").read_text())
    assert record["fid"] is None and record["inception"]["path"] == "not used"
    assert record["mode"]["adm_exact"] is False and record["metrics_requested"] == ["fd_dinov2"]
    want = compute_fd_dinov2(
        root / "samples.npz", 9, root / "ref.npz", (weights, "x"), cache_dir=root / "other"
    )
    assert record["fd_dinov2"]["value"] == want.value and "FD-DINOv2" in out.output
    one = CliRunner().invoke(
        app,
        [*args[:-1], "1", "--metrics", "fd_dinov2", "--dinov2", str(weights), "--json",
         str(root / "one.json")],
        env={"FCDMBENCH_CACHE": str(root / "cache")},
    )  # fmt: skip
    assert one.exit_code == 3 and "at least 2" in one.output
    assert not (root / "one.json").exists()
