"""Preflights of `sample`, `throughput`, `baseline update`, `report` and `analyze spectral`."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fcdmbench.checkpoints import check_checkpoint_format
from fcdmbench.errors import ConfigError, InputError
from fcdmbench.evaluation.npz import inspect_images
from fcdmbench.perfmodel.trace_cache import trace_workers
from fcdmbench.preflight.checks import (
    Preflight,
    check_cuda,
    check_input_file,
    check_output,
    check_output_dir,
    check_vae_folder,
)
from fcdmbench.records.io import read_record
from fcdmbench.records.throughput import ThroughputRecord
from fcdmbench.registry import get_spec
from fcdmbench.throughput.baseline_files import default_baselines_dir, load_baseline
from fcdmbench.throughput.gate import GateThresholds
from fcdmbench.throughput.measure import resolve_device
from fcdmbench.throughput.run import expected_baseline_path

__all__ = [
    "RECORD_HINT",
    "preflight_baseline_update",
    "preflight_report",
    "preflight_sample",
    "preflight_spectral",
    "preflight_throughput",
]


def preflight_sample(
    *,
    model: str,
    out: Path,
    ckpt: Path | None,
    smoke: bool,
    vae: str | None,
    device: str,
    resolution: int,
) -> None:
    """Check `fcdmbench sample`'s inputs before torch is imported or a model is built.

    Checks the model name and its resolution, exactly one of --ckpt and --smoke, the checkpoint
    file, the VAE folder, the output path (.npz, the output-path rule) and, for --device cuda,
    that CUDA exists (the only check that imports torch).
    """

    pf = Preflight()
    spec = pf.check(get_spec, model)
    if spec is not None:
        pf.check(spec.input_shape, resolution)
    if smoke == (ckpt is not None):
        pf.add(
            ConfigError(
                "give exactly one of --ckpt PATH and --smoke",
                hint="--smoke samples from random weights (for tests; stamped in the output)",
            )
        )
    if ckpt is not None and pf.check(
        check_input_file,
        ckpt,
        "checkpoint",
        hint="check --ckpt (an upstream .pt or a fcdmbench checkpoint)",
    ):
        pf.check(check_checkpoint_format, ckpt)
    if not smoke:
        pf.check(check_vae_folder, vae)
    out = Path(out)
    if out.suffix != ".npz":
        pf.add(ConfigError(f"--out must end in .npz, got {out}", hint=f"e.g. --out {out.stem}.npz"))
    else:
        pf.check(check_output, out)
    pf.check(check_cuda, device)  # imports torch, for --device cuda only
    pf.raise_all()


RECORD_HINT = "pass a record `fcdmbench throughput` wrote (reports/throughput/*.json)"


def preflight_throughput(
    config: Any,
    *,
    out: Path | None,
    check: bool,
    update_baseline: bool,
    baselines_dir: Path | None,
    force: bool,
) -> Path | None:
    """Check a throughput run before any model is built; return the baselines folder (if used).

    Checks: the device (CUDA present for ``cuda``/``cuda:N``; ``--cuda-graphs`` only on CUDA),
    every model at ``--resolution``, the record path, the baselines folder for
    ``--check``/``--update-baseline`` (the current checkout's, never the installed source's),
    that an ``--update-baseline`` run has the blocks the gate needs to judge it, and that a
    ``--check`` run has a baseline to compare with.
    """

    pf = Preflight()
    device = pf.check(resolve_device, config.device)
    device_ok = device is not None
    if device is not None and config.cuda_graphs and device.type != "cuda":
        pf.add(ConfigError("--cuda-graphs needs a CUDA device", hint="drop --cuda-graphs on CPU"))
    for name in config.measured_models():
        spec = pf.check(get_spec, name)
        if spec is not None:
            pf.check(spec.input_shape, config.resolution)
    if out is not None:
        pf.check(check_output, out)
    root = None
    if check or update_baseline:
        root = pf.check(default_baselines_dir, baselines_dir)
    min_blocks = GateThresholds().min_blocks
    if update_baseline and not force and config.protocol.blocks < min_blocks:
        pf.add(
            ConfigError(
                f"--blocks {config.protocol.blocks} with --update-baseline: the gate needs at "
                f"least {min_blocks} timed blocks to judge a run, so it would refuse this one",
                hint=f"use --blocks {min_blocks} or more (default 7), or pass --force",
            )
        )
    if check and root is not None and device_ok:
        path = expected_baseline_path(config, root)
        if pf.check(load_baseline, path) is None and not path.exists():
            pf.add(
                InputError(
                    f"no baseline for this device and configuration: {path} does not exist",
                    hint="measure on a quiet machine and store it explicitly with "
                    "`fcdmbench throughput ... --update-baseline` (then review it in a PR)",
                )
            )
    pf.raise_all()
    return root


def preflight_baseline_update(record_path: Path, baselines_dir: Path | None) -> tuple[dict, Path]:
    """The record to store and the folder to store it in, both checked; all problems at once."""

    pf = Preflight()
    record = None
    if pf.check(check_input_file, record_path, "record", hint=RECORD_HINT) is not None:
        record = pf.check(read_record, record_path, kind=ThroughputRecord)
    root = pf.check(default_baselines_dir, baselines_dir)
    pf.raise_all()
    return record, root


def preflight_report(*, records: Iterable[Path], out: Path | None) -> None:
    """`fcdmbench report`: every --records path exists; the output folder obeys the rule."""
    pf = Preflight()
    for path in records:
        if not Path(path).expanduser().exists():
            pf.add(
                InputError(
                    f"--records {path} does not exist",
                    hint="name record files (.json) or folders holding them",
                )
            )
    if out is not None:
        pf.check(check_output_dir, out)
    pf.check(trace_workers)  # the claims section audits Tables 2 and 4
    pf.raise_all()


def preflight_spectral(
    *,
    models: Iterable[str],
    ckpts: Iterable[Path],
    images: Path | None,
    vae: str | None,
    device: str,
    out: Path,
) -> None:
    """`fcdmbench analyze spectral`: names, checkpoints, images, VAE, device and the 4 outputs."""

    pf = Preflight()
    for model in models:
        pf.check(get_spec, model)
    for ckpt in ckpts:
        if pf.check(check_input_file, ckpt, "checkpoint", hint="check --ckpt (one per model)"):
            pf.check(check_checkpoint_format, ckpt)
    if images is not None:
        pf.check(inspect_images, images)
        pf.check(check_vae_folder, vae)
    before = len(pf.problems)
    for ext in ("json", "csv", "png", "svg"):  # one folder: its fault is reported once
        pf.check(check_output, Path(out).with_name(f"{Path(out).name}.{ext}"))
        if len(pf.problems) > before:
            break
    pf.check(check_cuda, device)
    pf.raise_all()
