"""DINOv2 network, loading and preprocessing against upstream's numbers
(tests/fixtures/dinov2/upstream_parity.npz; PROVENANCE.md, "DINOv2").

Tolerances from the measured spread (docs/evaluation.md, "FD-DINOv2"): features differ from
upstream's by at most 1.5e-6 relative under ATEN_CPU_CAPABILITY=default/avx2/avx512 (0 under the
capability the fixture was made with); the test allows 1e-5. Preprocessing: ``pil`` is bit-exact
everywhere; ``torch`` moves by at most 3.3e-6 absolute (on values up to 2.6) with the capability;
the test allows 1e-5.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from synthetic import seeded_state_dict

from fcdmbench.errors import InputError
from fcdmbench.evaluation.dinov2.network import (
    DINOV2_TINY,
    DINOV2_VITL14,
    DINOV2_VITS14,
    DinoV2Extractor,
    ResizeMode,
    build_dinov2,
    load_dinov2_state_dict,
    preprocess_images,
)

FIXTURE = Path(__file__).parents[1] / "fixtures" / "dinov2" / "upstream_parity.npz"
SIZES = [(64, 64), (256, 256), (96, 160)]
FEATURE_RTOL = 1e-5
PREPROCESS_ATOL = {ResizeMode.PIL: 0.0, ResizeMode.TORCH: 1e-5}


def _images(height: int, width: int, index: int) -> np.ndarray:
    rng = np.random.default_rng(100 + index)  # the fixture's images
    return rng.integers(0, 256, (2, height, width, 3), dtype=np.uint8)


def _model(config, state=None):
    """The network with seeded (or `state`'s) weights: built on meta and given the weights
    themselves (``assign``), since initialising weights that are replaced costs 2.4 s for ViT-L."""
    import torch

    with torch.device("meta"):
        model = build_dinov2(config)
    model.load_state_dict(seeded_state_dict(config, 0) if state is None else state, assign=True)
    return model


def _worst_relative(model, arch: str) -> float:
    ref = np.load(FIXTURE)
    worst = 0.0
    for mode in ResizeMode:
        extractor = DinoV2Extractor(model, "0" * 64, resize=mode)
        for i, (h, w) in enumerate(SIZES):
            got = extractor.features(_images(h, w, i))
            want = ref[f"{arch}/{mode.value}/{h}x{w}/features"]
            rel = np.linalg.norm(got - want, axis=1) / np.linalg.norm(want, axis=1)
            worst = max(worst, float(rel.max()))
    return worst


@pytest.mark.parity
def test_tiny_features_match_upstream():
    """Fast twin of the ViT-L parity test: the same code path with two 64-wide blocks."""
    assert _worst_relative(_model(DINOV2_TINY), "tiny") <= FEATURE_RTOL


def test_parity_can_fail():
    """Negative control: one layer scale changed by 0.1 misses the tolerance by far."""
    state = seeded_state_dict(DINOV2_TINY, 0)
    state["blocks.1.ls2.gamma"] = state["blocks.1.ls2.gamma"] + 0.1
    assert _worst_relative(_model(DINOV2_TINY, state), "tiny") > 100 * FEATURE_RTOL


@pytest.mark.slow
@pytest.mark.parity
@pytest.mark.parametrize("arch", ["vits14", "vitl14"])
def test_vit_features_match_upstream(arch):
    config = DINOV2_VITS14 if arch == "vits14" else DINOV2_VITL14
    assert _worst_relative(_model(config), arch) <= FEATURE_RTOL


@pytest.mark.parametrize("mode", list(ResizeMode))
def test_preprocessing_matches_edm2(mode):
    import torch

    ref = np.load(FIXTURE)
    for i, (h, w) in enumerate(SIZES):
        x = torch.from_numpy(_images(h, w, i)).permute(0, 3, 1, 2)
        got = preprocess_images(x, mode)
        assert got.shape == (2, 3, 224, 224) and got.dtype == torch.float32
        sample = got[:, :, ::16, ::16].numpy()
        diff = np.abs(sample - ref[f"pre/{mode.value}/{h}x{w}/sample"]).max()
        assert diff <= PREPROCESS_ATOL[mode], (h, w, diff)
        sums = got.double().sum((2, 3)).numpy()
        np.testing.assert_allclose(sums, ref[f"pre/{mode.value}/{h}x{w}/sum"], rtol=1e-5)


def test_resize_modes_differ_slightly():
    """``torch`` (antialiased interpolate) is close to, not equal to, ``pil``."""
    import torch

    x = torch.from_numpy(_images(256, 256, 1)).permute(0, 3, 1, 2)
    a, b = (preprocess_images(x, m) for m in ResizeMode)
    diff = (a - b).abs()
    assert 0 < float(diff.mean()) < 0.05


def test_loads_a_saved_checkpoint(tmp_path):
    import torch

    path = tmp_path / "w.pth"
    torch.save(seeded_state_dict(DINOV2_TINY, 3), path)
    model = load_dinov2_state_dict(path, DINOV2_TINY)
    assert torch.equal(model.state_dict()["norm.weight"], torch.load(path)["norm.weight"])


@pytest.mark.parametrize("fault", ["architecture", "missing", "extra", "not_dict", "garbage"])
def test_bad_checkpoints_are_input_errors(tmp_path, fault):
    import torch

    path = tmp_path / "w.pth"
    state = seeded_state_dict(DINOV2_TINY, 0)
    if fault == "architecture":  # a 64-wide ViT given where a 128-wide one is expected
        torch.save(state, path)
        wide = dataclasses.replace(DINOV2_TINY, name="dinov2-wide", embed_dim=128)
        with pytest.raises(InputError, match="shape") as info:
            load_dinov2_state_dict(path, wide)
    else:
        if fault == "missing":
            del state["norm.bias"]
        elif fault == "extra":
            state["head.weight"] = torch.zeros(3)
        if fault == "garbage":
            path.write_bytes(b"not a checkpoint")
        else:
            torch.save([1, 2] if fault == "not_dict" else state, path)
        with pytest.raises(InputError) as info:
            load_dinov2_state_dict(path, DINOV2_TINY)
    assert info.value.hint


def test_extractor_rejects_bad_shapes():
    extractor = DinoV2Extractor(_model(DINOV2_TINY), "0" * 64)
    with pytest.raises(InputError):
        extractor.features(np.zeros((2, 32, 32), np.uint8))
