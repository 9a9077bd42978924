"""`fcdmbench memory`: training or sampling memory per GPU, measured on the meta device."""

from __future__ import annotations

from typing import Annotated

import typer

from fcdmbench.cli.options import Models, RecordJson, Resolution
from fcdmbench.cli.output import Column, emit_record, left, show_table, stderr, stdout
from fcdmbench.throughput.workloads import Mode

MemoryJson = RecordJson("memory/2")
GradCheckpointing = Annotated[
    bool,
    typer.Option(
        "--grad-checkpointing",
        help="Train: checkpoint every block (FCDM: its upstream per-block checkpointing; "
        "others: each block of their block lists, applied by fcdmbench).",
    ),
]
Card = Annotated[
    str | None,
    typer.Option(
        "--card", "--gpu", help="Device table key to check the fit (rtx-4090, h100-sxm, ...)."
    ),
]
Attention = Annotated[
    str,
    typer.Option(help="fused: SDPA saves what a fused kernel saves; unfused: the math path."),
]


def register(app: typer.Typer) -> None:
    app.command("memory")(memory_command)


def memory_command(
    models: Models = None,
    mode: Annotated[
        Mode, typer.Option(help="train: fwd + bwd + AdamW; infer: one sampling forward.")
    ] = Mode.TRAIN,
    batch: Annotated[
        int, typer.Option("--batch", "-b", min=1, help="Global batch (train) or images per call.")
    ] = 256,
    gpus: Annotated[int, typer.Option(min=1, help="Data-parallel GPUs (batch / gpus each).")] = 1,
    resolution: Resolution = 256,
    grad_checkpointing: GradCheckpointing = False,
    card: Card = None,
    ema: Annotated[
        bool, typer.Option("--ema/--no-ema", help="Train: an EMA copy of the weights per GPU.")
    ] = True,
    cfg: Annotated[bool, typer.Option("--cfg", help="Infer: CFG doubles the rows.")] = False,
    attention: Attention = "fused",
    json_path: MemoryJson = None,
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
    from fcdmbench.perfmodel.memory import measure_memory
    from fcdmbench.preflight import Preflight, check_record_outputs
    from fcdmbench.records.memory import MemoryConfig
    from fcdmbench.registry import require_models

    pf = Preflight()  # every problem at once, before anything is measured; creates nothing
    selected = pf.check(select_models, models or [])
    if selected is not None:
        pf.check(require_models, selected)
    config = pf.check(
        MemoryConfig,
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
    check_record_outputs(pf, json_path, None)
    pf.raise_all()
    record = measure_memory(selected, config, progress=lambda m: stderr.print(m, style="dim"))
    if emit_record(record, json_path):
        return
    _print(record)


def _gib(value: float) -> str:
    from fcdmbench.records.memory import GIB

    return f"{value / GIB:.2f}"


def _columns(is_train: bool, card) -> list[Column]:
    columns = [
        left("model", lambda r: r.display_name),
        left("checkpointing", lambda r: r.checkpointing),
        Column("params", lambda r: _gib(r.step.param_bytes)),
    ]
    if is_train:
        columns += [
            Column("EMA*", lambda r: _gib(r.ema_bytes)),
            Column("grads", lambda r: _gib(r.step.grad_bytes)),
            Column("AdamW", lambda r: _gib(r.step.optimizer_bytes)),
            Column("saved act.", lambda r: _gib(r.step.saved_bytes)),
            Column("step peak", lambda r: _gib(r.step.peak_step)),
            Column("DDP buckets*", lambda r: _gib(r.ddp_bucket_bytes)),
        ]
    else:
        columns += [Column("forward peak", lambda r: _gib(r.step.peak_step))]
    columns += [Column("total", lambda r: _gib(r.total_bytes))]
    if card is not None:
        fits = f"fits {card.key} ({card.memory_gib:g} GiB)"
        columns += [Column(fits, lambda r: f"{'yes' if r.fits else 'no'} ({r.headroom_gib:+.1f})")]
    return columns


def _print(record) -> None:
    from fcdmbench.records.memory import GIB

    reports, config = record.results, record.config
    is_train = config.is_train
    stdout.print(f"[bold]{record.label}[/]")
    rows = f"{config.rows_per_gpu} rows per GPU" + (" (CFG: 2 per image)" if config.cfg else "")
    stdout.print(
        f"{config.mode.value}, batch {config.batch} over {config.gpus} GPU(s) = {rows}, "
        f"{config.resolution} px, fp32 weights (the paper trains in fp32), GiB = 2^30 bytes"
    )
    card = reports[0].card if reports else None
    show_table(_columns(is_train, card), reports, "memory per GPU (GiB)")
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
