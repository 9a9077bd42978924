"""`fcdmbench sample`: many images from any registered model, split over ranks, resumable.

One process or ``torchrun --nproc-per-node K -m fcdmbench sample ...`` (NCCL on GPU, gloo on
CPU). The run is a plan over batches (`fcdmbench.sampling.rng`: fcdmbench's per-batch seeding,
or upstream's ``sample_ddp.py`` stream with ``--rng upstream``); each batch is a shard on disk
(`fcdmbench.sampling.shards`), so a rerun of an interrupted command resumes. Rank 0 merges the
shards into one ADM-format npz and writes its `SampleRecord` next to it as ``<out>.json``; with
``--eval`` the merged blocks also pass through the evaluation (``<out>.eval.json``), and with
``--no-save`` that record is all that is written.

Pieces: `prepare` (model, VAE, guidance, process, plan), `make_batches` (this rank's shards),
`merge` (the npz and the record).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fcdmbench.distributed import Dist, init_distributed
from fcdmbench.env import collect_env
from fcdmbench.errors import ConfigError, InputError
from fcdmbench.files import file_sha256, prepare_output
from fcdmbench.precision import PrecisionState, apply_precision
from fcdmbench.records._base import now_iso
from fcdmbench.records.io import write_record
from fcdmbench.records.sampling import SampleRecord
from fcdmbench.registry import resolve
from fcdmbench.sampling import shards
from fcdmbench.sampling.config import SampleConfig, sidecar_path
from fcdmbench.sampling.diffusion import create_diffusion
from fcdmbench.sampling.loading import load_network, load_sampling_vae, network_overrides
from fcdmbench.sampling.record import RunSummary, build_sample_record
from fcdmbench.sampling.rng import make_plan
from fcdmbench.sampling.samplers import (
    FlowSDE,
    Guidance,
    SamplerKind,
    make_model_fn,
    sample_ddim,
    sample_flow_sde,
    sample_iddpm,
)
from fcdmbench.sampling.setup import SamplingSetup
from fcdmbench.sampling.vae import decode_to_uint8

__all__ = ["prepare", "run_sampling"]

#: on_progress(images done by this rank in this run, images this rank has to make in this run)
ProgressFn = Callable[[int, int], None]


def run_sampling(
    config: SampleConfig, on_progress: ProgressFn | None = None
) -> SampleRecord | None:
    """Sample `config.num` images into `config.out` (+ ``<out>.json``); resumes from shards.

    Returns:
        The `SampleRecord` on rank 0, None on other ranks.

    Raises:
        ConfigError, InputError, DeviceError, MissingExtraError: see `SampleConfig` and the CLI.
    """
    started, t0 = now_iso(), time.perf_counter()
    dist = init_distributed(config.device)
    capability = None
    if dist.device.type == "cuda":
        capability = "{}.{}".format(*torch.cuda.get_device_capability(dist.device))
    # no_grad, as upstream's torch.set_grad_enabled(False); not inference_mode: a VAE built under
    # inference_mode holds inference tensors, and with them the CPU convolutions of its decoder
    # round differently on some kernel paths (one pixel of DiT-S/2's 4 images on an AMD EPYC
    # under ATEN_CPU_CAPABILITY=default), so the images would no longer be upstream's.
    with (
        apply_precision(config.precision, dist.device.type, False, capability) as precision,
        torch.no_grad(),
    ):
        stream = _stream_evaluator(config, dist)  # missing weights fail before any sampling
        setup = prepare(config, dist)
        shard_dir, missing, resumed = _open_shards(setup, dist)
        make_batches(setup, dist, shard_dir, missing, on_progress)
        dist.barrier()
        record = None
        if dist.rank == 0:
            made = sum(len(setup.plan.mine(missing, r, dist.world)) for r in range(dist.world))
            record = merge(
                setup, dist, shard_dir, precision, resumed, made, started, t0, stream=stream
            )
        dist.barrier()
    return record


def prepare(config: SampleConfig, dist: Dist) -> SamplingSetup:
    """Build the model and VAE (before any seeding: building draws random numbers), the
    guidance, the diffusion process or flow settings, and the batch plan."""
    spec, tag = resolve(config.model)
    if tag is not None and tag != config.resolution:
        raise ConfigError(
            f"{config.model!r} names resolution {tag}, --resolution is {config.resolution}"
        )
    overrides = network_overrides(spec, config)
    model, checkpoint = load_network(spec, config, overrides, dist.device)
    vae = load_sampling_vae(config, dist.device)
    model_config = spec.config_for(config.resolution, **overrides)
    num_classes = int(getattr(model_config, "num_classes", 1000))
    channels, side, _ = spec.input_shape(config.resolution)
    out_channels = int(getattr(model_config, "out_channels", channels))
    guidance = Guidance(config.cfg_scale, channels if config.cfg_all_channels else 3, num_classes)
    diffusion = flow = None
    if config.sampler.is_flow:
        flow = FlowSDE(config.steps, config.sde_last_step)
    else:
        learned = out_channels == 2 * channels
        diffusion = create_diffusion(config.steps, config.respacing, learned_variance=learned)
    return SamplingSetup(
        config=config,
        spec=spec,
        overrides=overrides,
        model=model,
        checkpoint=checkpoint,
        vae=vae,
        guidance=guidance,
        diffusion=diffusion,
        flow=flow,
        plan=make_plan(config, num_classes, dist.world),
        latent_shape=(channels, side, side),
    )


def _open_shards(setup: SamplingSetup, dist: Dist) -> tuple[Path, list[int], bool]:
    """The shard folder, the batches still missing there (same list on every rank), resuming?"""
    shard_dir = shards.shards_dir(prepare_output(setup.config.out))
    fingerprint = setup.fingerprint()
    rows = [len(setup.plan.indices(b)) for b in range(setup.plan.num_batches)]
    resumed, missing = False, None
    if dist.rank == 0:
        resumed = shards.check_fingerprint(shard_dir, fingerprint, write=True)
        missing = shards.missing_batches(shard_dir, rows)
    dist.barrier()
    if dist.rank != 0:
        shards.check_fingerprint(shard_dir, fingerprint, write=False)
    return shard_dir, dist.broadcast(missing), resumed


def make_batches(
    setup: SamplingSetup,
    dist: Dist,
    shard_dir: Path,
    missing: list[int],
    on_progress: ProgressFn | None = None,
) -> None:
    """Make this rank's missing batches, one shard each, in the plan's order."""
    plan = setup.plan
    mine = plan.mine(missing, dist.rank, dist.world)
    state = None
    if mine and plan.previous(mine[0]) is not None:  # upstream: continue the saved stream
        state = shards.read_rng_state(shards.shard_path(shard_dir, plan.previous(mine[0])))
    plan.begin(dist.rank, dist.world, state, dist.device)
    autocast = setup.config.precision.autocast_dtype()
    total = sum(len(plan.indices(b)) for b in mine)
    done = 0
    if on_progress is not None and dist.rank == 0:
        on_progress(0, total)
    for batch in mine:
        t0 = time.perf_counter()
        draw = plan.draw(batch, setup.latent_shape, dist.device)
        fn = make_model_fn(setup.model, draw.labels, setup.guidance, autocast)
        latents = fn.result(_run_sampler(setup, fn, fn.start(draw.z), draw.noise))
        images = decode_to_uint8(setup.vae.module, latents)
        extra = {}
        rng_state = plan.state(dist.device)
        if rng_state is not None:
            extra["rng_state"] = rng_state
        shards.write_shard(
            shard_dir,
            batch,
            images=images,
            labels=draw.labels.cpu().numpy(),
            indices=plan.indices(batch),
            device=dist.device_name,
            seconds=time.perf_counter() - t0,
            **extra,
        )
        done += len(images)
        if on_progress is not None and dist.rank == 0:
            on_progress(done, total)


def _run_sampler(setup: SamplingSetup, fn, x, noise):
    sampler = setup.config.sampler
    if sampler is SamplerKind.IDDPM:
        return sample_iddpm(fn, setup.diffusion, x, noise)
    if sampler is SamplerKind.DDIM:
        return sample_ddim(fn, setup.diffusion, x, noise, eta=setup.config.ddim_eta)
    return sample_flow_sde(fn, x, noise, setup.flow)


def _blocks(
    setup: SamplingSetup, shard_dir: Path, labels: np.ndarray, tally: dict[str, Any]
) -> Iterator[np.ndarray]:
    """Images in index order, one run of consecutive images at a time; fills `labels` and the
    per-device image counts and batch seconds in `tally` as it goes."""
    plan, num = setup.plan, setup.config.num
    for block in plan.blocks():
        parts = []
        for batch in block:
            data = shards.read_shard(shards.shard_path(shard_dir, batch), len(plan.indices(batch)))
            if data is None:
                raise InputError(
                    f"shard {batch} is missing or corrupt in {shard_dir}",
                    hint="rerun the same command to regenerate it",
                )
            parts.append((plan.indices(batch), data))
        first = min(int(idx[0]) for idx, _ in parts)
        rows = sum(len(idx) for idx, _ in parts)
        images = np.empty((rows, *parts[0][1]["images"].shape[1:]), dtype=np.uint8)
        for idx, data in parts:
            images[idx - first] = data["images"]
            kept = idx < num
            labels[idx[kept]] = data["labels"][kept]
            device = str(data["device"])
            tally["devices"][device] = tally["devices"].get(device, 0) + int(kept.sum())
            tally["seconds"] += float(data["seconds"])
        yield images


def merge(
    setup: SamplingSetup,
    dist: Dist,
    shard_dir: Path,
    precision: PrecisionState,
    resumed: bool,
    generated: int,
    started: str,
    t0: float,
    stream=None,
) -> SampleRecord:
    """Write the npz (streamed from the shards) and the record; remove the shards. With a
    `fcdmbench.evaluation.streaming.StreamingEvaluator`, the blocks also pass through its
    extractors and its eval record is written as ``<out>.eval.json``; with ``save_npz`` off
    (``--no-save``) that record is the only file written (the sample record is returned)."""
    config = setup.config
    labels = np.zeros(config.num, dtype=np.int64)
    tally: dict[str, Any] = {"devices": {}, "seconds": 0.0}
    blocks = _blocks(setup, shard_dir, labels, tally)
    if stream is not None:
        blocks = stream.tap(blocks)
    if config.save_npz:
        _write_npz(setup, blocks, labels)
    else:
        for _ in blocks:  # the images reach the extractors only
            pass
    summary = RunSummary(
        npz_sha256=file_sha256(config.out) if config.save_npz else "",
        devices=tally["devices"],
        world_size=dist.world,
        backend=dist.backend,
        resumed=resumed,
        batches_total=setup.plan.num_batches,
        batches_generated_this_run=generated,
        wall_s=time.perf_counter() - t0,
        batch_seconds=tally["seconds"],
        started=started,
    )
    record = build_sample_record(setup, precision, collect_env(str(dist.device)), summary)
    if config.save_npz:
        write_record(sidecar_path(config.out), record)
    if stream is not None:
        _write_stream_record(stream, setup, record)
    if not config.keep_shards:  # only now: an interrupted merge or evaluation resumes
        shutil.rmtree(shard_dir, ignore_errors=True)
    return record


def _write_npz(setup: SamplingSetup, blocks: Iterator[np.ndarray], labels: np.ndarray) -> None:
    """The ADM-format npz of `blocks`, stamped with the model and checkpoint."""
    config = setup.config
    stamp = {
        "schema": SampleRecord.SCHEMA,
        "model": setup.spec.name,
        "smoke": config.smoke,
        "checkpoint_sha256": setup.checkpoint.sha256,
    }
    side = config.resolution
    shards.write_npz_streaming(  # writes arr_1 after consuming every block, so labels are filled
        config.out,
        blocks,
        (side, side, 3),
        config.num,
        labels,
        extra={"fcdmbench_meta": np.array(json.dumps(stamp))},
    )


def _stream_evaluator(config: SampleConfig, dist: Dist):
    """The one-pass evaluator of ``sample --eval`` on rank 0 (None elsewhere or without it):
    under torchrun, rank 0 extracts the features of the merged blocks alone. ADM's Inception
    graph runs on the sampler's device."""
    if config.stream_eval is None or dist.rank != 0:
        return None
    from fcdmbench.evaluation.inception.backends import EvalDevice
    from fcdmbench.evaluation.streaming import StreamingEvaluator

    device = EvalDevice.CUDA if dist.device.type == "cuda" else EvalDevice.CPU
    stream_config = dataclasses.replace(config.stream_eval, device=device)
    return StreamingEvaluator(stream_config, config.num, config.resolution)


def _write_stream_record(stream, setup: SamplingSetup, sample: SampleRecord) -> None:
    """``<out>.eval.json``: what ``fcdmbench eval`` would have recorded for the same images."""
    from fcdmbench.evaluation.config import EvalConfig
    from fcdmbench.records.evaluation import SamplerSettings, SamplesFile

    config, side = setup.config, setup.config.resolution
    # Every field of StreamEvalConfig is EvalConfig's, with its meaning (device: the sampler's).
    settings = {f.name: getattr(stream.config, f.name) for f in dataclasses.fields(stream.config)}
    eval_config = EvalConfig(samples=config.out, num=config.num, **settings)
    samples = SamplesFile(str(config.out), sample.npz_sha256, (side, side), False)
    sidecar = str(sidecar_path(config.out)) if config.save_npz else None
    record = dataclasses.replace(
        stream.finish(samples, eval_config, saved=config.save_npz),
        model=sample.model.name,
        model_source="sample record" if config.save_npz else "sample --eval",
        sampler=SamplerSettings.from_sample_record(sample, sidecar or "sample --eval"),
        sample_record=sidecar,
    )
    write_record(config.out.with_name(config.out.stem + ".eval.json"), record)
