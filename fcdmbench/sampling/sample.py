"""`fcdmbench sample`: many images from any registered model, split over ranks, resumable.

One process or ``torchrun --nproc-per-node K -m fcdmbench sample ...`` (NCCL on GPU, gloo on
CPU). Batch b covers samples [b B, (b + 1) B); its starting noise and every later draw come from a
generator seeded by (seed, b), and its labels from one label vector drawn from the seed, so the
output does not depend on how many processes ran or whether the run was interrupted. Each batch
is a shard on disk; rank 0 merges them into one ADM-format npz and writes the settings next to it
as ``<out>.json`` (a `fcdmbench.records.SampleRecord`, schema ``fcdmbench.sample/2``).
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

from fcdmbench.errors import ConfigError, DeviceError, InputError
from fcdmbench.sampling.options import parse_set_options
from fcdmbench.sampling.samplers import SamplerKind

__all__ = [
    "LabelScheme",
    "Precision",
    "SampleConfig",
    "parse_set_options",
    "run_sampling",
    "sidecar_path",
]

SCHEMA = "fcdmbench.sample/2"  # fcdmbench.records.SampleRecord.SCHEMA
#: on_progress(images done by this rank in this run, images this rank has to make in this run)
ProgressFn = Callable[[int, int], None]


class LabelScheme(enum.Enum):
    RANDOM = "random"  # uniform i.i.d. labels (DiT's sample_ddp.py)
    BALANCED = "balanced"  # every class equally often (num / classes each), shuffled


class Precision(enum.Enum):
    """Network precision. fp32 means strict IEEE fp32 (both TF32 flags off); the VAE is fp32."""

    FP32 = "fp32"
    TF32 = "tf32"
    BF16 = "bf16"


@dataclass(frozen=True)
class SampleConfig:
    """Every setting of a sampling run (see `fcdmbench sample --help` for the meaning of each)."""

    model: str
    out: Path
    num: int
    checkpoint: Path | None = None
    smoke: bool = False
    resolution: int = 256
    sampler: SamplerKind = SamplerKind.IDDPM
    steps: int = 250
    respacing: str | None = None
    cfg_scale: float = 1.5
    cfg_all_channels: bool = False
    seed: int = 0
    labels: LabelScheme = LabelScheme.RANDOM
    batch_size: int = 64
    vae: str | None = None
    precision: Precision = Precision.FP32
    device: str = "auto"
    overrides: tuple[tuple[str, Any], ...] = field(default_factory=tuple)
    ddim_eta: float = 0.0
    sde_last_step: float = 0.04
    keep_shards: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "out", Path(self.out))
        if self.num < 1 or self.batch_size < 1 or self.steps < 1:
            raise ConfigError("num, batch_size and steps must be >= 1")
        if self.out.suffix != ".npz":
            raise ConfigError(f"--out must end in .npz, got {self.out}")
        if self.smoke == (self.checkpoint is not None):
            raise ConfigError(
                "give exactly one of --ckpt PATH and --smoke",
                hint="--smoke samples from random weights (for tests; stamped in the output)",
            )
        if self.cfg_scale < 1.0:
            raise ConfigError(f"--cfg-scale must be >= 1 (1 = no guidance), got {self.cfg_scale}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"--device must be auto, cpu or cuda, got {self.device!r}")


def sidecar_path(out: Path) -> Path:
    """``samples.npz`` -> ``samples.npz.json``."""
    return Path(f"{out}.json")


@dataclass(frozen=True)
class _Dist:
    rank: int
    world: int
    device: Any  # torch.device
    backend: str | None

    def barrier(self) -> None:
        if self.backend is not None:
            import torch.distributed as dist

            dist.barrier()


def _init_distributed(preference: str) -> _Dist:
    import torch

    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", str(rank)))
    cuda = torch.cuda.is_available()
    if preference == "cuda" and not cuda:
        raise DeviceError("--device cuda was asked for but CUDA is not available")
    use_cuda = cuda and preference != "cpu"
    if use_cuda:
        device = torch.device("cuda", local_rank % torch.cuda.device_count())
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    backend = None
    if world > 1:
        import torch.distributed as dist

        backend = "nccl" if use_cuda else "gloo"
        if not dist.is_initialized():
            dist.init_process_group(backend, timeout=timedelta(minutes=60))
    return _Dist(rank, world, device, backend)


def _parse_overrides(spec, config: SampleConfig) -> dict[str, Any]:
    overrides = dict(config.overrides)
    names = {f.name for f in dataclasses.fields(spec.config)}
    if config.sampler.is_flow and "learn_sigma" in names and "learn_sigma" not in overrides:
        overrides["learn_sigma"] = False  # flow checkpoints predict velocity only (4 channels)
    return overrides


def _load_model(spec, config: SampleConfig, overrides: dict, device) -> tuple[Any, dict]:
    import torch

    from fcdmbench.checkpoints import WEIGHT_KEYS, load_checkpoint
    from fcdmbench.files import file_sha256
    from fcdmbench.parity import deterministic_state_dict
    from fcdmbench.registry import create_model

    model = create_model(spec.name, resolution=config.resolution, **overrides)
    if config.smoke:
        model.load_state_dict(deterministic_state_dict(model.state_dict(), seed=config.seed))
        info = {
            "path": None,
            "sha256": None,
            "weights_used": "random (smoke mode)",
            "weights_available": [],
            "smoke": True,
        }
    else:
        path = Path(config.checkpoint)
        if not path.is_file():
            raise InputError(f"checkpoint {path} not found", hint="check --ckpt")
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any unpickling failure is bad input
            raise InputError(f"cannot read checkpoint {path}: {exc}") from exc
        which = load_checkpoint(model, spec, obj)
        available = [k for k in WEIGHT_KEYS if isinstance(obj, dict) and k in obj]
        info = {
            "path": str(path.resolve()),
            "sha256": file_sha256(path),
            "weights_used": which,
            "weights_available": available,
            "smoke": False,
        }
    return model.to(device).eval(), info


def make_labels(num: int, num_classes: int, scheme: LabelScheme, seed: int) -> np.ndarray:
    """The label of every sample index (int64), reproducible from the seed."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x1ABE1]))
    if scheme is LabelScheme.RANDOM:
        return rng.integers(0, num_classes, size=num, dtype=np.int64)
    return rng.permutation(np.arange(num, dtype=np.int64) % num_classes)


