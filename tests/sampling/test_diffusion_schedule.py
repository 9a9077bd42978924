"""Schedule, respacing and CFG arithmetic against values computed by hand."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import torch

from fcdmbench.errors import ConfigError
from fcdmbench.sampling.diffusion import (
    VarianceType,
    create_diffusion,
    linear_betas,
    space_timesteps,
)
from fcdmbench.sampling.samplers import Guidance, make_model_fn


def guided_output(
    model: Callable[..., torch.Tensor],
    x: torch.Tensor,
    t: torch.Tensor,
    y: torch.Tensor,
    guidance: Guidance,
) -> torch.Tensor:
    """One guided network evaluation for the B rows of `x` (the network sees 2B rows)."""
    fn = make_model_fn(model, y, guidance)
    if not guidance.is_active:
        return fn(x, t)
    return fn.result(fn(fn.start(x), torch.cat([t, t], 0)))


def test_linear_betas_endpoints_and_spacing():
    betas = linear_betas(1000)
    assert betas.dtype == np.float64 and len(betas) == 1000
    assert betas[0] == pytest.approx(1e-4, abs=0) and betas[-1] == pytest.approx(0.02, abs=0)
    assert betas[1] - betas[0] == pytest.approx((0.02 - 1e-4) / 999, rel=1e-12)


def test_space_timesteps_hand_values():
    # 10 steps, one section of 3: stride 4.5 -> 0, round(4.5) = 4 (half to even), 9.
    assert space_timesteps(10, "3") == [0, 4, 9]
    # 300 steps in sections of 100 strided to 10, 15 and 20 steps.
    kept = space_timesteps(300, "10,15,20")
    assert len(kept) == 45
    assert kept[:3] == [0, 11, 22] and kept[9] == 99  # stride 99/9 = 11
    assert kept[10:12] == [100, 107]  # stride 99/14 = 7.07 -> 100, round(107.07)
    assert kept[25:27] == [200, 205] and kept[-1] == 299  # stride 99/19 = 5.21
    assert space_timesteps(1000, "ddim50") == list(range(0, 1000, 20))
    kept = space_timesteps(1000, 250)
    assert len(kept) == 250 and kept[:4] == [0, 4, 8, 12] and kept[-1] == 999
    assert space_timesteps(1000, 1000) == list(range(1000))


@pytest.mark.parametrize("bad", ["0", "x", "ddim999", "2000"])
def test_space_timesteps_rejects_bad_spacing(bad):
    with pytest.raises(ConfigError):
        space_timesteps(1000, bad)


def test_respaced_process_keeps_alpha_bar_at_kept_steps():
    base = create_diffusion(steps=None)
    spaced = create_diffusion(steps=250)
    kept = list(spaced.timestep_map)
    assert kept == space_timesteps(1000, 250)
    np.testing.assert_allclose(
        spaced.array("alphas_cumprod"), base.array("alphas_cumprod")[kept], rtol=1e-12
    )
    # Hand value: beta of the second kept step = 1 - abar[4] / abar[0].
    abar = base.array("alphas_cumprod")
    assert spaced.betas[1] == pytest.approx(1 - abar[4] / abar[0], rel=1e-12)
    t = torch.tensor([0, 1, 249])
    assert spaced.model_timesteps(t).tolist() == [0, 4, 999]


def test_posterior_and_learned_range_by_hand():
    d = create_diffusion(steps=None)
    b = linear_betas(1000)
    abar = np.cumprod(1 - b)
    # beta~_1 = beta_1 (1 - abar_0) / (1 - abar_1)
    tilde1 = b[1] * (1 - abar[0]) / (1 - abar[1])
    assert d.array("posterior_variance")[1] == pytest.approx(tilde1, rel=1e-12)
    assert d.array("posterior_log_variance_clipped")[0] == pytest.approx(math.log(tilde1))
    x = torch.zeros(1, 2, 1, 1)
    t = torch.tensor([10])
    out = torch.zeros(1, 4, 1, 1)
    out[:, 2:] = 0.5  # v = 0.5 -> frac 0.75 of log beta, 0.25 of log beta~
    _, log_var, _ = d.p_mean_variance(out, x, t)
    tilde = b[10] * (1 - abar[9]) / (1 - abar[10])
    expected = 0.75 * math.log(b[10]) + 0.25 * math.log(tilde)
    assert log_var[0, 0, 0, 0].item() == pytest.approx(expected, rel=1e-6)
    fixed = create_diffusion(steps=None, learned_variance=False)
    assert fixed.variance is VarianceType.FIXED_LARGE
    _, log_var, _ = fixed.p_mean_variance(out[:, :2], x, t)
    assert log_var[0, 0, 0, 0].item() == pytest.approx(math.log(b[10]), rel=1e-6)
    with pytest.raises(ConfigError):
        d.p_mean_variance(out[:, :2], x, t)  # learned range needs 2C channels


def test_mean_and_x0_by_hand():
    d = create_diffusion(steps=None)
    abar = d.array("alphas_cumprod")
    x = torch.full((1, 1, 1, 1), 0.7)
    eps = torch.full((1, 1, 1, 1), -0.2)
    t = torch.tensor([500])
    x0 = d.predict_x0(x, t, eps).item()
    assert x0 == pytest.approx(
        (0.7 - math.sqrt(1 - abar[500]) * -0.2) / math.sqrt(abar[500]), rel=1e-5
    )
    assert d.predict_eps(x, t, torch.tensor([[[[x0]]]])).item() == pytest.approx(-0.2, rel=1e-4)


class _LabelEcho(torch.nn.Module):
    """Output channel c of row i = 10 * label + c; records the batch it saw."""

    def forward(self, x, t, y):
        self.seen = (x.clone(), y.clone())
        base = 10.0 * y.float().reshape(-1, 1, 1, 1)
        return base + torch.arange(8.0).reshape(1, 8, 1, 1) + 0 * x[:, :1]


def test_cfg_arithmetic_first_three_channels():
    model = _LabelEcho()
    x = torch.randn(2, 4, 1, 1)
    y = torch.tensor([3, 7])
    out = guided_output(model, x, torch.tensor([5, 5]), y, Guidance(scale=4.0, null_label=1000))
    seen_x, seen_y = model.seen
    assert seen_y.tolist() == [3, 7, 1000, 1000]
    assert torch.equal(seen_x[:2], x) and torch.equal(seen_x[2:], x)
    # Row 0, channel c < 3: uncond + 4 (cond - uncond) = (10000 + c) + 4 (30 - 10000) = -29880 + c.
    assert out[0, :3, 0, 0].tolist() == [-29880.0, -29879.0, -29878.0]
    # Channels 3..7 come from the conditional half unchanged.
    assert out[0, 3:, 0, 0].tolist() == [33.0, 34.0, 35.0, 36.0, 37.0]
    assert out[1, 3, 0, 0].item() == 73.0


def test_cfg_all_four_channels_and_scale_one():
    model = _LabelEcho()
    x = torch.zeros(1, 4, 1, 1)
    out = guided_output(
        model,
        x,
        torch.tensor([0]),
        torch.tensor([1]),
        Guidance(scale=1.5, channels=4, null_label=9),
    )
    # uncond 90 + c, cond 10 + c: 90 + 1.5 (10 - 90) = -30 (+ c)
    assert out[0, :4, 0, 0].tolist() == [-30.0, -29.0, -28.0, -27.0]
    assert out[0, 4, 0, 0].item() == 14.0
    plain = guided_output(model, x, torch.tensor([0]), torch.tensor([1]), Guidance(scale=1.0))
    assert model.seen[1].tolist() == [1] and plain[0, 0, 0, 0].item() == 10.0
    with pytest.raises(ConfigError):
        Guidance(scale=0.5)


def test_cfg_matches_the_models_own_forward_with_cfg():
    from fcdmbench.registry import create_model

    torch.manual_seed(0)
    model = create_model("fcdm-s", width=16, depths=(1, 1, 1, 1, 1), input_size=8)
    for p in model.parameters():  # leave adaLN-Zero so the output depends on the label
        torch.nn.init.normal_(p, std=0.05)
    x = torch.randn(2, 4, 8, 8)
    t = torch.tensor([10, 400])
    y = torch.tensor([1, 2])
    with torch.no_grad():
        ours = guided_output(model, x, t, y, Guidance(scale=1.5, null_label=1000))
        theirs = model.forward_with_cfg(
            torch.cat([x, x]), torch.cat([t, t]), torch.cat([y, torch.tensor([1000, 1000])]), 1.5
        )[:2]
    assert torch.equal(ours, theirs)  # one CFG implementation (layers.cfg_forward) behind both
