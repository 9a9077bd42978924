"""Bit for bit against upstream's own diffusion loops (DiT @ ed81ce2, FCDM @ 0ec590f).

The fixture (tests/fixtures/sampling/upstream_loops.pt, PROVENANCE.md) was made by running
upstream's ``p_sample_loop`` / ``ddim_sample_loop`` with upstream's DiT-S/2 and FCDM-S (random
deterministic weights, 8x8 latents, batch 2, 10 respaced steps, CFG scale 1 and 4) outside the
repository. Every comparison is exact (``torch.equal``):

- Replay: upstream's recorded network outputs and per-step noise are fed to fcdmbench's samplers.
  This isolates the diffusion arithmetic and the CFG batch layout from the network and from
  torch's random kernels. One part of that arithmetic still depends on the CPU: torch's float32
  ``torch.sqrt`` and ``torch.exp`` are not correctly rounded, and how they round depends on the
  CPU model, not on ATEN_CPU_CAPABILITY (measured with torch 2.13.0+cpu on an AMD EPYC Zen 4:
  15.6 % of 10^6 ``torch.sqrt`` results differ from the correctly rounded ones under default,
  avx2 and avx512, contiguous or strided, while float64 sqrt is exact; upstream's own replay
  there misses the Intel recording by up to 1.2e-4, exactly as fcdmbench's does). So:
  - ``final_ieee`` is upstream's replay with ``torch.sqrt``/``torch.exp`` replaced by correctly
    rounded functions (`upstream_replay.ieee_sqrt`, `ieee_exp`); with the same replacement
    fcdmbench's samplers must give it on **every** CPU (every other operation in the loop is an
    IEEE 754 basic operation, which torch computes exactly everywhere): the proof of the arithmetic.
  - ``cpus`` holds upstream's replay with each recording CPU's own kernels; where this
    CPU's ``torch.sqrt``/``torch.exp`` reproduce a recording CPU's on that CPU's recorded inputs
    (its probe), fcdmbench with this CPU's own kernels must give that CPU's latents; elsewhere that
    comparison skips with the reason (upstream's own loop would differ there too).
- Seeded: fcdmbench's own model (upstream weights through the key map) and upstream's seed
  recipe (``manual_seed``, ``randn``, ``randint``, ``randn_like`` at every step). ``randn`` and the
  network take other kernels under ``default`` than under avx2/avx512, and upstream's latents
  differ accordingly, so each recording CPU holds one expected result per capability. The test
  compares with the recording whose kernels this machine reproduces (conftest.upstream_recording:
  the first-step network output, and this CPU's sqrt/exp); where none does, the comparison is
  meaningless (upstream would differ too) and the test skips with that reason; the IEEE replay
  test still covers the arithmetic there.
"""

from __future__ import annotations

import pytest
import torch
from upstream_replay import KEYS, MODELS, ieee_exp, ieee_sqrt, probe_matches, replay, settings

from fcdmbench.sampling.diffusion import GaussianDiffusion, create_diffusion
from fcdmbench.sampling.samplers import global_noise, make_model_fn


@pytest.fixture(scope="module")
def fixture(upstream_loops):
    return upstream_loops


pytestmark = pytest.mark.usefixtures("one_thread_module")


