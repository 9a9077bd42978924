"""float64 moments (batches, shards, gloo ranks) and the restricted edm2 ``.pkl`` reader."""

from __future__ import annotations

import os
import pickle
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from fcdmbench.errors import InputError
from fcdmbench.evaluation.dinov2.fd_stats import FeatureMoments, read_stats_pickle
from fcdmbench.evaluation.metrics import frechet_distance
from fcdmbench.evaluation.statistics import features_to_stats


def test_moments_of_batches_equal_the_whole_and_np_cov():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(300, 16)).astype(np.float32) + 3
    whole = FeatureMoments.of(features).to_stats()
    parts = FeatureMoments.empty(16)
    for start in range(0, 300, 64):
        parts = parts + FeatureMoments.of(features[start : start + 64])
    summed = parts.to_stats()
    np.testing.assert_allclose(summed.mu, whole.mu, rtol=1e-13)
    np.testing.assert_allclose(summed.sigma, whole.sigma, rtol=1e-12, atol=1e-14)
    ref = features_to_stats(features.astype(np.float64))
    np.testing.assert_allclose(whole.sigma, ref.sigma, rtol=1e-9, atol=1e-12)
    assert abs(frechet_distance(whole, ref)) < 1e-8


def test_fewer_than_two_images_is_an_input_error():
    with pytest.raises(InputError, match="at least 2") as info:
        FeatureMoments.of(np.ones((1, 4))).to_stats()
    assert info.value.hint


def _pickle(tmp_path, obj):
    path = tmp_path / "ref.pkl"
    path.write_bytes(pickle.dumps(obj))
    return path


def test_reads_edm2_style_pickle(tmp_path):
    mu, sigma = np.arange(4, dtype=np.float64), np.eye(4)
    path = _pickle(
        tmp_path,
        {"fid": {"mu": mu[:2], "sigma": sigma[:2, :2]}, "fd_dinov2": {"mu": mu, "sigma": sigma}},
    )
    stats = read_stats_pickle(path)
    np.testing.assert_array_equal(stats.mu, mu)
    np.testing.assert_array_equal(stats.sigma, sigma)


class _Boom:
    def __reduce__(self):
        return (os.system, ("touch /tmp/fcdmbench-pickle-ran",))


@pytest.mark.parametrize(
    "obj",
    [
        {"fd_dinov2": {"mu": np.zeros(2), "sigma": np.eye(2)}, "x": _Boom()},
        {"fd_dinov2": {"mu": [0.0, 1.0], "sigma": np.eye(2)}},
        {"fid": {"mu": np.zeros(2), "sigma": np.eye(2)}},
        [np.zeros(2)],
    ],
    ids=["code", "list_not_array", "no_fd_dinov2", "not_dict"],
)
def test_pickle_with_anything_but_arrays_is_refused(tmp_path, obj):
    marker = "/tmp/fcdmbench-pickle-ran"
    if os.path.exists(marker):
        os.unlink(marker)
    with pytest.raises(InputError) as info:
        read_stats_pickle(_pickle(tmp_path, obj))
    assert info.value.hint and not os.path.exists(marker)


HERE = str(Path(__file__).parent)  # synthetic.py, for the ranks
RANK_CODE = textwrap.dedent(
    """
    import sys, numpy as np, torch, torch.distributed as dist
    sys.path.insert(0, sys.argv[3])
    from fcdmbench.evaluation.dinov2.network import DINOV2_TINY, DinoV2Extractor, build_dinov2
    from synthetic import seeded_state_dict
    from fcdmbench.evaluation.dinov2.fd_dinov2 import iter_batches, shard_moments
    model = build_dinov2(DINOV2_TINY); model.load_state_dict(seeded_state_dict(DINOV2_TINY, 0))
    ext = DinoV2Extractor(model, "0" * 64, batch_size=3)
    images = np.random.default_rng(7).integers(0, 256, (11, 32, 32, 3), dtype=np.uint8)
    world = int(sys.argv[1])
    if world > 1:
        dist.init_process_group("gloo")
    rank = dist.get_rank() if world > 1 else 0
    m = shard_moments(ext, iter_batches(images, 3), rank, world)
    if rank == 0:
        np.savez(sys.argv[2], count=m.count, total=m.total, outer=m.outer)
    if world > 1:
        dist.destroy_process_group()
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_shards_add_up_to_one_pass():
    """Fast twin of the gloo test: each rank's shard computed in one process, then summed."""
    from synthetic import seeded_state_dict

    from fcdmbench.evaluation.dinov2.fd_dinov2 import iter_batches, shard_moments
    from fcdmbench.evaluation.dinov2.network import DINOV2_TINY, DinoV2Extractor, build_dinov2

    model = build_dinov2(DINOV2_TINY)
    model.load_state_dict(seeded_state_dict(DINOV2_TINY, 0))
    ext = DinoV2Extractor(model, "0" * 64)
    images = np.random.default_rng(7).integers(0, 256, (7, 32, 32, 3), dtype=np.uint8)
    one = shard_moments(ext, iter_batches(images, 2)).to_stats()
    parts = [shard_moments(ext, iter_batches(images, 2), r, 2) for r in range(2)]
    assert [p.count for p in parts] == [4, 3]
    two = (parts[0] + parts[1]).to_stats()
    np.testing.assert_allclose(two.mu, one.mu, rtol=1e-9)
    np.testing.assert_allclose(two.sigma, one.sigma, rtol=1e-9, atol=1e-12)


@pytest.mark.slow
def test_two_gloo_ranks_equal_one_process(tmp_path):
    """Three processes (~25 s under load): batches shard over ranks (i % world), float64
    sums all-reduced; equal to one process within 1e-9 relative."""
    port = _free_port()
    env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "WORLD_SIZE": "2"}
    env["OMP_NUM_THREADS"] = "1"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RANK_CODE, "2", str(tmp_path / "two.npz"), HERE],
            env={**env, "RANK": str(r), "LOCAL_RANK": str(r)},
        )
        for r in range(2)
    ]
    single = subprocess.run(
        [sys.executable, "-c", RANK_CODE, "1", str(tmp_path / "one.npz"), HERE],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        timeout=120,
    )
    assert all(p.wait(timeout=120) == 0 for p in procs) and single.returncode == 0
    one, two = np.load(tmp_path / "one.npz"), np.load(tmp_path / "two.npz")
    assert int(one["count"]) == int(two["count"]) == 11
    a = FeatureMoments(int(one["count"]), one["total"], one["outer"]).to_stats()
    b = FeatureMoments(int(two["count"]), two["total"], two["outer"]).to_stats()
    np.testing.assert_allclose(b.mu, a.mu, rtol=1e-9)
    np.testing.assert_allclose(b.sigma, a.sigma, rtol=1e-9, atol=1e-12)