def batch_seed(seed: int, batch: int) -> int:
    """The generator seed of one batch (independent of rank and world size)."""
    return int(np.random.SeedSequence([seed, batch]).generate_state(1, dtype=np.uint64)[0] >> 1)


def _fingerprint(config: SampleConfig, spec, overrides: dict, ckpt: dict, vae_source: str) -> dict:
    return {
        "model": spec.name,
        "overrides": {k: str(v) for k, v in sorted(overrides.items())},
        "checkpoint_sha256": ckpt["sha256"],
        "smoke": config.smoke,
        "resolution": config.resolution,
        "sampler": config.sampler.value,
        "steps": config.steps,
        "respacing": config.respacing,
        "cfg_scale": config.cfg_scale,
        "cfg_all_channels": config.cfg_all_channels,
        "seed": config.seed,
        "labels": config.labels.value,
        "batch_size": config.batch_size,
        "num": config.num,
        "vae": vae_source,
        "precision": config.precision.value,
        "ddim_eta": config.ddim_eta,
        "sde_last_step": config.sde_last_step,
    }


def run_sampling(config: SampleConfig, on_progress: ProgressFn | None = None):
    """Sample `config.num` images into `config.out` (+ ``<out>.json``); resumes from shards.

    Returns:
        The sidecar `fcdmbench.records.SampleRecord` on rank 0, None on other ranks.

    Raises:
        ConfigError, InputError, DeviceError, MissingExtraError: see `SampleConfig` and the CLI.
    """
    import torch

    from fcdmbench.registry import resolve

    started = time.perf_counter()
    spec, tag = resolve(config.model)
    if tag is not None and tag != config.resolution:
        raise ConfigError(
            f"{config.model!r} names resolution {tag}, --resolution is {config.resolution}"
        )
    dist = _init_distributed(config.device)
    flags = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    is_tf32 = config.precision is Precision.TF32
    torch.backends.cuda.matmul.allow_tf32 = is_tf32
    torch.backends.cudnn.allow_tf32 = is_tf32
    try:
        with torch.inference_mode():
            return _sample_and_merge(config, spec, dist, started, on_progress)
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = flags


