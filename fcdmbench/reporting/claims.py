"""The seed paper's efficiency claims, checked against fcdmbench's models (roofline and memory).

Three claims, each beside the model's answer, every model figure marked "model" with its
assumptions in the table notes (nothing here is a measurement):

1. FCDM-XL runs 3.55x as many images/s as DiT-XL/2 (272.7 vs 76.9 it/s, Table 2; GPU and
   precision not stated): the ratio of roofline upper bounds per setting (the audit's: the
   paper's stated setting, each model's authors' flags, fp32-strict, tf32, bf16) on A100 and H100.
2. When resolution doubles, FCDM's throughput halves and DiT's quarters (Table 4: 272.7 -> 129.6
   and 76.9 -> 18.6 it/s): the model's 256 -> 512 drop per model and setting.
3. FCDM-XL trains at batch 256 on 4 RTX 4090 24 GB with gradient checkpointing (App. B), and at
   512 px on 4 H100 80 GB: the memory model's per-GPU total against the card.
4. It trains there at about 0.9 and 0.7 steps/s, and DiT's repository and issues publish DiT-XL/2
   training speeds (`fcdmbench.published.TRAINING_SPEEDS`): each against the training-step
   roofline (`fcdmbench.perfmodel.train_roofline`) in its own setup, per precision mode.

The bounds are the audit's (`fcdmbench.perfmodel.audit.bounds_of`, the same pricing as
``fcdmbench audit``). `report_audit` audits Tables 2 and 4 for the report, whose published
throughput bars carry their bounds (`published_bounds`). The training speeds are priced by
`fcdmbench.perfmodel.train_roofline` (seven XL training traces). Built only when the report counts
on the meta device (it needs torch); the traces are cached (`fcdmbench.perfmodel.trace_cache`).
"""

from __future__ import annotations

import re
from typing import Any

from fcdmbench.perfmodel.audit_readings import SETTINGS
from fcdmbench.precision import Precision
from fcdmbench.published import TRAINING_SPEEDS
from fcdmbench.reporting.tables import Column, ReportTable

__all__ = [
    "build_claim_tables",
    "claim_tables",
    "published_bounds",
    "report_audit",
    "training_bounds",
    "training_speed_table",
]

FCDM, DIT = "fcdm-xl", "dit-xl-2"
DEVICES = ("a100-80gb-sxm", "h100-sxm")
BATCH = 64  # the paper's throughput batch (DiT's sampling configuration)
MODEL = "model"
#: The tables whose throughput bars the report draws (256 px, 512 px).
REPORT_TABLES = ("table2", "table4")
ROOFLINE_NOTE = (
    "model = roofline upper bound (fcdmbench roofline / audit): each kernel at max(FLOPs / unit "
    "peak, unfused bytes / bandwidth), no launch overhead, no overlap, no reuse between kernels; "
    "attention and DiG's linear attention priced as the kernels that run them; dense peaks and "
    "bandwidth from fcdmbench/devices.toml; batch 64."
)
UNITS_NOTE = (
    "settings (docs/perfmodel.md): paper = PyTorch's defaults (convolutions on TF32 tensor cores, "
    "matmuls IEEE fp32) with FlashAttention-2 in DiT and flash-linear-attention in DiG, as the "
    "paper states; authors = each repository's sampling-script flags; bf16 = CUDA autocast "
    "replayed on the meta device."
)


def _published(model: str, resolution: int) -> float | None:
    from fcdmbench.registry import get_spec

    return get_spec(model).published_value("throughput_it_s", resolution)


def _bounds(resolutions: tuple[int, ...]) -> dict[tuple, float]:
    """Roofline bound (img/s) per (model, resolution, device, setting), priced as the audit
    prices a figure."""
    from fcdmbench.perfmodel.audit import bounds_of

    bounds = {}
    for model in (FCDM, DIT):
        for resolution in resolutions:
            for b in bounds_of(model, resolution, DEVICES, SETTINGS, BATCH):
                bounds[(model, resolution, b.device, b.setting)] = b.img_per_s
    return bounds


