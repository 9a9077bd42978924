"""`fcdmbench sample`: draw images from a registered model into an ADM-format npz + JSON sidecar."""

from __future__ import annotations

import enum
import os
from pathlib import Path
from typing import Annotated

import typer

from fcdmbench.cli.output import print_json, stderr, stdout
from fcdmbench.evaluation.dinov2.network import ResizeMode
from fcdmbench.precision import Precision
from fcdmbench.sampling.choices import LabelScheme, RngScheme, SamplerKind


class CFGChannels(enum.StrEnum):
    three = "3"
    all = "all"


class DeviceChoice(enum.StrEnum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


ModelOption = Annotated[str, typer.Argument(help="Registered model name, e.g. fcdm-xl, dit-xl-2.")]
Out = Annotated[
    Path,
    typer.Option(
        "--out", "-o", metavar="NPZ", help="Output .npz (ADM format); settings go to NPZ.json."
    ),
]
Num = Annotated[
    int,
    typer.Option(
        "--num",
        "--num-samples",
        "-n",
        min=1,
        help="Number of images. Under torchrun write --num-samples "
        "or -n: torchrun rejects --num as an ambiguous prefix of "
        "its own --numa-binding.",
    ),
]
Ckpt = Annotated[
    Path | None,
    typer.Option(
        "--ckpt",
        metavar="PT",
        envvar="FCDMBENCH_CKPT",
        help="Checkpoint (upstream or fcdmbench); EMA weights are used when present.",
    ),
]
Smoke = Annotated[
    bool,
    typer.Option(
        "--smoke", help="Random weights, no checkpoint (tests only; stamped in the output)."
    ),
]
SamplerOption = Annotated[
    SamplerKind,
    typer.Option(
        help="iddpm/ddim (1000-step ADM diffusion) or sde (flow-matching Euler-Maruyama)."
    ),
]
Steps = Annotated[
    int,
    typer.Option(min=1, help="Sampling steps (network evaluations per image, x2 with CFG)."),
]
Respacing = Annotated[
    str | None,
    typer.Option(help="ADM respacing string instead of --steps ('250', '10,15,20', 'ddim50')."),
]
CfgScale = Annotated[
    float, typer.Option(min=1.0, help="Guidance scale; 1 = none. DiT's FID setting is 1.5.")
]
CfgChannels = Annotated[
    CFGChannels, typer.Option(help="Guide the first 3 latent channels (DiT) or all.")
]
RngOption = Annotated[
    RngScheme,
    typer.Option(
        help="Random-number scheme: fcdmbench (per-batch seeds; same images for any number "
        "of processes; resumable) or upstream (DiT's/FCDM's sample_ddp.py: same images as "
        "upstream's script for the same seed, device and process count)."
    ),
]
LabelsOption = Annotated[
    LabelScheme, typer.Option(help="Class labels: uniform random or balanced.")
]
Vae = Annotated[
    str | None,
    typer.Option(
        metavar="DIR|ema|mse",
        envvar="FCDMBENCH_VAE",
        help="diffusers AutoencoderKL folder, or a name "
        "(needs a network). Default: ema (random-tiny with "
        "--smoke).",
    ),
]
PrecisionOption = Annotated[
    Precision,
    typer.Option(
        help="fp32-strict (TF32 off), tf32 (upstream sample_ddp.py's GPU default), or bf16 "
        "autocast. The VAE decodes in fp32."
    ),
]
DeviceOption = Annotated[
    DeviceChoice, typer.Option(help="Device; under torchrun each rank takes cuda:LOCAL_RANK.")
]
SetItems = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        help="Model config override (repeat), e.g. --set learn_sigma=false.",
    ),
]
SdeLastStep = Annotated[float, typer.Option(help="Final SDE step size (FCDM App. E: 0.04).")]
KeepShards = Annotated[bool, typer.Option(help="Keep per-batch shards after the merge.")]
Evaluate = Annotated[
    bool,
    typer.Option(
        "--eval",
        help="Evaluate in the same pass: each merged block of images goes through the "
        "feature extractors (ADM's Inception graph on the PyTorch backend; DINOv2 for "
        "fd_dinov2); writes NPZ.eval.json, the record `eval --backend torch` would write.",
    ),
]
Metrics = Annotated[
    str,
    typer.Option(
        "--metrics",
        metavar="LIST",
        help="With --eval, as `eval --metrics`: comma list of fid, sfid, is, pr, fd_dinov2; "
        "'adm' (ADM's five, the default) or 'all' (adds fd_dinov2).",
    ),
]
Save = Annotated[
    bool,
    typer.Option(
        "--save/--no-save",
        help="Write NPZ and NPZ.json (default). --no-save (with --eval): the images are "
        "only evaluated, as edm2's `calculate_metrics.py gen` does; NPZ.eval.json is the one "
        "file written.",
    ),
]
Inception = Annotated[
    Path | None,
    typer.Option(
        "--inception",
        metavar="PB",
        envvar="FCDMBENCH_INCEPTION",
        help="classify_image_graph_def.pb for --eval's ADM metrics (default: the reference "
        "folder).",
    ),
]
RefOption = Annotated[
    str, typer.Option("--ref", metavar="NAME|PATH.npz", help="Reference for --eval.")
]
Dinov2 = Annotated[
    Path | None,
    typer.Option(
        "--dinov2", metavar="PTH", envvar="FCDMBENCH_DINOV2", help="DINOv2 weights (--eval)."
    ),
]
Dinov2Resize = Annotated[
    ResizeMode, typer.Option("--dinov2-resize", help="DINOv2 resize (--eval).")
]


