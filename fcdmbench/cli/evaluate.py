"""`fcdmbench eval`: ADM-compatible FID, sFID, IS, precision and recall of a samples .npz."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fcdmbench.errors import CheckFailedError, ConfigError
from fcdmbench.evaluation.dinov2.network import ResizeMode
from fcdmbench.evaluation.distance import DistanceBackend
from fcdmbench.evaluation.inception.backends import EvalDevice, InceptionBackend
from fcdmbench.evaluation.metrics import SqrtmMethod

Samples = Annotated[Path, typer.Argument(metavar="SAMPLES.npz", help="uint8 NHWC images in arr_0.")]
Ref = Annotated[
    str,
    typer.Option("--ref", metavar="imagenet256|imagenet512|PATH.npz", help="ADM reference batch."),
]
Num = Annotated[
    int,
    typer.Option("--num", "-n", min=1, help="Images to evaluate (first N; -n under torchrun)."),
]
BatchSize = Annotated[int, typer.Option("--batch-size", min=1, help="Inception batch.")]
JsonOut = Annotated[
    Path | None,
    typer.Option("--json", metavar="PATH", help="Record path (default: <samples>.eval.json)."),
]
AllowFewer = Annotated[
    bool, typer.Option("--allow-fewer", help="Accept fewer images than --num (recorded).")
]
Meta = Annotated[
    str | None,
    typer.Option(
        "--meta", metavar="K=V,...", help="Sampler settings to record, e.g. steps=250,cfg=1.5."
    ),
]
SampleRecord = Annotated[
    Path | None,
    typer.Option(
        "--sample-record",
        metavar="PATH",
        help="Sampling record (default: <samples>.npz.json if present).",
    ),
]
ModelName = Annotated[
    str | None,
    typer.Option(
        "--model",
        metavar="NAME",
        help="Model that made the samples, when no sampling record names it (puts the "
        "result in the report's rows).",
    ),
]
TrainingSteps = Annotated[
    int | None,
    typer.Option(
        "--training-steps",
        metavar="N",
        min=0,
        help="Training iterations of the checkpoint (e.g. 400000: the report's 400K row).",
    ),
]
Inception = Annotated[
    Path | None,
    typer.Option(
        "--inception",
        metavar="PB",
        envvar="FCDMBENCH_INCEPTION",
        help="classify_image_graph_def.pb",
    ),
]
ReferenceDir = Annotated[
    Path | None,
    typer.Option(
        "--reference-dir",
        metavar="DIR",
        envvar="FCDMBENCH_REFERENCE_DIR",
        help="Folder of the reference files (default: CACHE/reference).",
    ),
]
CacheDir = Annotated[
    Path | None,
    typer.Option(
        "--cache-dir",
        metavar="DIR",
        envvar="FCDMBENCH_CACHE",
        help="Cache root, CACHE (default: the user cache folder, ~/.cache/fcdmbench on Linux).",
    ),
]
Sqrtm = Annotated[
    SqrtmMethod,
    typer.Option(
        "--sqrtm",
        help="adm: scipy sqrtm, bit-identical to ADM (default). eigh: two symmetric "
        "eigendecompositions, within ~1e-13 of ADM and several times faster; adm is used "
        "instead where fewer images than feature dimensions make a covariance singular. "
        "Recorded in the result.",
    ),
]
Distance = Annotated[
    DistanceBackend,
    typer.Option(
        "--distance",
        help="adm: ADM's float16 ops, bit-identical (default). adm-graph: ADM's whole "
        "TensorFlow graph (the reference; slower). torch: GPU float16, labelled, not exact.",
    ),
]
Backend = Annotated[
    InceptionBackend,
    typer.Option(
        "--backend",
        help="torch: ADM's graph file run by fcdmbench's PyTorch interpreter (default; no "
        "TensorFlow). tensorflow: the graph in TensorFlow, as ADM runs it (extra eval-tf). "
        "Recorded.",
    ),
]
Device = Annotated[
    EvalDevice,
    typer.Option(
        "--device",
        help="Where the torch backend runs (cuda: TF32 off, deterministic kernels). Under "
        "torchrun each rank extracts its share.",
    ),
]
CrossCheck = Annotated[
    bool,
    typer.Option(
        "--cross-check",
        help="Run both backends on the first 1,000 images and print how far apart their "
        "features and metrics are (needs TensorFlow; computes no reference metrics). "
        "Record: SAMPLES.cross-check.json or --json.",
    ),
]
Metrics = Annotated[
    str,
    typer.Option(
        "--metrics",
        metavar="LIST",
        help="Comma list of fid, sfid, is, pr, fd_dinov2; 'adm' (ADM's five, the default) or "
        "'all' (adds fd_dinov2). ADM's five share one Inception pass, computed together.",
    ),
]
DinoV2 = Annotated[
    Path | None,
    typer.Option(
        "--dinov2",
        metavar="PTH",
        envvar="FCDMBENCH_DINOV2",
        help="DINOv2 ViT-L/14 weights, dinov2_vitl14_pretrain.pth (default: the reference "
        "folder; `fcdmbench reference fetch dinov2`).",
    ),
]
DinoV2Resize = Annotated[
    ResizeMode,
    typer.Option(
        "--dinov2-resize",
        help="torch: antialiased bicubic interpolate (edm2's default, fast). pil: PIL bicubic, "
        "as dgm-eval (slow).",
    ),
]
DinoV2Ref = Annotated[
    Path | None,
    typer.Option(
        "--dinov2-ref",
        metavar="PKL|NPZ",
        help="FD-DINOv2 reference only: an edm2 reference .pkl (read as arrays only) or an npz "
        "of images (default: the images of --ref).",
    ),
]


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)


def parse_meta(text: str | None) -> dict:
    """``"steps=250,cfg=1.5,vae=ema"`` -> ``{"steps": 250, "cfg": 1.5, "vae": "ema"}``."""
    out: dict = {}
    for item in filter(None, (part.strip() for part in (text or "").split(","))):
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ConfigError(
                f"--meta item {item!r} is not key=value",
                hint="e.g. --meta steps=250,cfg=1.5,seed=0-49999",
            )
        for cast in (int, float):
            try:
                value = cast(value)
                break
            except ValueError:
                continue
        out[key.strip()] = value
    return out


def eval_command(
    samples: Samples,
    ref: Ref = "imagenet256",
    num: Num = 50_000,
    batch_size: BatchSize = 64,
    json_path: JsonOut = None,
    allow_fewer: AllowFewer = False,
    meta: Meta = None,
    sample_record: SampleRecord = None,
    model: ModelName = None,
    training_steps: TrainingSteps = None,
    inception: Inception = None,
    reference_dir: ReferenceDir = None,
    cache_dir: CacheDir = None,
    sqrtm: Sqrtm = SqrtmMethod.ADM,
    distance: Distance = DistanceBackend.ADM,
    backend: Backend = InceptionBackend.TORCH,
    device: Device = EvalDevice.CPU,
    cross_check: CrossCheck = False,
    metrics: Metrics = "adm",
    dinov2: DinoV2 = None,
    dinov2_resize: DinoV2Resize = ResizeMode.TORCH,
    dinov2_ref: DinoV2Ref = None,
) -> None:
    """Compute FID, sFID, IS, precision and recall as ADM does.

    With --metrics all (or fd_dinov2) it also computes FD-DINOv2 (DINOv2 ViT-L/14, as EDM2).

    Offline, it names every missing reference file and where to place it, in one run; the
    result is written as a record (default: SAMPLES.eval.json).

    Example: fcdmbench eval samples.npz --ref imagenet256 --meta steps=250,cfg=1.5
    Example: fcdmbench eval samples.npz --metrics all --dinov2 dinov2_vitl14_pretrain.pth
    """
    options = dict(locals())  # the options by name, as edm2's commands keep them
    if cross_check:
        _cross_check(samples, inception, reference_dir, cache_dir, batch_size, device, json_path)
        return
    from fcdmbench.evaluation.evaluate import evaluate

    config = _config(options)
    record_path = json_path or samples.with_name(samples.stem + ".eval.json")
    if not any(m.is_adm for m in config.metrics):  # FD-DINOv2 alone: no Inception, no TF
        from fcdmbench.evaluation.dinov2.fd_eval import evaluate_fd_dinov2_only

        _write_and_show(evaluate_fd_dinov2_only(config, outputs=[record_path]), record_path)
        return
    progress = _progress()  # shown from the first figure: the checks' errors come alone
    try:
        record = evaluate(config, outputs=[record_path], on_progress=_progress_fn(progress))
    finally:
        if progress.live.is_started:
            progress.stop()
    if record is not None:  # None: a torchrun rank other than 0, whose share rank 0 gathered
        _write_and_show(record, record_path)


#: `EvalConfig` fields whose option has another name.
_RENAMED = {"inception_path": "inception", "dinov2_path": "dinov2"}


def _config(options: dict):
    """The `EvalConfig` of the command's options (``--meta`` and ``--metrics`` parsed)."""
    from fcdmbench.cli.options import config_fields
    from fcdmbench.evaluation.config import EvalConfig
    from fcdmbench.evaluation.dinov2.fd_dinov2 import parse_metrics

    parsed = {"meta": parse_meta(options["meta"]), "metrics": parse_metrics(options["metrics"])}
    return EvalConfig(**{**config_fields(EvalConfig, options, _RENAMED), **parsed})