def _ratio_table(bounds: dict) -> ReportTable:
    published = (_published(FCDM, 256) or 0) / (_published(DIT, 256) or 1)
    rows = []
    for device in DEVICES:
        for setting in SETTINGS:
            fcdm = bounds[(FCDM, 256, device, setting)]
            dit = bounds[(DIT, 256, device, setting)]
            rows.append(
                (
                    device,
                    setting,
                    round(fcdm, 1),
                    round(dit, 1),
                    round(fcdm / dit, 2),
                    round(published, 2),
                    MODEL,
                )
            )
    return ReportTable(
        "claim_throughput_ratio",
        "Claim: FCDM-XL runs 3.55x the images/s of DiT-XL/2 (256 px) - model check",
        (
            Column("device", "Device"),
            Column("setting", "Setting"),
            Column("fcdm_bound", "FCDM-XL bound (img/s)"),
            Column("dit_bound", "DiT-XL/2 bound (img/s)"),
            Column("bound_ratio", "Bound ratio"),
            Column("paper_ratio", "Paper ratio (272.7 / 76.9)"),
            Column("kind", "Kind"),
        ),
        tuple(rows),
        (
            ROOFLINE_NOTE,
            UNITS_NOTE,
            "Paper: FCDM arXiv 2603.09408 Table 2 (GPU and precision not stated per row).",
            "A bound ratio near 3.55 says the paper's ratio is reachable under that mode only if "
            "both implementations come equally close to their bounds; it is not a prediction of "
            "measured throughput.",
        ),
    )


def _scaling_table(bounds: dict) -> ReportTable:
    rows = []
    for model, label in ((FCDM, "FCDM-XL"), (DIT, "DiT-XL/2")):
        p256, p512 = _published(model, 256), _published(model, 512)
        paper = round(p256 / p512, 2) if p256 and p512 else None
        for device in DEVICES:
            for setting in SETTINGS:
                drop = bounds[(model, 256, device, setting)] / bounds[(model, 512, device, setting)]
                rows.append((label, device, setting, round(drop, 2), paper, MODEL))
    return ReportTable(
        "claim_resolution_scaling",
        "Claim: doubling the resolution halves FCDM's throughput and quarters DiT's - model check",
        (
            Column("model", "Model"),
            Column("device", "Device"),
            Column("setting", "Setting"),
            Column("model_drop", "Bound 256 px / 512 px"),
            Column("paper_drop", "Paper 256 / 512"),
            Column("kind", "Kind"),
        ),
        tuple(rows),
        (
            ROOFLINE_NOTE,
            "Paper: Table 2 (256 px) and Table 4 (512 px) throughput, it/s. The paper's own "
            "Table 4 FLOPs for FCDM-XL quadruple (64.6 -> 257.7 G), so a 2x drop in throughput "
            "needs twice the achieved FLOP/s at 512 px.",
            "4x the latent pixels: convolutions cost 4x; DiT's token count grows 4x, so its "
            "attention grows 16x (but is a small share of its FLOPs at 256 tokens).",
        ),
    )


