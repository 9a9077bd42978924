"""Fixtures shared by the sampling tests: upstream's recorded loops and a kernel-path probe."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).parents[1] / "fixtures"
UPSTREAM_LOOPS = FIXTURES / "sampling" / "upstream_loops.pt"


def fcdmbench_model_from_upstream_shapes(shapes: dict, model: str, **config):
    """fcdmbench's `model` with upstream-keyed deterministic weights (seed 0) via the key map."""
    from fcdmbench.checkpoints import load_checkpoint
    from fcdmbench.parity import deterministic_state_dict
    from fcdmbench.registry import create_model, get_spec

    shapes = {k: tuple(v) for k, v in shapes.items()}
    net = create_model(model, device="meta", **config)
    load_checkpoint(net, get_spec(model), deterministic_state_dict(shapes, seed=0), assign=True)
    return net.eval()


@pytest.fixture(scope="session")
def upstream_model():
    """`fcdmbench_model_from_upstream_shapes`, as a fixture (tests do not import conftest)."""
    return fcdmbench_model_from_upstream_shapes


@pytest.fixture(scope="session")
def upstream_loops():
    import torch

    return torch.load(UPSTREAM_LOOPS, map_location="cpu", weights_only=True)


@pytest.fixture(scope="session")
def kernel_mismatch(upstream_loops):
    """``kernel_mismatch(model)``: None where this machine reproduces upstream's recorded network
    output for the seeded first step (this capability, this torch) and, through the replay of
    upstream's loops, the recording machine's float32 sqrt/exp; else the reason to skip.

    Upstream's own images differ between kernel paths (``randn`` and the network take other
    kernels under ATEN_CPU_CAPABILITY=default than under avx2/avx512, and a CPU whose BLAS picks
    other kernels differs again), so a bit-for-bit comparison with upstream's recorded output is
    only meaningful where this probe agrees.
    """
    import torch
    from upstream_replay import replay

    from fcdmbench.sampling.diffusion import create_diffusion
    from fcdmbench.sampling.samplers import Guidance, make_model_fn

    cache: dict[str, str | None] = {}

    def probe(model: str) -> str | None:
        if model in cache:
            return cache[model]
        entry = upstream_loops[model]
        meta = entry["meta"]
        capability = torch.backends.cpu.get_cpu_capability()
        reason = None
        expected = entry["seeded_final"].get(capability)
        if expected is None:
            reason = f"no upstream result recorded for ATEN_CPU_CAPABILITY {capability}"
        elif torch.__version__ != meta["torch"]:
            reason = f"upstream's results were recorded with torch {meta['torch']}"
        else:
            net = fcdmbench_model_from_upstream_shapes(
                entry["upstream_shapes"], model, input_size=meta["side"]
            )
            b, side, steps = meta["batch"], meta["side"], meta["steps"]
            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                with torch.no_grad():
                    torch.manual_seed(meta["seed"])
                    z = torch.randn(b, 4, side, side)
                    y = torch.randint(0, 1000, (b,))
                    fn = make_model_fn(net, y, Guidance(4.0, channels=3, null_label=1000))
                    x = fn.start(z)
                    t = create_diffusion(steps).model_timesteps(torch.full((len(x),), steps - 1))
                    first = fn(x, t)
            finally:
                torch.set_num_threads(threads)
            if not torch.equal(first, expected["iddpm-cfg4"]["out0"]):
                reason = (
                    "this CPU's kernels give another first-step network output than the "
                    "recording machine's (upstream's own result would differ too)"
                )
            elif not all(
                torch.equal(replay(entry["replay"][key], key, steps), entry["replay"][key]["final"])
                for key in ("iddpm-cfg4", "ddim-cfg4")
            ):
                reason = (
                    "this CPU's float32 torch.sqrt/torch.exp round differently from the "
                    "recording machine's (upstream's own loop would miss its recording too)"
                )
        cache[model] = reason
        return reason

    return probe