def _sample_and_merge(config, spec, dist, started, on_progress) -> dict | None:
    import torch

    from fcdmbench.sampling import shards
    from fcdmbench.sampling.diffusion import create_diffusion
    from fcdmbench.sampling.samplers import FlowSDE, Guidance, make_model_fn
    from fcdmbench.sampling.vae import decode_to_uint8, load_vae, random_vae

    autocast = torch.bfloat16 if config.precision is Precision.BF16 else None

    overrides = _parse_overrides(spec, config)
    model, ckpt = _load_model(spec, config, overrides, dist.device)
    if config.vae is None and config.smoke:
        vae = random_vae(config.seed, dist.device)
    else:
        vae = load_vae(config.vae or "ema", dist.device)
    model_config = spec.config_for(config.resolution, **overrides)
    num_classes = int(getattr(model_config, "num_classes", 1000))
    channels, side, _ = spec.input_shape(config.resolution)
    out_channels = int(getattr(model_config, "out_channels", channels))
    guidance = Guidance(config.cfg_scale, channels if config.cfg_all_channels else 3, num_classes)

    from fcdmbench.files import prepare_output

    out = prepare_output(config.out)
    shard_dir = shards.shards_dir(out)
    fingerprint = _fingerprint(config, spec, overrides, ckpt, vae.resolved)
    if dist.rank == 0:
        resumed = shards.check_fingerprint(shard_dir, fingerprint, write=True)
    dist.barrier()
    if dist.rank != 0:
        shards.check_fingerprint(shard_dir, fingerprint, write=False)

    labels = make_labels(config.num, num_classes, config.labels, config.seed)
    num_batches = math.ceil(config.num / config.batch_size)
    rows = [min(config.batch_size, config.num - b * config.batch_size) for b in range(num_batches)]
    missing = shards.missing_batches(shard_dir, rows) if dist.rank == 0 else None
    missing = _broadcast(missing, dist)
    mine = missing[dist.rank :: dist.world]

    diffusion = None
    if not config.sampler.is_flow:
        diffusion = create_diffusion(
            config.steps, config.respacing, learned_variance=out_channels == 2 * channels
        )
    flow = FlowSDE(config.steps, config.sde_last_step) if config.sampler.is_flow else None
    device_name = torch.cuda.get_device_name(dist.device) if dist.device.type == "cuda" else "cpu"
    total_mine = sum(rows[b] for b in mine)
    done = 0
    if on_progress is not None and dist.rank == 0:
        on_progress(0, total_mine)
    for batch in mine:
        t0 = time.perf_counter()
        n = rows[batch]
        gen = torch.Generator(device=dist.device).manual_seed(batch_seed(config.seed, batch))
        x = torch.randn((n, channels, side, side), generator=gen, device=dist.device)
        start = batch * config.batch_size
        y = torch.from_numpy(labels[start : start + n]).to(dist.device)
        fn = make_model_fn(model, y, guidance, autocast)
        latents = _run_sampler(config, fn, diffusion, flow, x, gen)
        images = decode_to_uint8(vae.module, latents)
        seconds = time.perf_counter() - t0
        shards.write_shard(
            shard_dir,
            batch,
            images=images,
            labels=labels[start : start + n],
            start=start,
            device=device_name,
            seconds=seconds,
        )
        done += n
        if on_progress is not None and dist.rank == 0:
            on_progress(done, total_mine)
    dist.barrier()
    record = None
    if dist.rank == 0:
        record = _merge(
            config,
            spec,
            shard_dir,
            rows,
            labels,
            vae,
            ckpt,
            overrides,
            guidance,
            diffusion,
            flow,
            dist,
            resumed,
            len(missing),
            num_batches,
            started,
        )
    dist.barrier()
    return record


def _broadcast(value: Any, dist: _Dist) -> Any:
    if dist.backend is None:
        return value
    import torch.distributed as tdist

    box = [value]
    tdist.broadcast_object_list(box, src=0)
    return box[0]


def _run_sampler(config, fn, diffusion, flow, x, gen):
    from fcdmbench.sampling.samplers import sample_ddim, sample_flow_sde, sample_iddpm

    if config.sampler is SamplerKind.IDDPM:
        return sample_iddpm(fn, diffusion, x, gen)
    if config.sampler is SamplerKind.DDIM:
        return sample_ddim(fn, diffusion, x, gen, eta=config.ddim_eta)
    return sample_flow_sde(fn, x, gen, flow)