def _memory_table() -> ReportTable:
    from fcdmbench.perfmodel.memory import GIB, measure_memory
    from fcdmbench.records.memory import MemoryConfig

    cases = (
        ("rtx-4090", 256, True),
        ("rtx-4090", 256, False),
        ("h100-sxm", 512, True),
        ("h100-sxm", 512, False),
    )
    rows = []
    for card, resolution, checkpointing in cases:
        config = MemoryConfig(
            batch=256,
            gpus=4,
            resolution=resolution,
            grad_checkpointing=checkpointing,
            card=card,
        )
        (report,) = measure_memory((FCDM,), config).results
        total = report.total_bytes / GIB
        rows.append(
            (
                f"{resolution} px, 4 x {card}",
                "on" if checkpointing else "off",
                round(report.step.saved_bytes / GIB, 2),
                round(total, 2),
                report.card.memory_gib,
                "yes" if report.fits else "no",
                "paper: yes" if checkpointing else "not claimed",
                MODEL,
            )
        )
    return ReportTable(
        "claim_training_memory",
        "Claim: FCDM-XL trains at batch 256 on 4 x RTX 4090 24 GB (512 px: 4 x H100 80 GB) "
        "with gradient checkpointing - model check",
        (
            Column("setup", "Setup"),
            Column("checkpointing", "Checkpointing"),
            Column("saved_gib", "Saved activations (GiB/GPU)"),
            Column("total_gib", "Total (GiB/GPU)"),
            Column("card_gib", "Card (GiB)"),
            Column("fits", "Fits"),
            Column("paper", "Paper"),
            Column("kind", "Kind"),
        ),
        tuple(rows),
        (
            "model = fcdmbench memory: one fp32 training step (forward, MSE loss, backward, AdamW "
            "foreach) measured on the meta device at 64 rows per GPU (saved activations by "
            "saved-tensor hooks; step peak by a storage tracker), plus fp32 weights, AdamW state, "
            "an EMA copy and DDP gradient buckets (the last two modelled).",
            "Not included: CUDA context, cuDNN/cuBLAS workspaces, allocator fragmentation, the "
            "VAE (latents assumed precomputed); a fit with a GiB or two of headroom may fail.",
            "Paper: App. B ('4 RTX 4090 24GB GPUs ... about 0.9 steps/s (with gradient "
            "checkpointing) for FCDM-XL at a batch size of 256'; 512 px on 4 H100 80GB) and "
            "Table 6 (fp32 training).",
        ),
    )


#: Precision modes every published training speed is priced under (plus the mixed precision
#: its source names, if any).
TRAIN_PRECISIONS = (Precision.FP32_STRICT, Precision.PAPER_DEFAULT, Precision.TF32)
TRAIN_NOTE = (
    "model = fcdmbench train-roofline: one GPU's step (forward, loss, backward with "
    "checkpointing's recomputation, AdamW foreach, EMA) traced on the meta device and priced per "
    "operator as the inference roofline prices it, plus DDP's bucket copies and a ring "
    "all-reduce of the gradients (2(N-1)/N x their bytes over NVLink, or PCIe where the card has "
    "none) overlapping backward. An upper bound: a published figure above it is impossible in "
    "that mode."
)


def _training_modes(row: Any) -> tuple[Precision, ...]:
    mixed = tuple(p for p in (Precision.BF16, Precision.FP16) if p.value in row.precision)
    return TRAIN_PRECISIONS + mixed


def training_bounds(speeds: tuple = TRAINING_SPEEDS) -> list[tuple[Any, Any]]:
    """(published speed, `fcdmbench.records.TrainResult`) per published training speed and
    precision mode, from the training roofline's own functions; one trace per setup and dtype
    (`fcdmbench.perfmodel.trace_cache`)."""
    from fcdmbench.perfmodel.roofline import roofline_device
    from fcdmbench.perfmodel.trace_cache import cached_train_trace
    from fcdmbench.perfmodel.train_roofline import price_train_step
    from fcdmbench.registry import resolve

    pairs = []
    for row in speeds:
        spec, tag = resolve(row.model)
        device = roofline_device(row.device)
        per_node, nodes, link, network = _cluster(row)
        for precision in _training_modes(row):
            autocast = {Precision.BF16: "bfloat16", Precision.FP16: "float16"}.get(precision)
            rows = row.global_batch // row.gpus
            trace = cached_train_trace(spec.name, tag or row.resolution, rows, autocast,
                                       grad_checkpointing=row.grad_checkpointing)  # fmt: skip
            cluster = (per_node, link, None, nodes, network)
            pairs.append((row, price_train_step(trace, device, precision, *cluster)))
    return pairs


def _cluster(row: Any) -> tuple[int, int, Any, Any]:
    """(GPUs per node, nodes, link, fabric) of a published setup: more GPUs of a DGX card than
    its board holds are full nodes joined by the fabric."""
    from fcdmbench.devices import get_device
    from fcdmbench.perfmodel.train_roofline import fabric, interconnect

    spec = get_device(row.device)
    board = spec.nvlink_gpus or row.gpus
    per_node = board if spec.fabric_figure is not None and row.gpus > board else row.gpus
    nodes = row.gpus // per_node
    link = interconnect(row.device, per_node) if per_node > 1 else None
    return per_node, nodes, link, fabric(row.device) if nodes > 1 else None