def register(app: typer.Typer) -> None:
    app.command("sample")(sample_command)


def sample_command(
    model: ModelOption,
    out: Out,
    num: Num,
    ckpt: Ckpt = None,
    smoke: Smoke = False,
    resolution: Annotated[int, typer.Option(help="Image resolution.")] = 256,
    sampler: SamplerOption = SamplerKind.IDDPM,
    steps: Steps = 250,
    respacing: Respacing = None,
    cfg_scale: CfgScale = 1.5,
    cfg_channels: CfgChannels = CFGChannels.three,
    seed: Annotated[int, typer.Option(help="Global seed.")] = 0,
    rng: RngOption = RngScheme.FCDMBENCH,
    labels: LabelsOption = LabelScheme.RANDOM,
    batch_size: Annotated[int, typer.Option(min=1, help="Images per batch per process.")] = 64,
    vae: Vae = None,
    precision: PrecisionOption = Precision.FP32_STRICT,
    device: DeviceOption = DeviceChoice.auto,
    set_items: SetItems = None,
    ddim_eta: Annotated[float, typer.Option(min=0.0, help="DDIM eta (0 = deterministic).")] = 0.0,
    sde_last_step: SdeLastStep = 0.04,
    keep_shards: KeepShards = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the record as JSON.")] = False,
    evaluate: Evaluate = False,
    metrics: Metrics = "adm",
    save: Save = True,
    inception: Inception = None,
    ref: RefOption = "imagenet256",
    dinov2: Dinov2 = None,
    dinov2_resize: Dinov2Resize = ResizeMode.TORCH,
) -> None:
    """Sample a checkpoint into an ADM-format .npz and its record.

    The .npz holds arr_0 (uint8 NHWC images) and arr_1 (labels), as ADM's evaluator reads it;
    every sampler setting goes to NPZ.json beside it.

    Scale out with `torchrun --nproc-per-node K -m fcdmbench sample ...`; rerunning an
    interrupted command resumes from its shards.

    With --eval the images are also evaluated as they are merged (ADM's five metrics by default,
    PyTorch Inception backend; rank 0 extracts under torchrun), giving NPZ.eval.json, the record
    of `eval --backend torch`; with --no-save that record is the only file written.

    Example: fcdmbench sample fcdm-xl --ckpt FCDM-XL.pt --num 50000 --vae ./sd-vae-ft-ema
    --out samples/fcdm-xl.npz

    Example: fcdmbench sample fcdm-xl --ckpt FCDM-XL.pt --num 50000 --out s.npz --eval
    --ref imagenet256 --no-save
    """
    options = dict(locals())  # the options by name, as edm2's commands keep them
    from fcdmbench.sampling.preflight import preflight_sample

    preflight_sample(  # files, names and devices, all at once, before torch is imported
        model=model,
        out=out,
        ckpt=ckpt,
        smoke=smoke,
        vae=vae,
        device=device.value,
        resolution=resolution,
    )
    from fcdmbench.sampling.sample import run_sampling

    config = _config(options)
    if int(os.environ.get("RANK", "0")) != 0:
        run_sampling(config)
        return
    record = _run_with_progress(config, run_sampling)
    if as_json:
        print_json(record.to_json())
        return
    _show(record, save)
    if evaluate:
        _show_stream_eval(record.npz)