def _merge(
    config,
    spec,
    shard_dir,
    rows,
    labels,
    vae,
    ckpt,
    overrides,
    guidance,
    diffusion,
    flow,
    dist,
    resumed,
    generated,
    num_batches,
    started,
) -> dict:
    from fcdmbench.env import collect_env
    from fcdmbench.files import file_sha256
    from fcdmbench.records import RunInfo, SampleRecord, write_record
    from fcdmbench.sampling import shards

    devices: dict[str, int] = {}
    batch_seconds = 0.0
    image_shape = None

    def chunks():
        nonlocal batch_seconds, image_shape
        for batch, n in enumerate(rows):
            data = shards.read_shard(shards.shard_path(shard_dir, batch), n)
            if data is None:
                raise InputError(
                    f"shard {batch} is missing or corrupt in {shard_dir}",
                    hint="rerun the same command to regenerate it",
                )
            device = str(data["device"])
            devices[device] = devices.get(device, 0) + n
            batch_seconds += float(data["seconds"])
            yield data["images"]

    side = config.resolution
    image_shape = (side, side, 3)
    stamp = {
        "schema": SCHEMA,
        "model": spec.name,
        "smoke": config.smoke,
        "checkpoint_sha256": ckpt["sha256"],
    }
    shards.write_npz_streaming(
        config.out,
        chunks(),
        image_shape,
        config.num,
        labels,
        extra={"fcdmbench_meta": np.array(json.dumps(stamp))},
    )
    elapsed = time.perf_counter() - started
    nfe = config.steps if diffusion is None else diffusion.num_steps
    body = {
        "npz": str(config.out.resolve()),
        "npz_sha256": file_sha256(config.out),
        "arrays": {
            "arr_0": f"images uint8 NHWC {[config.num, *image_shape]}",
            "arr_1": f"class labels int64 [{config.num}]",
        },
        "smoke": config.smoke,
        "model": {
            "name": spec.name,
            "display_name": spec.display_name,
            "family": spec.family,
            "overrides": {k: v for k, v in overrides.items()},
        },
        "checkpoint": ckpt,
        "sampler": {
            "name": config.sampler.value,
            "steps": config.steps,
            "respacing": config.respacing or (None if flow else str(config.steps)),
            "variance": diffusion.variance.value if diffusion else None,
            "train_steps": None if flow else 1000,
            "beta_schedule": None if flow else "linear 1e-4..0.02",
            "ddim_eta": config.ddim_eta if diffusion else None,
            "sde": dataclasses.asdict(flow) | {"diffusion_form": "sigma", "last_step": "mean"}
            if flow
            else None,
            "network_evaluations_per_image": nfe * (2 if guidance.is_active else 1),
        },
        "cfg": {
            "scale": guidance.scale,
            "channels": guidance.channels,
            "null_label": guidance.null_label,
            "active": guidance.is_active,
        },
        "seed": config.seed,
        "seed_scheme": "batch b: torch.Generator seeded by SeedSequence([seed, b]); labels: "
        "numpy default_rng(SeedSequence([seed, 0x1ABE1]))",
        "labels": {"scheme": config.labels.value, "num_classes": guidance.null_label},
        "num_samples": config.num,
        "batch_size": config.batch_size,
        "resolution": config.resolution,
        "vae": vae.to_record(),
        "precision": {
            "mode": config.precision.value,
            "vae": "fp32",
            "autocast": "bf16" if config.precision is Precision.BF16 else None,
        },
        "devices": devices,
        "world_size": dist.world,
        "backend": dist.backend,
        "resumed": resumed,
        "batches_total": num_batches,
        "batches_generated_this_run": generated,
        "timing": {
            "wall_s_this_run": round(elapsed, 3),
            "batch_seconds_all_shards": round(batch_seconds, 3),
            "img_per_s_per_process": round(config.num / batch_seconds, 4)
            if batch_seconds
            else None,
        },
        "env": dataclasses.asdict(collect_env(str(dist.device))),
    }
    from datetime import UTC, datetime, timedelta

    start = datetime.now(UTC) - timedelta(seconds=elapsed)
    run = RunInfo.current(started=start.isoformat(timespec="seconds"))
    record = SampleRecord.from_json(
        {"schema": SampleRecord.SCHEMA, "run": dataclasses.asdict(run), **body}, "sample record"
    )
    write_record(sidecar_path(config.out), record)
    if not config.keep_shards:
        import shutil

        shutil.rmtree(shard_dir, ignore_errors=True)
    return record
