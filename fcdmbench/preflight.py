"""Preflight: what a command checks before any heavy work, with every problem reported at once.

A command collects problems in a `Preflight`: each check either returns what it found or raises
an `FcdmbenchError`, which is recorded, and the next check runs. `Preflight.raise_all` then does
nothing (no problem), raises the one problem as itself, or raises one `PreflightError` listing
every problem with its own hint. Its exit code is the lowest of theirs (2 usage/config before 3
input files before 4 devices), so a script sees the most basic fault. A user who lacks three
reference files learns of all three in one run.

This module holds the collector and the checks several commands share (input files, output
paths and folders, CUDA, optional extras, a VAE folder); each command's own preflight sits
beside its library function (`fcdmbench.evaluation.preflight`, `fcdmbench.sampling.preflight`,
`fcdmbench.throughput.preflight`, `fcdmbench.reporting.preflight`, and in the commands of the
CLI for the modelling commands). Preflights create nothing, hash nothing and import neither
TensorFlow nor torch (torch only to ask whether CUDA exists, and only when a command asks for
CUDA): `fcdmbench sample --ckpt missing.pt` fails in a fraction of a second. Output paths are
checked with `fcdmbench.files.check_output`, the rule every writer applies (README "Outputs").

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
    "Preflight",
    "PreflightError",
    "check_cuda",
    "check_extra",
    "check_input_file",
    "check_output",
    "check_output_dir",
    "check_vae_folder",
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


def check_record_outputs(pf: Preflight, json_path: Any, plot: Any) -> None:
    """A modelling command's outputs into `pf`: ``--json PATH`` (``-`` is stdout) and ``--plot``
    (a .png, .svg or .pdf name), both under the output-path rule."""
    if json_path is not None and str(json_path) != "-":
        pf.check(check_output, json_path)
    if plot is not None:
        if Path(plot).suffix.lower() not in (".png", ".svg", ".pdf"):
            pf.add(ConfigError(f"--plot {plot}: use a .png, .svg or .pdf name"))
        pf.check(check_output, plot)


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
