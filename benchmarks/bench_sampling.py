"""End-to-end sampling speed of the shared pipeline (GPU only; no figures are recorded yet).

Measures, per model and precision: images/s of a full sampling run for one batch (sampler steps
with CFG, as `fcdmbench sample` runs them) and, apart, the SD-VAE decode time per image. Weights
are random (speed does not depend on their values); the VAE is the SD VAE architecture
(diffusers' default AutoencoderKL config with SD's block widths) with random weights, so nothing
is downloaded. Timing: one warm-up batch at 5 steps, then R timed batches, each bracketed by
torch.cuda.synchronize(); median and min/max are reported with the environment.

    python benchmarks/bench_sampling.py --models fcdm-xl dit-xl-2 --precision bf16 tf32 \
        --steps 250 --batch-size 64 --repeats 3 --out bench_sampling.json

Figures: none yet (this task ran without a GPU); run the line above on one and commit the JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="+", default=["fcdm-xl", "dit-xl-2", "dic-xl", "dico-xl"])
    p.add_argument(
        "--precision",
        nargs="+",
        default=["fp32-strict", "tf32", "bf16"],
        choices=["fp32-strict", "tf32", "bf16"],
    )
    p.add_argument("--sampler", default="iddpm", choices=["iddpm", "ddim", "sde"])
    p.add_argument("--steps", type=int, default=250)
    p.add_argument("--cfg-scale", type=float, default=1.5)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--resolution", type=int, default=256)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", default="bench_sampling.json")
    return p.parse_args()


def _sync(torch) -> None:
    torch.cuda.synchronize()


def _random_vae(device):
    """The SD VAE architecture with random weights (nothing is downloaded)."""
    import diffusers

    return (
        diffusers.AutoencoderKL(
            block_out_channels=(128, 256, 512, 512),
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            layers_per_block=2,
            latent_channels=4,
        )
        .to(device)
        .eval()
    )


def _sampler_run(args, kind, spec, model, precision, device):
    """A function of the step count sampling one seeded batch of `model` in `precision`."""
    import torch

    from fcdmbench.precision import Precision
    from fcdmbench.sampling.diffusion import create_diffusion
    from fcdmbench.sampling.samplers import (
        FlowSDE,
        Guidance,
        SamplerKind,
        generator_noise,
        make_model_fn,
        sample_ddim,
        sample_flow_sde,
        sample_iddpm,
    )

    overrides = {"learn_sigma": False} if kind.is_flow else {}
    channels, side, _ = spec.input_shape(args.resolution)
    out_channels = getattr(spec.config_for(args.resolution, **overrides), "out_channels", channels)
    y = torch.randint(0, 1000, (args.batch_size,), device=device)
    fn = make_model_fn(model, y, Guidance(args.cfg_scale), Precision(precision).autocast_dtype())

    def run(steps: int):
        gen = torch.Generator(device=device).manual_seed(0)
        z = torch.randn((args.batch_size, channels, side, side), generator=gen, device=device)
        x, noise = fn.start(z), generator_noise(gen)  # 2B rows under CFG, as sampled
        if kind.is_flow:
            return fn.result(sample_flow_sde(fn, x, noise, FlowSDE(max(steps, 2))))
        d = create_diffusion(steps, learned_variance=out_channels == 2 * channels)
        sampler = sample_iddpm if kind is SamplerKind.IDDPM else sample_ddim
        return fn.result(sampler(fn, d, x, noise))

    return run


def _time_one(args, kind, spec, model, precision, vae, device) -> dict:
    """One warm-up batch at 5 steps, then `args.repeats` timed batches and their decode."""
    import torch

    from fcdmbench.precision import Precision, apply_precision
    from fcdmbench.sampling.vae import decode_to_uint8

    run = _sampler_run(args, kind, spec, model, precision, device)
    times, decode = [], []
    torch.cuda.reset_peak_memory_stats()
    capability = "{}.{}".format(*torch.cuda.get_device_capability(device))
    with apply_precision(Precision(precision), "cuda", False, capability), torch.inference_mode():
        latents = run(5)
        decode_to_uint8(vae, latents)
        for _ in range(args.repeats):
            _sync(torch)
            t0 = time.perf_counter()
            latents = run(args.steps)
            _sync(torch)
            t1 = time.perf_counter()
            decode_to_uint8(vae, latents)
            _sync(torch)
            times.append(t1 - t0)
            decode.append(time.perf_counter() - t1)
    med = statistics.median(times)
    return {
        "model": spec.name,
        "precision": precision,
        "sampler": kind.value,
        "steps": args.steps,
        "cfg_scale": args.cfg_scale,
        "batch_size": args.batch_size,
        "resolution": args.resolution,
        "sampling_s": times,
        "decode_s": decode,
        "img_per_s_sampling": args.batch_size / med,
        "img_per_s_end_to_end": args.batch_size / (med + statistics.median(decode)),
        "peak_mem_gib": torch.cuda.max_memory_allocated() / 2**30,
    }


def main() -> int:
    args = _parse()
    import torch

    from fcdmbench.env import collect_env
    from fcdmbench.errors import DeviceError
    from fcdmbench.files import write_json_atomic
    from fcdmbench.parity import deterministic_state_dict
    from fcdmbench.registry import create_model, get_spec, list_models
    from fcdmbench.sampling.samplers import SamplerKind

    if not torch.cuda.is_available():
        raise DeviceError("bench_sampling.py measures GPU speed; CUDA is not available")
    device = torch.device("cuda")
    vae = _random_vae(device)
    kind = SamplerKind(args.sampler)
    known = set(list_models())
    results = []
    for name in args.models:
        if get_spec(name).name not in known:
            continue
        spec = get_spec(name)
        overrides = {"learn_sigma": False} if kind.is_flow else {}
        model = create_model(spec.name, resolution=args.resolution, **overrides)
        model.load_state_dict(deterministic_state_dict(model.state_dict()))
        model = model.to(device).eval()
        for precision in args.precision:
            row = _time_one(args, kind, spec, model, precision, vae, device)
            results.append(row)
            print(
                f"{spec.name} {precision}: {row['img_per_s_sampling']:.2f} img/s sampling, "
                f"{row['img_per_s_end_to_end']:.2f} img/s with decode",
                file=sys.stderr,
            )
        del model
        torch.cuda.empty_cache()
    write_json_atomic(  # benchmark figures, not a report record
        args.out,
        {
            "schema": "fcdmbench.sampling-bench/1",
            "results": results,
            "weights": "random (speed only)",
            "vae": "SD VAE architecture, random weights, fp32",
            "env": dataclasses.asdict(collect_env("cuda")),
        },
    )
    return 0


if __name__ == "__main__":
    from fcdmbench.errors import FcdmbenchError

    try:
        raise SystemExit(main())
    except FcdmbenchError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        raise SystemExit(exc.exit_code) from None
