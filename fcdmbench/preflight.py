"""Preflight: what a command checks before any heavy work, with every problem reported at once.

A command collects problems in a `Preflight`: each check either returns what it found or raises
an `FcdmbenchError`, which is recorded, and the next check runs. `Preflight.raise_all` then does
nothing (no problem), raises the one problem as itself, or raises one `PreflightError` listing
every problem with its own hint. Its exit code is the lowest of theirs (2 usage/config before 3
input files before 4 devices), so a script sees the most basic fault. A user who lacks three
reference files learns of all three in one run.

Preflights create nothing, hash nothing and import neither TensorFlow nor torch (torch only to
ask whether CUDA exists, and only when a command asks for CUDA): `fcdmbench sample --ckpt
missing.pt` fails in a fraction of a second. Output paths are checked with
`fcdmbench.files.check_output`, the rule every writer applies (README "Outputs").

Example:
    pf = Preflight()
    info = pf.check(inspect_images, "samples.npz")
    pf.check(check_output, "samples.eval.json")
    pf.raise_all()
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from fcdmbench.errors import (
    ConfigError,
    DeviceError,
    FcdmbenchError,
    InputError,
    MissingExtraError,
)
from fcdmbench.files import check_output

__all__ = [
    "EvalPlan",
    "Preflight",
    "PreflightError",
    "check_cuda",
    "check_extra",
    "check_input_file",
    "check_output",
    "check_output_dir",
    "check_vae_folder",
    "preflight_baseline_update",
    "preflight_eval",
    "preflight_report",
    "preflight_sample",
    "preflight_spectral",
    "preflight_throughput",
]

T = TypeVar("T")


class PreflightError(FcdmbenchError):
    """Several problems found before a command started; `problems` holds each error.

    The message lists them numbered, each followed by its own hint; the exit code is the
    lowest of theirs.
    """

    def __init__(
        self,
        problems: Iterable[FcdmbenchError],
        hint: str | None = None,
        summary: str = "problems found before starting; nothing was run",
    ) -> None:
        self.problems = tuple(problems)
        lines = [f"{len(self.problems)} {summary}:"]
        for index, problem in enumerate(self.problems, 1):
            lines.append(f"  {index}. {problem.message}")
            if problem.hint:
                lines.append(f"     hint: {problem.hint}")
        super().__init__("\n".join(lines), hint or "fix each problem above (its hint says how)")
        self.exit_code = min(p.exit_code for p in self.problems)


class Preflight:
    """Collects problems from checks; `raise_all` reports them together."""

    def __init__(self) -> None:
        self.problems: list[FcdmbenchError] = []

    def check(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        """Run one check; return its result, or record its error and return None."""
        try:
            return fn(*args, **kwargs)
        except PreflightError as exc:
            for problem in exc.problems:
                self.add(problem)
        except FcdmbenchError as exc:
            self.add(exc)
        return None

    def add(self, error: FcdmbenchError) -> None:
        """Record a problem (one already recorded with the same message is not repeated)."""
        if all(p.message != error.message for p in self.problems):
            self.problems.append(error)

    def raise_all(self, hint: str | None = None, summary: str | None = None) -> None:
        """Raise the problems found (one as itself, several as a `PreflightError`).

        Args:
            hint: the closing hint for several problems (default: fix each as its hint says).
            summary: the first line after the count (default: "problems found before
                starting; nothing was run").
        """
        if len(self.problems) == 1:
            raise self.problems[0]
        if self.problems:
            extra = {} if summary is None else {"summary": summary}
            raise PreflightError(self.problems, hint, **extra)


def check_input_file(path: str | Path, what: str, hint: str) -> Path:
    """`path` must be a readable, non-empty file (`what` names it: "checkpoint")."""
    path = Path(path).expanduser()
    if not path.exists():
        raise InputError(f"{what} {path} not found", hint=hint)
    if path.is_dir():
        raise InputError(f"{what} {path} is a directory, not a file", hint=hint)
    if not os.access(path, os.R_OK):
        raise InputError(f"{what} {path} is not readable", hint="check its permissions")
    if path.stat().st_size == 0:
        raise InputError(f"{what} {path} is empty (0 bytes)", hint=hint)
    return path


def check_output_dir(path: str | Path) -> Path:
    """An output folder: an existing directory, or one the output-path rule lets us create."""
    path = Path(path).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise InputError(
            f"output folder {path} is a file", hint="pass a folder name (it is created)"
        )
    check_output(path)  # the folder is created like a file would be: its parent under the rule
    return path


def check_cuda(device: str) -> None:
    """A ``cuda``/``cuda:N`` device must exist (imports torch only for such a device)."""
    text = str(device).strip().lower()
    if not text.startswith("cuda"):
        return
    import torch

    if not torch.cuda.is_available():
        build = "a CPU-only build" if torch.version.cuda is None else f"CUDA {torch.version.cuda}"
        raise DeviceError(
            f"--device {device} requested but CUDA is not available (torch {torch.__version__}, "
            f"{build})",
            hint="run with --device cpu (results are labelled CPU), or install a CUDA build of "
            "torch on a machine with an NVIDIA GPU",
        )
    _, _, index = text.partition(":")
    if index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
        raise DeviceError(
            f"--device {device}: only {torch.cuda.device_count()} CUDA device(s) visible",
            hint=f"use cuda:0 .. cuda:{torch.cuda.device_count() - 1}, or set CUDA_VISIBLE_DEVICES",
        )


def check_extra(module: str, extra: str, purpose: str) -> None:
    """An optional dependency must be installed (looked up, not imported)."""
    if importlib.util.find_spec(module) is None:
        raise MissingExtraError(
            f"{purpose} needs the Python package '{module}', which is not installed",
            hint=f"pip install 'fcdmbench[{extra}]'",
        )


def check_vae_folder(vae: str | None) -> None:
    """A ``--vae`` that names a folder must hold a diffusers AutoencoderKL (names pass)."""
    if vae is None:
        return
    path = Path(vae).expanduser()
    if not (path.exists() or vae.startswith((".", "/", "~")) or os.sep in vae):
        return  # a hub name (ema, mse, or owner/name): resolved when loaded
    hint = (
        "pass a folder saved with AutoencoderKL.save_pretrained(DIR) (config.json and "
        "diffusion_pytorch_model.safetensors), or --vae ema / mse with a network"
    )
    if not path.exists():
        raise InputError(f"VAE folder {path} not found", hint=hint)
    if not path.is_dir():
        raise InputError(f"VAE path {path} is a file, not a folder", hint=hint)
    missing = [
        name
        for name, present in (
            ("config.json", (path / "config.json").is_file()),
            ("diffusion_pytorch_model.*", any(path.glob("diffusion_pytorch_model.*"))),
        )
        if not present
    ]
    if missing:
        raise InputError(f"VAE folder {path} has no {' and no '.join(missing)}", hint=hint)


# ---------------------------------------------------------------------------------------------
# eval


@dataclass(frozen=True, slots=True)
class EvalPlan:
    """What `preflight_eval` found: the samples' header, how many images to use, the files."""

    samples: Any  # NpzImages
    num: int
    reference: Any  # ReferenceLocation
    reference_images: Any  # NpzImages
    inception: Path | None


def preflight_eval(
    config: Any, *, outputs: Iterable[Path] = (), need_inception: bool = True
) -> EvalPlan:
    """Check everything `evaluate(config)` needs, reading only headers; report all problems.

    Checks: the samples file (present, a file, an npz, uint8 NHWC RGB, header size = data
    size), the image count (never 0; at least ``--num`` unless ``allow_fewer``; at least k + 1
    for precision/recall, always), the samples' resolution against the manifest's for a named
    reference (before the reference file is needed), the reference file and the Inception graph
    (every missing one listed with where to place it), TensorFlow, an explicit sampling record,
    and the output paths.

    Raises:
        FcdmbenchError: one problem; `PreflightError`: several.
    """
    from fcdmbench.evaluation.inception import INCEPTION_ENV, resolve_inception_path
    from fcdmbench.evaluation.npz import inspect_images
    from fcdmbench.evaluation.reference import (
        is_path_like,
        load_manifest,
        locate_reference,
        reference_dir,
    )

    pf = Preflight()
    info = pf.check(inspect_images, config.samples)
    num = 0
    if info is not None:
        num = min(info.num, config.num)
        pf.check(_check_counts, config.samples, info.num, config)
    entry = None
    if not is_path_like(config.ref):
        entry = (pf.check(load_manifest) or {}).get(config.ref)
    if info is not None and entry is not None and entry.resolution:
        pf.check(_check_resolution, info, entry.resolution, f"reference batch '{entry.name}'")
    location = pf.check(locate_reference, config.ref, config.reference_dir, config.cache_dir)
    ref_info = None
    if location is not None:
        ref_info = pf.check(inspect_images, location.path)
    if ref_info is not None:
        if info is not None and (entry is None or not entry.resolution):
            pf.check(
                _check_resolution, info, ref_info.height, f"reference batch {location.path.name}"
            )
        if ref_info.num < config.k + 1:
            pf.add(
                InputError(
                    f"reference {location.path} holds {ref_info.num} images; precision/recall "
                    f"needs at least k + 1 = {config.k + 1}",
                    hint="use a full ADM reference batch (--ref imagenet256)",
                )
            )
    inception = None
    if need_inception:
        inception = pf.check(
            resolve_inception_path,
            config.inception_path,
            config.reference_dir,
            config.cache_dir,
            verify=False,
        )
    official = [config.ref] if entry is not None else []
    if need_inception and not (config.inception_path or os.environ.get(INCEPTION_ENV)):
        official.insert(0, "inception")
    folder = reference_dir(config.reference_dir, config.cache_dir)
    manifest = load_manifest() if official else {}
    missing = [n for n in official if not (folder / manifest[n].filename).exists()]
    if need_inception or config.distance.value != "torch":
        pf.check(check_extra, "tensorflow", "eval-cpu", "ADM's Inception graph and float16 ops")
    if config.sample_record is not None:
        from fcdmbench.reporting.records import read_record

        pf.check(read_record, config.sample_record, expect="fcdmbench.sample")
    for path in outputs:
        pf.check(check_output, path)
    hint = None
    if len(missing) > 1:
        hint = (
            f"fetch them all at once: `fcdmbench reference fetch {' '.join(missing)}`; offline, "
            "download each URL above elsewhere and place it at the path shown"
        )
    pf.raise_all(hint)
    return EvalPlan(info, num, location, ref_info, inception)


def _check_counts(path: Path, available: int, config: Any) -> None:
    pf = Preflight()
    if available == 0:
        raise InputError(
            f"{path} holds 0 images: nothing to evaluate",
            hint="check the sampling run that wrote it (arr_0 has shape (0, H, W, 3))",
        )
    if available < config.num and not config.allow_fewer:
        pf.add(
            InputError(
                f"{path} holds {available} images, fewer than --num {config.num}",
                hint="sample more, lower --num, or pass --allow-fewer (recorded in the result)",
            )
        )
    used = min(available, config.num)
    if used < config.k + 1:
        pf.add(
            InputError(
                f"{used} image(s) are too few for precision/recall: each image's radius is the "
                f"distance to its k-th nearest neighbour (k = {config.k}) among the others, so "
                f"at least k + 1 = {config.k + 1} are needed (--allow-fewer cannot lower this)",
                hint=f"evaluate at least {config.k + 1} images (ADM's protocol uses 50,000)",
            )
        )
    pf.raise_all()


def _check_resolution(info: Any, side: int, what: str) -> None:
    if (info.height, info.width) == (side, side):
        return
    names = {256: "imagenet256", 512: "imagenet512"}
    match = names.get(info.height) if info.height == info.width else None
    raise InputError(
        f"samples {info.path} are {info.height}x{info.width} px but {what} is {side}x{side}",
        hint=f"use --ref {match}"
        if match
        else f"sample at {side} px (or resize to {side}x{side}) to compare with this reference",
    )


# ---------------------------------------------------------------------------------------------
# sample


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
    from fcdmbench.registry import get_spec

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
    if ckpt is not None:
        pf.check(
            check_input_file,
            ckpt,
            "checkpoint",
            hint="check --ckpt (an upstream .pt or a fcdmbench checkpoint)",
        )
    if not smoke:
        pf.check(check_vae_folder, vae)
    out = Path(out)
    if out.suffix != ".npz":
        pf.add(ConfigError(f"--out must end in .npz, got {out}", hint=f"e.g. --out {out.stem}.npz"))
    else:
        pf.check(check_output, out)
    pf.check(check_cuda, device)  # imports torch, for --device cuda only
    pf.raise_all()


# ---------------------------------------------------------------------------------------------
# throughput and baselines


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

    Checks: the CUDA device (for ``cuda``/``cuda:N``), the record path, the baselines folder for
    ``--check``/``--update-baseline`` (the current checkout's, never the installed source's),
    that an ``--update-baseline`` run has the blocks the gate needs to judge it, and that a
    ``--check`` run has a baseline to compare with.
    """
    from fcdmbench.profiling.baselines import default_baselines_dir, load_baseline
    from fcdmbench.profiling.regression import GateThresholds

    pf = Preflight()
    pf.check(check_cuda, config.device)
    device_ok = not pf.problems
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
        from fcdmbench.profiling.gate import expected_baseline_path

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
    from fcdmbench.profiling.baselines import default_baselines_dir
    from fcdmbench.reporting.records import read_record

    pf = Preflight()
    record = pf.check(read_record, record_path, expect="fcdmbench.throughput")
    root = pf.check(default_baselines_dir, baselines_dir)
    pf.raise_all()
    return record, root


# ---------------------------------------------------------------------------------------------
# report and analyze


def preflight_report(*, records: Iterable[Path], out: Path | None) -> None:
    """`fcdmbench report`: every --records path exists; the output folder obeys the rule."""
    pf = Preflight()
    for path in records:
        if not Path(path).expanduser().exists():
            pf.add(
                InputError(
                    f"records path {path} not found",
                    hint="pass folders or files of fcdmbench JSON records (e.g. reports/)",
                )
            )
    if out is not None:
        pf.check(check_output_dir, out)
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
    from fcdmbench.evaluation.npz import inspect_images
    from fcdmbench.registry import get_spec

    pf = Preflight()
    for model in models:
        pf.check(get_spec, model)
    for ckpt in ckpts:
        pf.check(check_input_file, ckpt, "checkpoint", hint="check --ckpt (one per model)")
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
