"""`fcdmbench eval`: ADM-compatible FID, sFID, IS, precision and recall of a samples .npz."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fcdmbench.errors import CheckFailedError, ConfigError
from fcdmbench.evaluation.inception.backends import EvalDevice, InceptionBackend


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
    samples: Annotated[
        Path, typer.Argument(metavar="SAMPLES.npz", help="uint8 NHWC images in arr_0.")
    ],
    ref: Annotated[
        str,
        typer.Option(
            "--ref", metavar="imagenet256|imagenet512|PATH.npz", help="ADM reference batch."
        ),
    ] = "imagenet256",
    num: Annotated[
        int,
        typer.Option("--num", "-n", min=1, help="Images to evaluate (first N; -n under torchrun)."),
    ] = 50_000,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Inception batch.")] = 64,
    json_path: Annotated[
        Path | None,
        typer.Option("--json", metavar="PATH", help="Record path (default: <samples>.eval.json)."),
    ] = None,
    allow_fewer: Annotated[
        bool, typer.Option("--allow-fewer", help="Accept fewer images than --num (recorded).")
    ] = False,
    meta: Annotated[
        str | None,
        typer.Option(
            "--meta", metavar="K=V,...", help="Sampler settings to record, e.g. steps=250,cfg=1.5."
        ),
    ] = None,
    sample_record: Annotated[
        Path | None,
        typer.Option(
            "--sample-record",
            metavar="PATH",
            help="Sampling record (default: <samples>.npz.json if present).",
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            metavar="NAME",
            help="Model that made the samples, when no sampling record names it (puts the "
            "result in the report's rows).",
        ),
    ] = None,
    training_steps: Annotated[
        int | None,
        typer.Option(
            "--training-steps",
            metavar="N",
            min=0,
            help="Training iterations of the checkpoint (e.g. 400000: the report's 400K row).",
        ),
    ] = None,
    inception: Annotated[
        Path | None,
        typer.Option(
            "--inception",
            metavar="PB",
            envvar="FCDMBENCH_INCEPTION",
            help="classify_image_graph_def.pb",
        ),
    ] = None,
    reference_dir: Annotated[
        Path | None,
        typer.Option(
            "--reference-dir",
            metavar="DIR",
            envvar="FCDMBENCH_REFERENCE_DIR",
            help="Folder of the reference files (default: CACHE/reference).",
        ),
    ] = None,
    cache_dir: Annotated[
        Path | None,
        typer.Option(
            "--cache-dir",
            metavar="DIR",
            envvar="FCDMBENCH_CACHE",
            help="Cache root, CACHE (default: the user cache folder, ~/.cache/fcdmbench on Linux).",
        ),
    ] = None,
    sqrtm: Annotated[
        str,
        typer.Option(
            "--sqrtm",
            help="adm: scipy sqrtm, bit-identical to ADM (default). eigh: two symmetric "
            "eigendecompositions, within ~1e-13 of ADM and several times faster; adm is used "
            "instead where fewer images than feature dimensions make a covariance singular. "
            "Recorded in the result.",
        ),
    ] = "adm",
    distance: Annotated[
        str,
        typer.Option(
            "--distance",
            help="adm: ADM's float16 ops, bit-identical (default). adm-graph: ADM's whole "
            "TensorFlow graph (the reference; slower). torch: GPU float16, labelled, not exact.",
        ),
    ] = "adm",
    backend: Annotated[
        InceptionBackend,
        typer.Option(
            "--backend",
            help="torch: ADM's graph file run by fcdmbench's PyTorch interpreter (default; no "
            "TensorFlow). tensorflow: the graph in TensorFlow, as ADM runs it (extra eval-tf). "
            "Recorded.",
        ),
    ] = InceptionBackend.TORCH,
    device: Annotated[
        EvalDevice,
        typer.Option(
            "--device",
            help="Where the torch backend runs (cuda: TF32 off, deterministic kernels). Under "
            "torchrun each rank extracts its share.",
        ),
    ] = EvalDevice.CPU,
    cross_check: Annotated[
        bool,
        typer.Option(
            "--cross-check",
            help="Run both backends on the first 1,000 images and print how far apart their "
            "features and metrics are (needs TensorFlow; computes no reference metrics). "
            "Record: SAMPLES.cross-check.json or --json.",
        ),
    ] = False,
    metrics: Annotated[
        str,
        typer.Option(
            "--metrics",
            metavar="LIST",
            help="Comma list of fid, sfid, is, pr, fd_dinov2; 'adm' (ADM's five, the default) or "
            "'all' (adds fd_dinov2). ADM's five share one Inception pass, computed together.",
        ),
    ] = "adm",
    dinov2: Annotated[
        Path | None,
        typer.Option(
            "--dinov2",
            metavar="PTH",
            envvar="FCDMBENCH_DINOV2",
            help="DINOv2 ViT-L/14 weights, dinov2_vitl14_pretrain.pth (default: the reference "
            "folder; `fcdmbench reference fetch dinov2`).",
        ),
    ] = None,
    dinov2_resize: Annotated[
        str,
        typer.Option(
            "--dinov2-resize",
            help="torch: antialiased bicubic interpolate (edm2's default, fast). pil: PIL bicubic, "
            "as dgm-eval (slow).",
        ),
    ] = "torch",
    dinov2_ref: Annotated[
        Path | None,
        typer.Option(
            "--dinov2-ref",
            metavar="PKL|NPZ",
            help="FD-DINOv2 reference only: an edm2 reference .pkl (read as arrays only) or an npz "
            "of images (default: the images of --ref).",
        ),
    ] = None,
) -> None:
    """Compute FID, sFID, IS, precision and recall as ADM does.

    With --metrics all (or fd_dinov2) it also computes FD-DINOv2 (DINOv2 ViT-L/14, as EDM2).

    Offline, it names every missing reference file and where to place it, in one run; the
    result is written as a record (default: SAMPLES.eval.json).

    Example: fcdmbench eval samples.npz --ref imagenet256 --meta steps=250,cfg=1.5
    Example: fcdmbench eval samples.npz --metrics all --dinov2 dinov2_vitl14_pretrain.pth
    """
    if cross_check:
        _cross_check(samples, inception, reference_dir, cache_dir, batch_size, device, json_path)
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from fcdmbench.cli.output import stderr
    from fcdmbench.evaluation.config import EvalConfig
    from fcdmbench.evaluation.dinov2.fd_dinov2 import parse_metrics
    from fcdmbench.evaluation.dinov2.network import ResizeMode
    from fcdmbench.evaluation.distance import DistanceBackend
    from fcdmbench.evaluation.evaluate import evaluate
    from fcdmbench.evaluation.metrics import SqrtmMethod
    from fcdmbench.preflight.evaluation import preflight_eval

    try:
        sqrtm_method, distance_kernel = SqrtmMethod(sqrtm), DistanceBackend(distance)
        resize = ResizeMode(dinov2_resize)
    except ValueError as exc:
        hint = "--sqrtm adm|eigh, --distance adm|adm-graph|torch, --dinov2-resize torch|pil"
        raise ConfigError(str(exc), hint=hint) from None
    config = EvalConfig(
        samples=samples,
        ref=ref,
        num=num,
        allow_fewer=allow_fewer,
        batch_size=batch_size,
        sqrtm=sqrtm_method,
        distance=distance_kernel,
        inception_path=inception,
        reference_dir=reference_dir,
        cache_dir=cache_dir,
        sample_record=sample_record,
        model=model,
        training_steps=training_steps,
        meta=parse_meta(meta),
        backend=backend,
        device=device,
        metrics=parse_metrics(metrics),
        dinov2_path=dinov2,
        dinov2_resize=resize,
        dinov2_ref=dinov2_ref,
    )
    record_path = json_path or samples.with_name(samples.stem + ".eval.json")
    if not any(m.is_adm for m in config.metrics):  # FD-DINOv2 alone: no Inception, no TF
        from fcdmbench.evaluation.dinov2.fd_eval import evaluate_fd_dinov2_only, preflight_fd_only

        preflight_fd_only(config, outputs=[record_path])
        _write_and_show(evaluate_fd_dinov2_only(config), record_path)
        return
    preflight_eval(config, outputs=[record_path])  # all problems at once, before any hashing

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TimeRemainingColumn(),
        console=stderr,
        transient=True,
    ) as progress:
        record = evaluate(config, on_progress=_progress_fn(progress))
    if record is not None:  # None: a torchrun rank other than 0, whose share rank 0 gathered
        _write_and_show(record, record_path)


def _progress_fn(progress):
    """``(stage, done, total)`` -> one bar per stage; nothing on torchrun ranks other than 0."""
    import os

    if os.environ.get("RANK", "0") != "0":
        return None
    tasks: dict[str, int] = {}

    def on_progress(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = progress.add_task(stage, total=total)
        progress.update(tasks[stage], completed=done, total=total)

    return on_progress


def _cross_check(samples, inception, reference_dir, cache_dir, batch_size, device, json_path):
    """``eval --cross-check``: both backends on the first images, differences printed."""
    from rich.progress import Progress

    from fcdmbench.cli.output import stderr
    from fcdmbench.evaluation.inception.cross_check import cross_check
    from fcdmbench.preflight.evaluation import preflight_cross_check

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
    from rich.table import Table

    from fcdmbench.cli.output import print_table, stderr
    from fcdmbench.records.io import write_record

    write_record(path, record)
    table = Table(title=f"torch vs tensorflow backend, {record.num_images:,} images")
    for column in ("output / metric", "torch", "tensorflow", "max abs diff", "rel diff", "ok"):
        table.add_column(column, justify="right")
    for out in record.outputs:
        table.add_row(out.name, "", "", f"{out.max_abs:.3g}", f"{out.max_rel:.3g}", _ok(out))
    for m in record.metrics:
        diff = abs(m.torch - m.tensorflow)
        table.add_row(
            m.name,
            f"{m.torch:.6f}",
            f"{m.tensorflow:.6f}",
            f"{diff:.3g}",
            f"{m.rel_diff:.3g}",
            _ok(m),
        )
    print_table(table)
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
    from rich.table import Table

    from fcdmbench.cli.output import fmt, print_table, stderr
    from fcdmbench.records.io import write_record

    write_record(path, record)
    if record.fid is None and record.fd_dinov2 is not None:  # FD-DINOv2 alone
        _show_fd_dinov2(record)
        stderr.print(f"record: {path}")
        return
    table = Table(
        title=f"ADM metrics, {record.num_samples:,} samples vs {record.num_ref:,} reference"
        + (f" ({record.model})" if record.model else "")
    )
    for column in ("Inception Score", "FID", "sFID", "Precision", "Recall"):
        table.add_column(column, justify="right")
    table.add_row(
        *(
            fmt(v, 4)
            for v in (
                record.inception_score,
                record.fid,
                record.sfid,
                record.precision,
                record.recall,
            )
        )
    )
    print_table(table)
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