def _progress():
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from fcdmbench.cli.output import stderr

    columns = (TextColumn("{task.description}"), BarColumn())
    columns += (TextColumn("{task.percentage:>5.1f}%"), TimeRemainingColumn())
    return Progress(*columns, console=stderr, transient=True)


def _progress_fn(progress):
    """``(stage, done, total)`` -> one bar per stage; nothing on torchrun ranks other than 0."""
    import os

    if os.environ.get("RANK", "0") != "0":
        return None
    tasks: dict[str, int] = {}

    def on_progress(stage: str, done: int, total: int) -> None:
        if not progress.live.is_started:
            progress.start()
        if stage not in tasks:
            tasks[stage] = progress.add_task(stage, total=total)
        progress.update(tasks[stage], completed=done, total=total)

    return on_progress


def _cross_check(samples, inception, reference_dir, cache_dir, batch_size, device, json_path):
    """``eval --cross-check``: both backends on the first images, differences printed."""
    from rich.progress import Progress

    from fcdmbench.cli.output import stderr
    from fcdmbench.evaluation.inception.cross_check import cross_check
    from fcdmbench.evaluation.preflight import preflight_cross_check

    record_path = json_path or samples.with_name(samples.stem + ".cross-check.json")
    graph = preflight_cross_check(
        samples, inception, reference_dir, cache_dir, device, outputs=[record_path]
    )
    with Progress(console=stderr, transient=True) as progress:
        record = cross_check(
            samples,
            graph,
            batch_size=batch_size,
            device=device,
            on_progress=_progress_fn(progress),
        )
    _show_cross_check(record, record_path)