@pytest.fixture
def ieee_sqrt_exp(monkeypatch):
    """torch.sqrt and torch.exp replaced by correctly rounded ones, as when final_ieee was made."""
    monkeypatch.setattr(torch, "sqrt", ieee_sqrt)
    monkeypatch.setattr(torch, "exp", ieee_exp)


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("model", MODELS)
def test_replay_with_ieee_sqrt_exp_gives_upstreams_latents(fixture, ieee_sqrt_exp, model, key):
    """The arithmetic, on any CPU: same inputs, same IEEE operations, same bits as upstream."""
    entry = fixture[model]
    case = entry["replay"][key]
    got = replay(case, key, entry["meta"]["steps"])
    assert torch.equal(got, case["final_ieee"]), (got - case["final_ieee"]).abs().max().item()


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("model", MODELS)
def test_replay_with_this_cpus_kernels_gives_upstreams_latents(fixture, model, key):
    """With this CPU's own sqrt/exp, where a recording CPU's kernels are reproduced."""
    entry = fixture[model]
    machines = [m for m in fixture["cpus"] if m["probe"] is not None]
    matched = [m for m in machines if probe_matches(m["probe"])]
    if not matched:
        pytest.skip(
            "this CPU's float32 torch.sqrt/torch.exp round differently from "
            f"those of every CPU with a recorded probe ({'; '.join(m['cpu'] for m in machines)}), "
            "so upstream's own loop would miss those recordings too; "
            "test_replay_with_ieee_sqrt_exp_gives_upstreams_latents covers the arithmetic here"
        )
    got = replay(entry["replay"][key], key, entry["meta"]["steps"])
    for machine in matched:
        want = machine["replay"][model][key]
        assert torch.equal(got, want), (machine["cpu"], (got - want).abs().max().item())


def _float32_predict_x0(self, x_t, t, eps):
    """The form fcdmbench used before: x_t / sqrt(abar) - sqrt(1 / abar - 1) eps in float32."""
    abar = self.gather("alphas_cumprod", t, x_t)
    return x_t / abar.sqrt() - (1.0 / abar - 1.0).sqrt() * eps


@pytest.mark.parametrize("key", KEYS)
def test_float32_predict_x0_form_breaks_bit_identity(fixture, ieee_sqrt_exp, monkeypatch, key):
    """Negative control: the mathematically equal float32 form is not upstream's arithmetic."""
    monkeypatch.setattr(GaussianDiffusion, "predict_x0", _float32_predict_x0)
    entry = fixture["fcdm-s"]
    case = entry["replay"][key]
    got = replay(case, key, entry["meta"]["steps"])
    assert not torch.equal(got, case["final_ieee"])
    assert (got - case["final_ieee"]).abs().max().item() < 1e-2  # close, just not upstream's bits


def test_ddim_with_the_models_eps_breaks_bit_identity(fixture, ieee_sqrt_exp, monkeypatch):
    """Negative control: DDIM must re-derive eps from x0 as upstream does, not reuse the model's."""
    model_eps = {}
    predict_x0 = GaussianDiffusion.predict_x0

    def remember_eps(self, x_t, t, eps):
        model_eps["eps"] = eps
        return predict_x0(self, x_t, t, eps)

    monkeypatch.setattr(GaussianDiffusion, "predict_x0", remember_eps)
    monkeypatch.setattr(GaussianDiffusion, "predict_eps", lambda self, x_t, t, x0: model_eps["eps"])
    entry = fixture["dit-s-2"]
    case = entry["replay"]["ddim-cfg4"]
    got = replay(case, "ddim-cfg4", entry["meta"]["steps"])
    assert not torch.equal(got, case["final_ieee"])


@pytest.mark.parametrize("model", MODELS)
def test_seeded_run_with_fcdmbench_model_gives_upstreams_latents(
    upstream_loops, upstream_model, upstream_recording, model
):
    cpu, expected, reason = upstream_recording(model)
    if reason is not None:
        pytest.skip(reason + "; the IEEE replay test covers the arithmetic")
    entry = upstream_loops[model]
    meta = entry["meta"]
    net = upstream_model(entry["upstream_shapes"], model, input_size=meta["side"])
    b, side = meta["batch"], meta["side"]
    for key in KEYS:
        loop, guidance = settings(key)
        with torch.no_grad():
            torch.manual_seed(meta["seed"])  # upstream's recipe: z, then labels, then randn_like
            z = torch.randn(b, 4, side, side)
            y = torch.randint(0, 1000, (b,))
            fn = make_model_fn(net, y, guidance)
            got = fn.result(loop(fn, create_diffusion(meta["steps"]), fn.start(z), global_noise))
        assert torch.equal(y, expected[key]["y"][:b]), (cpu, key)
        want = expected[key]["final"][:b]
        assert torch.equal(got, want), (cpu, key, (got - want).abs().max().item())