def ran_in(row: Any, precision: str) -> bool:
    """Whether published speed `row` ran in precision mode `precision`: its stated mode, or,
    where the sources name several (free text), each mode they name."""
    stated = row.precision.lower()
    named = stated not in {p.value for p in Precision} and re.search(rf"\b{precision}\b", stated)
    return stated == precision or bool(named)


def training_speed_table(pairs: list[tuple[Any, Any]]) -> ReportTable:
    """Published training speeds beside their bounds (`training_bounds`, or the results of
    ``fcdmbench train-roofline --json`` with their matching published speeds)."""
    rows, muted = [], []
    for row, result in pairs:
        setup = (
            f"{result.display_name}, {row.gpus} x {row.device}, batch {row.global_batch}, "
            f"{row.resolution} px, checkpointing {'on' if row.grad_checkpointing else 'off'}"
        )
        link = result.allreduce.link if result.allreduce else "-"
        as_run = ran_in(row, result.precision)
        muted.append(not as_run)
        rows.append(
            (
                setup,
                result.precision,
                "yes" if as_run else "-",
                round(result.steps_per_s, 3),
                row.steps_per_s,
                round(row.steps_per_s / result.steps_per_s, 2),
                link,
                MODEL,
            )
        )
    sources = sorted({f"{row.model} {row.steps_per_s} steps/s: {row.source}" for row, _ in pairs})
    settings = sorted({f"{row.model} {row.steps_per_s} steps/s: {row.setting}" for row, _ in pairs})
    return ReportTable(
        "claim_training_speed",
        "Claim: published training speeds (FCDM-XL 0.9 steps/s on 4 x RTX 4090, 0.7 steps/s on "
        "4 x H100 at 512 px; DiT-XL/2 from its repository) - model check",
        (
            Column("setup", "Published setup"),
            Column("precision", "Precision"),
            Column("as_run", "Ran in"),
            Column("bound_steps_s", "Bound (steps/s)"),
            Column("published_steps_s", "Published (steps/s)"),
            Column("published_over_bound", "Published / bound"),
            Column("link", "All-reduce link"),
            Column("kind", "Kind"),
        ),
        tuple(rows),
        (
            TRAIN_NOTE,
            UNITS_NOTE,
            "Precision as the sources state it: "
            + "; ".join(sorted({f"{row.model}: {row.precision}" for row, _ in pairs})),
            "What a published figure includes that the bound leaves out: " + "; ".join(settings),
            "Sources: " + "; ".join(sources),
            "Ran in: yes where the sources say the figure ran in that precision (the HTML "
            "report greys out the other rows, printed for comparison only).",
        ),
        tuple(muted),
    )


def build_claim_tables() -> list[ReportTable]:
    """The four claim tables (needs torch; traces on the meta device)."""
    bounds = _bounds((256, 512))
    return [
        _ratio_table(bounds),
        _scaling_table(bounds),
        _memory_table(),
        training_speed_table(training_bounds(TRAINING_SPEEDS)),
    ]


def claim_tables(use_meta: bool) -> list[ReportTable]:
    """The report's hook: the claim tables when the report counts on the meta device."""
    return build_claim_tables() if use_meta else []


def report_audit(use_meta: bool) -> Any:
    """The audit of Tables 2 and 4 (`fcdmbench.records.audit.AuditRecord`) when the report counts
    on the meta device, else None."""
    if not use_meta:
        return None
    from fcdmbench.perfmodel.audit import AuditConfig, run_audit

    return run_audit(AuditConfig(tables=REPORT_TABLES, batch=BATCH))


def published_bounds(audit: Any) -> dict[tuple[str, int], tuple[float, str]]:
    """(model, resolution) -> (bound img/s, where) for every published throughput bar: the bound
    on its table's most plausible device under that table's most plausible setting."""
    if audit is None:
        return {}
    out = {}
    for plausible in audit.plausible:
        where = f"{plausible.device}, {plausible.setting} setting"
        for f in audit.figures:
            bound = f.bound(plausible.device, plausible.setting) if f.modelled else None
            if f.table == plausible.table and bound is not None and bound.img_per_s:
                out.setdefault((f.model, f.resolution), (bound.img_per_s, where))
    return out
