"""float64 moments (batches) and the restricted edm2 ``.pkl`` reader."""

from __future__ import annotations

import os
import pickle

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
