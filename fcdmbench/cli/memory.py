"""`fcdmbench memory`: training or sampling memory per GPU, measured on the meta device."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fcdmbench.cli.output import emit_record, print_table, stderr, stdout
from fcdmbench.throughput.workloads import Mode


def register(app: typer.Typer) -> None:
    app.command("memory")(memory_command)


def memory_command(
    models: Annotated[
        list[str] | None,
        typer.Option(
            "--models", "-m", help="Models: --models fcdm-xl dit-xl-2; commas, wildcards work."
        ),
    ] = None,
    mode: Annotated[
        Mode, typer.Option(help="train: fwd + bwd + AdamW; infer: one sampling forward.")
    ] = Mode.TRAIN,
    batch: Annotated[
        int, typer.Option("--batch", "-b", min=1, help="Global batch (train) or images per call.")
    ] = 256,
    gpus: Annotated[int, typer.Option(min=1, help="Data-parallel GPUs (batch / gpus each).")] = 1,
    resolution: Annotated[
        int, typer.Option("--resolution", "-r", min=8, help="Image side in pixels.")
    ] = 256,
    grad_checkpointing: Annotated[
        bool,
        typer.Option(
            "--grad-checkpointing",
            help="Train: checkpoint every block (FCDM: its upstream per-block checkpointing; "
            "others: each block of their block lists, applied by fcdmbench).",
        ),
    ] = False,
    card: Annotated[
        str | None,
        typer.Option(
            "--card", "--gpu", help="Device table key to check the fit (rtx-4090, h100-sxm, ...)."
        ),
    ] = None,
    ema: Annotated[
        bool, typer.Option("--ema/--no-ema", help="Train: an EMA copy of the weights per GPU.")
    ] = True,
    cfg: Annotated[bool, typer.Option("--cfg", help="Infer: CFG doubles the rows.")] = False,
    attention: Annotated[
        str,
        typer.Option(help="fused: SDPA saves what a fused kernel saves; unfused: the math path."),
    ] = "fused",
    json_path: Annotated[
        Path | None,
        typer.Option(
            "--json", metavar="PATH", help="Write a fcdmbench.memory/2 record ('-': stdout)."
        ),
    ] = None,
) -> None:
    """Predict memory per GPU and whether it fits a card (a model).

    Training (fwd + bwd + AdamW, EMA, DDP buckets) or sampling, per GPU at batch / gpus.

    Saved activations and the step's peak are measured on a meta-device training step
    (saved-tensor hooks, storage tracker); EMA weights and DDP buckets are modelled.

    Example: fcdmbench memory --models fcdm-xl --batch 256 --gpus 4 --grad-checkpointing
    """
    from fcdmbench.cli.selection import select_models
    from fcdmbench.devices import get_device
    from fcdmbench.errors import ConfigError
    from fcdmbench.files import check_output
    from fcdmbench.perfmodel.memory import MemoryConfig, measure_memory
    from fcdmbench.preflight.checks import Preflight
    from fcdmbench.registry import require_models

    pf = Preflight()  # every problem at once, before anything is measured; creates nothing
    selected = pf.check(select_models, models or [])
    if selected is not None:
        pf.check(require_models, selected)
    config = pf.check(
        MemoryConfig,
        # the other settings are checked even when the model names failed (reported above)
        models=tuple(selected) if selected else ("fcdm-s",),
        mode=mode,
        batch=batch,
        gpus=gpus,
        resolution=resolution,
        grad_checkpointing=grad_checkpointing,
        card=card,
        ema=ema,
        cfg=cfg,
        attention=attention,
    )
    if card is not None:
        device = pf.check(get_device, card)
        if device is not None and device.memory_gib is None:
            pf.add(
                ConfigError(
                    f"device {device.key} has no memory figure in the device table",
                    hint="choose a card with one, e.g. rtx-4090, a100-80gb-sxm, h100-sxm",
                )
            )
    if json_path is not None and str(json_path) != "-":
        pf.check(check_output, json_path)
    pf.raise_all()
    record = measure_memory(config, progress=lambda m: stderr.print(m, style="dim"))
    if emit_record(record, json_path):
        return
    _print(record)


def _print(record) -> None:
    from rich.table import Table

    from fcdmbench.records.memory import GIB

    reports, config = record.results, record.config
    is_train = config.is_train
    stdout.print(f"[bold]{record.label}[/]")
    rows = f"{config.rows_per_gpu} rows per GPU" + (" (CFG: 2 per image)" if config.cfg else "")
    stdout.print(
        f"{config.mode}, batch {config.batch} over {config.gpus} GPU(s) = {rows}, "
        f"{config.resolution} px, fp32 weights (the paper trains in fp32), GiB = 2^30 bytes"
    )
    table = Table(title="memory per GPU (GiB)")
    columns = ["model", "checkpointing", "params"]
    if is_train:
        columns += ["EMA*", "grads", "AdamW", "saved act.", "step peak", "DDP buckets*"]
    else:
        columns += ["forward peak"]
    columns += ["total"]
    card = reports[0].card if reports else None
    if card is not None:
        columns += [f"fits {card.key} ({card.memory_gib:g} GiB)"]
    for header in columns:
        table.add_column(
            header, justify="left" if header in ("model", "checkpointing") else "right"
        )
    for r in reports:
        s = r.step
        cells = [r.display_name, r.checkpointing, f"{s.param_bytes / GIB:.2f}"]
        if is_train:
            cells += [
                f"{r.ema_bytes / GIB:.2f}",
                f"{s.grad_bytes / GIB:.2f}",
                f"{s.optimizer_bytes / GIB:.2f}",
                f"{s.saved_bytes / GIB:.2f}",
                f"{s.peak_step / GIB:.2f}",
                f"{r.ddp_bucket_bytes / GIB:.2f}",
            ]
        else:
            cells += [f"{s.peak_step / GIB:.2f}"]
        cells += [f"{r.total_bytes / GIB:.2f}"]
        if card is not None:
            cells += [f"{'yes' if r.fits else 'no'} ({r.headroom_gib:+.1f})"]
        table.add_row(*cells)
    print_table(table)
    if is_train:
        stdout.print(
            "total = params + EMA + AdamW state + step peak (activations, gradients, "
            "recomputation, optimizer temporaries) + DDP buckets. * modelled, not measured: "
            "EMA = one fp32 copy of the weights (DiT train.py keeps it per GPU); DDP buckets = "
            "one copy of the gradients (gradient_as_bucket_view=False, PyTorch's default), "
            "with > 1 GPU."
        )
        for r in reports:
            s = r.step
            stdout.print(
                f"{r.display_name}: {s.saved_tensors} tensors saved for backward in "
                f"{s.saved_storages} storages ({s.saved_bytes_undeduplicated / GIB:.2f} GiB if "
                f"counted one by one, {s.saved_bytes / GIB:.2f} GiB deduplicated); held when "
                f"backward starts {s.held_after_forward / GIB:.2f} GiB"
            )
    stdout.print(
        "not included: "
        + ", ".join(record.not_included)
        + ("; a fit with little headroom may still fail" if card is not None else "")
        + "."
    )
