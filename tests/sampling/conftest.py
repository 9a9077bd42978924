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


def _sqrt_exp_match(recording: dict, upstream_loops: dict, model: str) -> bool:
    """Whether this CPU's float32 torch.sqrt/torch.exp are the recording CPU's: by its probe
    where it has one, else by replaying upstream's loops (their arithmetic is proven on every CPU
    by the IEEE replay test, so a different result can only come from sqrt/exp)."""
    import torch
    from upstream_replay import probe_matches, replay

    if recording["probe"] is not None:
        return probe_matches(recording["probe"])
    entry = upstream_loops[model]
    return all(
        torch.equal(replay(entry["replay"][key], key, entry["meta"]["steps"]), final)
        for key, final in recording["replay"][model].items()
        if key in ("iddpm-cfg4", "ddim-cfg4")
    )


@pytest.fixture(scope="session")
def upstream_recording(upstream_loops):
    """``upstream_recording(model)`` -> ``(cpu, seeded, reason)``: the recording CPU (of
    ``upstream_loops["cpus"]``) whose kernels this machine reproduces, with upstream's seeded
    results for this ATEN_CPU_CAPABILITY, or ``(None, None, reason to skip)``.

    Upstream's own results differ between kernel paths: ``randn`` and the network take other
    kernels under ATEN_CPU_CAPABILITY=default than under avx2/avx512, a CPU whose BLAS picks
    other kernels differs again, and float32 sqrt/exp round differently per CPU model. So a
    bit-for-bit comparison with one of upstream's recordings is only meaningful where this
    machine gives that recording's first-step network output and its sqrt/exp.
    """
    import torch

    from fcdmbench.sampling.diffusion import create_diffusion
    from fcdmbench.sampling.samplers import Guidance, make_model_fn

    cache: dict[str, tuple] = {}

    def first_output(model: str) -> torch.Tensor:
        entry = upstream_loops[model]
        meta = entry["meta"]
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
                return fn(x, t)
        finally:
            torch.set_num_threads(threads)

    def find(model: str) -> tuple:
        if model in cache:
            return cache[model]
        capability = torch.backends.cpu.get_cpu_capability()
        recordings = upstream_loops["cpus"]
        names = "; ".join(r["cpu"] for r in recordings)
        recorded_with = upstream_loops[model]["meta"]["torch"]
        if torch.__version__ != recorded_with:
            found = (
                None,
                None,
                f"upstream's results were recorded with torch {recorded_with}",
            )
        else:
            first = first_output(model)
            network = [
                r
                for r in recordings
                if capability in r["seeded"][model]
                and torch.equal(first, r["seeded"][model][capability]["iddpm-cfg4"]["out0"])
            ]
            matched = [r for r in network if _sqrt_exp_match(r, upstream_loops, model)]
            if matched:
                r = matched[0]
                found = (r["cpu"], r["seeded"][model][capability], None)
            elif network:
                found = (
                    None,
                    None,
                    "this CPU gives the first-step network output recorded on "
                    f"{network[0]['cpu']}, but its float32 torch.sqrt/torch.exp round "
                    "differently (upstream's own loop would miss that recording too)",
                )
            else:
                found = (
                    None,
                    None,
                    "this CPU's kernels give another first-step network output under "
                    f"ATEN_CPU_CAPABILITY {capability} than every recording machine's ({names}); "
                    "upstream's own result would differ too",
                )
        cache[model] = found
        return found

    return find