def _show_cross_check(record, path: Path) -> None:
    from fcdmbench.cli.output import Column, show_table, stderr
    from fcdmbench.records.io import write_record

    write_record(path, record)
    rows = [(out.name, "", "", out.max_abs, out.max_rel, out) for out in record.outputs]
    rows += [(m.name, f"{m.torch:.6f}", f"{m.tensorflow:.6f}", abs(m.torch - m.tensorflow),
              m.rel_diff, m) for m in record.metrics]  # fmt: skip
    columns = [
        Column("output / metric", lambda r: r[0]),
        Column("torch", lambda r: r[1]),
        Column("tensorflow", lambda r: r[2]),
        Column("max abs diff", lambda r: f"{r[3]:.3g}"),
        Column("rel diff", lambda r: f"{r[4]:.3g}"),
        Column("ok", lambda r: _ok(r[5])),
    ]
    show_table(columns, rows, f"torch vs tensorflow backend, {record.num_images:,} images")
    stderr.print(f"record: {path}")
    if not record.agrees:
        raise CheckFailedError(
            "the torch and tensorflow backends differ beyond the validated tolerances (rows "
            "marked NO above)",
            hint="please report it with the record file; evaluate with --backend tensorflow "
            "meanwhile",
        )
    stderr.print("the backends agree within the validated tolerances (docs/evaluation.md)")


def _ok(row) -> str:
    return "yes" if row.within else f"NO (tol {row.tolerance:g})"


def _write_and_show(record, path: Path) -> None:
    from fcdmbench.cli.output import Column, fmt, show_table, stderr
    from fcdmbench.records.io import write_record

    write_record(path, record)
    if record.fid is None and record.fd_dinov2 is not None:  # FD-DINOv2 alone
        _show_fd_dinov2(record)
        stderr.print(f"record: {path}")
        return
    title = f"ADM metrics, {record.num_samples:,} samples vs {record.num_ref:,} reference"
    title += f" ({record.model})" if record.model else ""
    names = ("inception_score", "fid", "sfid", "precision", "recall")
    headers = ("Inception Score", "FID", "sFID", "Precision", "Recall")
    columns = [
        Column(h, lambda r, n=n: fmt(getattr(r, n), 4)) for h, n in zip(headers, names, strict=True)
    ]
    show_table(columns, [record], title)
    _show_fd_dinov2(record)
    if record.allow_fewer:
        stderr.print(f"note: --allow-fewer given; {record.num_samples} images used (recorded)")
    mode = record.mode
    if mode.sqrtm_fallback:
        stderr.print(f"note: --sqrtm eigh: {mode.sqrtm_fallback} (recorded)")
    if mode.inexact_distance_blocks:
        stderr.print(
            f"note: {mode.inexact_distance_blocks} precision/recall block(s) overflowed float16 "
            "and were recomputed in torch float32, not by ADM's TensorFlow graph (recorded; "
            "--backend tensorflow recomputes them as ADM does)"
        )
    if not record.is_adm_exact:
        stderr.print(
            f"note: not ADM-exact (--sqrtm {mode.sqrtm}, --distance {mode.distance}; recorded)"
        )
    if record.model is None:
        stderr.print(
            "note: no sampling record or --model names the model: the report cannot place "
            "this result in a table row"
        )
    stderr.print(f"record: {path}")


def _show_fd_dinov2(record) -> None:
    """FD-DINOv2's line, when it was computed."""
    from fcdmbench.cli.output import fmt, stdout

    fd = record.fd_dinov2
    if fd is None:
        return
    ref = f"{fd.num_ref:,} reference images" if fd.num_ref else fd.ref_source
    stdout.print(
        f"FD-DINOv2: {fmt(fd.value, 4)} ({fd.num_samples:,} samples vs {ref}; resize {fd.resize}; "
        f"weights sha256 {fd.weights_sha256[:12]}..., {fd.weights_status})"
    )