#: `SampleConfig` fields whose option has another name.
_RENAMED = {"checkpoint": "ckpt", "save_npz": "save"}


def _config(options: dict):
    """The `SampleConfig` of the command's options."""
    from fcdmbench.cli.options import config_fields
    from fcdmbench.sampling.config import SampleConfig
    from fcdmbench.sampling.options import parse_set_options

    given = config_fields(SampleConfig, options, _RENAMED)
    o = options
    computed = {
        "cfg_all_channels": o["cfg_channels"] is CFGChannels.all,
        "device": o["device"].value,
        "overrides": parse_set_options(o["model"], o["set_items"]),
        "stream_eval": _stream_eval(
            o["evaluate"], o["ref"], o["dinov2"], o["dinov2_resize"], o["metrics"], o["inception"]
        ),
    }
    return SampleConfig(**{**given, **computed})


def _show(record, save: bool) -> None:
    weights = record.checkpoint.weights_used
    if record.checkpoint.weights_available:
        weights += f" (file holds: {', '.join(record.checkpoint.weights_available)})"
    if save:
        stdout.print(f"wrote {record.num_samples} images to {record.npz}")
        stdout.print(f"settings: {record.npz}.json (schema {record.SCHEMA})")
    else:
        stdout.print(f"evaluated {record.num_samples} images; no npz written (--no-save)")
    stdout.print(f"weights: {weights}; rng: {record.rng}; precision: {record.precision.mode}")
    if record.smoke:
        stdout.print("[bold yellow]smoke mode: random weights, not a trained model[/]")


def _stream_eval(
    evaluate: bool, ref: str, dinov2: Path | None, resize: ResizeMode, metrics: str, inception
):
    """The `StreamEvalConfig` of ``--eval`` (None without it)."""
    if not evaluate:
        return None
    from fcdmbench.evaluation.dinov2.fd_dinov2 import parse_metrics
    from fcdmbench.evaluation.streaming import StreamEvalConfig

    return StreamEvalConfig(
        ref=ref,
        dinov2_path=dinov2,
        dinov2_resize=resize,
        metrics=parse_metrics(metrics),
        inception_path=inception,
    )


def _show_stream_eval(npz: str) -> None:
    from fcdmbench.cli.output import fmt
    from fcdmbench.records.evaluation import EvalRecord
    from fcdmbench.records.io import read_record

    path = Path(npz).with_name(Path(npz).stem + ".eval.json")
    record = read_record(path, kind=EvalRecord)
    if record.fid is not None:
        names = ("IS", "FID", "sFID", "precision", "recall")
        values = (record.inception_score, record.fid, record.sfid, record.precision, record.recall)
        shown = ", ".join(f"{n} {fmt(v, 4)}" for n, v in zip(names, values, strict=True))
        stdout.print(f"{shown} ({record.num_samples} samples vs {record.num_ref} reference)")
    fd = record.fd_dinov2
    if fd is not None:
        stdout.print(f"FD-DINOv2: {fd.value:.4f} ({fd.num_samples} samples vs {fd.ref_source})")
    for note in record.notes:
        stdout.print(f"[bold yellow]note:[/] {note}")
    stdout.print(f"eval record: {path}")


def _run_with_progress(config, run):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class ImagesPerSecond(ProgressColumn):
        def render(self, task):
            speed = task.finished_speed or task.speed
            return Text("— img/s" if speed is None else f"{speed:.2f} img/s")

    world = int(os.environ.get("WORLD_SIZE", "1"))
    label = "sampling" if world == 1 else f"sampling (rank 0 of {world})"
    progress = Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        ImagesPerSecond(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=stderr,
        transient=False,
    )
    task = progress.add_task(label, total=None)

    def on_progress(done: int, total: int) -> None:
        if not progress.live.is_started:  # start once the model and VAE are loaded
            progress.start()
        progress.update(task, completed=done, total=total)

    try:
        return run(config, on_progress)
    finally:
        progress.stop()
