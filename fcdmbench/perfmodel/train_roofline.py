"""Training-step roofline: a predicted upper bound of optimizer steps/s for data-parallel training.

One GPU's share of a step (``batch / gpus`` rows) is traced on the meta device
(`fcdmbench.perfmodel.op_trace.trace_train_step`, kept by `fcdmbench.perfmodel.trace_cache`:
forward, loss, the real autograd backward with
gradient checkpointing's recomputation, AdamW foreach, EMA) and every call is priced by the
inference roofline's own `fcdmbench.perfmodel.roofline.predict` (so its units and kernel choices
apply unchanged), phase by phase. DDP adds, per GPU:

- its bucket copies: gradients copied into buckets, divided by the GPU count and copied back
  (PyTorch's default ``gradient_as_bucket_view=False``): 6 x the gradient bytes at memory
  bandwidth;
- the gradient all-reduce as a ring: every GPU sends and receives ``2 (N - 1) / N`` x the
  gradient bytes, at the link's per-direction bandwidth (`interconnect`: NVLink where the card
  has one joining a node's GPUs, else PCIe; the RTX 4090 and L40S have no NVLink). Over several
  nodes (`allreduce_cost`) the faster of NCCL's ring over every GPU and the hierarchical
  all-reduce, NVLink inside each node and the DGX system's network adapters between nodes
  (`fabric`).

DDP starts a bucket's all-reduce as soon as its gradients are ready, so it overlaps backward: the
bound's step time is ``forward + max(backward + recompute, all-reduce) + DDP copies + optimizer
+ EMA`` (``serial_time_s`` adds the all-reduce instead). Everything is a model, labelled so;
`fcdmbench.records.roofline.TRAIN_ASSUMPTIONS` lists what it leaves out.

`run_train_roofline` returns the complete record (`fcdmbench.records.TrainRooflineRecord`,
schema ``fcdmbench.roofline-train/2``); ``fcdmbench train-roofline`` renders it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fcdmbench.errors import ConfigError
from fcdmbench.precision import Precision
from fcdmbench.records.roofline import (
    AllReduce,
    Kernels,
    RooflineDevice,
    TrainConfig,
    TrainPhase,
    TrainResult,
    TrainRooflineRecord,
)

__all__ = [
    "DDP_COPY_FACTOR",
    "AllReduceCost",
    "allreduce_cost",
    "fabric",
    "interconnect",
    "price_train_step",
    "published_speeds",
    "run_train_roofline",
]

#: DDP's bucket traffic per step in gradient bytes: copy in (read + write), divide (read +
#: write), copy out (read + write).
DDP_COPY_FACTOR = 6


def interconnect(device_key: str, gpus: int) -> tuple[str, float, str]:
    """(link, GB/s per direction, source) the all-reduce of `gpus` GPUs of `device_key` in one
    node uses: NVLink where the card has it for that many GPUs, else PCIe.

    Raises:
        ConfigError: the device table has no interconnect figure for the card, or more GPUs than
            the card's HGX/DGX board holds (a cluster is ``nodes`` x ``gpus``, `fabric`).
    """
    from fcdmbench.devices import get_device

    spec = get_device(device_key)
    nvlink = spec.nvlink_figure
    board = spec.nvlink_gpus or 0
    if spec.fabric_figure is not None and gpus > board:
        raise ConfigError(
            f"{gpus} {spec.key} GPUs in one node: an HGX/DGX board joins {board}",
            hint=f"model a cluster as --nodes N --gpus {board} (the nodes' fabric joins them)",
        )
    if nvlink is not None and nvlink.value > 0 and gpus <= (spec.nvlink_gpus or 0):
        return "nvlink", nvlink.value, f"{nvlink.source} (printed: {nvlink.printed})"
    if spec.pcie_figure is not None:
        figure = spec.pcie_figure
        return "pcie", figure.value, f"{figure.source} (printed: {figure.printed})"
    raise ConfigError(
        f"device {spec.key} has no interconnect figure in the device table",
        hint="use --gpus 1, or a card with one: rtx-4090, l40s, a100-80gb-sxm, h100-sxm, h200-sxm",
    )


def fabric(device_key: str) -> tuple[str, float, str]:
    """(fabric, GB/s per direction per GPU, source) between nodes of `device_key`: the network
    adapter per GPU of the NVIDIA DGX system that carries the card.

    Raises:
        ConfigError: the device table has no inter-node figure for the card.
    """
    from fcdmbench.devices import get_device

    spec = get_device(device_key)
    figure = spec.fabric_figure
    if figure is None:
        raise ConfigError(
            f"device {spec.key} has no inter-node fabric figure in the device table",
            hint="use --nodes 1, or a DGX card: a100-40gb-sxm, a100-80gb-sxm, h100-sxm, h200-sxm",
        )
    return "infiniband", figure.value, f"{figure.source} (printed: {figure.printed})"


@dataclass(frozen=True, slots=True)
class AllReduceCost:
    """Seconds of one gradient all-reduce over ``nodes`` x ``per_node`` GPUs at peak links.

    ``ring_s``: NCCL's ring over every GPU; ``intra_s`` + ``inter_s``: the hierarchical
    all-reduce's parts (in the node; between nodes); ``hierarchical_s`` the two pipelined
    (``max``); ``time_s`` the faster algorithm, named ``algorithm``; ``wire_bytes`` what each GPU
    sends in the ring."""

    wire_bytes: float
    ring_s: float
    intra_s: float
    inter_s: float
    hierarchical_s: float
    time_s: float
    algorithm: str


def allreduce_cost(
    grad_bytes: float, nodes: int, per_node: int, link_gbs: float, fabric_gbs: float = 0.0
) -> AllReduceCost:
    """The all-reduce of `grad_bytes` over `nodes` nodes of `per_node` GPUs, links at their peak
    per-direction GB/s (`link_gbs` inside a node, `fabric_gbs` per GPU between nodes).

    nccl-tests ``doc/PERFORMANCE.md`` (NVIDIA/nccl-tests): an all-reduce of S bytes over n ranks
    moves ``2 (n - 1) / n x S`` through each rank's slowest link (its bus bandwidth is
    ``algbw x 2 (n - 1) / n``). One node: a ring over the link. Several nodes:

    - ring: NCCL runs one ring per network adapter (``per_node`` rings over all n GPUs, each on
      ``S / per_node``); each ring leaves a node once, through one adapter, and each GPU is the
      exit of one ring, so an adapter carries ``W / per_node`` of each GPU's ring traffic ``W``
      and the link the rest: ``max((per_node - 1) / per_node x W / link, W / per_node / fabric)``.
    - hierarchical: reduce-scatter in the node (``(G - 1) / G x S`` over the link), an
      all-reduce of each GPU's ``S / G`` shard with the same GPU of every other node over its own
      adapter (``2 (N - 1) / N x S / G``), all-gather in the node (``(G - 1) / G x S``),
      pipelined over DDP's buckets: ``max`` of the in-node and between-node times.

    The bound takes the faster, so it stays a bound whichever NCCL picks.
    """
    gpus = nodes * per_node
    wire = 2.0 * (gpus - 1) / gpus * grad_bytes if gpus > 1 else 0.0
    link = link_gbs * 1e9
    if nodes == 1:
        seconds = wire / link if wire else 0.0
        return AllReduceCost(wire, seconds, seconds, 0.0, seconds, seconds, "ring")
    if fabric_gbs <= 0:
        raise ConfigError("a multi-node all-reduce needs the inter-node fabric's bandwidth")
    net = fabric_gbs * 1e9
    share = (per_node - 1) / per_node  # of a GPU's traffic on the link inside its node
    ring = max(share * wire / link if share else 0.0, wire / per_node / net)
    intra = 2.0 * share * grad_bytes / link if share else 0.0
    inter = 2.0 * (nodes - 1) / nodes * grad_bytes / per_node / net
    hierarchical = max(intra, inter)
    if ring <= hierarchical:
        return AllReduceCost(wire, ring, intra, inter, hierarchical, ring, "ring")
    return AllReduceCost(wire, ring, intra, inter, hierarchical, hierarchical, "hierarchical")


def _phase(
    trace: Any, name: str, device: RooflineDevice, precision: Precision, kernels: Kernels | None
) -> TrainPhase:
    from fcdmbench.perfmodel.roofline import predict

    part = trace.only(name)
    priced = predict(part, device, precision, kernels)
    return TrainPhase(
        name=name,
        calls=len(part.calls),
        flops=priced.flops,
        bytes=float(sum(c.bytes for c in part.calls)),
        time_s=priced.time_s,
        memory_bound_s=priced.memory_bound_s,
    )


def price_train_step(
    trace: Any,
    device: RooflineDevice,
    precision: Precision,
    gpus: int = 1,
    link: tuple[str, float, str] | None = None,
    kernels: Kernels | None = None,
    nodes: int = 1,
    network: tuple[str, float, str] | None = None,
) -> TrainResult:
    """Price one GPU's traced step (`fcdmbench.perfmodel.op_trace.TrainTrace`) on `device`;
    with more than one GPU add DDP's bucket copies and the all-reduce over `gpus` GPUs per node
    (`link`, `interconnect`) and `nodes` nodes (`network`, `fabric`; `allreduce_cost`).
    `kernels` run the fused regions (default: `resolve_kernels`)."""
    from fcdmbench.perfmodel.op_trace import PHASES
    from fcdmbench.perfmodel.roofline import predict

    phases = [_phase(trace, name, device, precision, kernels) for name in PHASES]
    allreduce = None
    world = gpus * nodes
    if world > 1:
        phases.append(_ddp_copies(trace, device))
        allreduce = _allreduce(trace.grad_bytes, gpus, nodes, link, network)
    times = {p.name: p.time_s for p in phases}
    backward = times["backward"] + times["recompute"]
    rest = sum(times.values()) - backward
    communication = allreduce.time_s if allreduce else 0.0
    whole = predict(trace, device, precision, kernels)
    return TrainResult(
        model=trace.model,
        display_name=trace.display_name,
        resolution=trace.resolution,
        global_batch=trace.batch * world,
        gpus=world,
        rows_per_gpu=trace.batch,
        precision=precision.value,
        attention=trace.attention,
        checkpointing=trace.checkpointing,
        ema=trace.ema,
        params=trace.params,
        trainable_params=trace.trainable_params,
        flops=whole.flops,
        time_s=rest + max(backward, communication),
        serial_time_s=rest + backward + communication,
        phases=tuple(phases),
        allreduce=allreduce,
        ops=whole.ops,
        by_unit=whole.by_unit,
    )


def _ddp_copies(trace: Any, device: RooflineDevice) -> TrainPhase:
    copies = DDP_COPY_FACTOR * trace.grad_bytes
    seconds = copies / (device.bandwidth_gbs * 1e9)
    return TrainPhase("ddp-copies", 3, 0.0, float(copies), seconds, seconds)


def _allreduce(
    grad_bytes: float,
    gpus: int,
    nodes: int,
    link: tuple[str, float, str] | None,
    network: tuple[str, float, str] | None,
) -> AllReduce:
    if link is None and gpus > 1:
        raise ConfigError("a multi-GPU step needs the GPUs' interconnect")
    if network is None and nodes > 1:
        raise ConfigError("a multi-node step needs the inter-node fabric")
    name, gbs, source = link or ("none", 0.0, "one GPU per node: no link inside a node")
    net, net_gbs, net_source = network or ("", 0.0, "")
    cost = allreduce_cost(grad_bytes, nodes, gpus, gbs, net_gbs)
    return AllReduce(
        link=name,
        link_gbs=gbs,
        source=source,
        gpus=gpus * nodes,
        grad_bytes=float(grad_bytes),  # written as the float it is read back as
        wire_bytes=cost.wire_bytes,
        time_s=cost.time_s,
        overlaps_backward=True,
        nodes=nodes,
        gpus_per_node=gpus,
        fabric=net,
        fabric_gbs=net_gbs,
        fabric_source=net_source,
        algorithm=cost.algorithm,
        ring_s=cost.ring_s,
        hierarchical_s=cost.hierarchical_s,
        intra_s=cost.intra_s,
        inter_s=cost.inter_s,
    )


def run_train_roofline(
    config: TrainConfig,
    warn: Callable[[str], None] = lambda message: None,
    progress: Callable[[str], None] = lambda message: None,
) -> TrainRooflineRecord:
    """Trace each model's training step once and price it on the device.

    Returns:
        The complete record (run, environment, settings, roofs, one result per model).
    """
    from fcdmbench.env import collect_env
    from fcdmbench.perfmodel.roofline import (
        calibrated_device,
        read_throughput_points,
        resolve_kernels,
        with_measured,
    )
    from fcdmbench.perfmodel.trace_cache import cached_train_trace
    from fcdmbench.records._base import RunInfo

    run = RunInfo.current()
    if config.device.lower() == "cpu" and (config.autocast is not None or config.world > 1):
        raise ConfigError(
            "the CPU training roofline models one fp32 process",
            hint="use --precision fp32-strict and --gpus 1 with --gpu cpu",
        )
    device = calibrated_device(config.device, config.calibration, progress)
    link = interconnect(config.device, config.gpus) if config.gpus > 1 else None
    network = fabric(config.device) if config.nodes > 1 else None
    points = read_throughput_points(config.records, warn, mode="train") if config.records else []
    kernels = resolve_kernels(config.kernels, device)
    results = []
    for name in config.models:
        progress(f"tracing a training step of {name} on the meta device")
        trace = cached_train_trace(
            name,
            config.resolution,
            config.rows_per_gpu,
            config.autocast,
            config.attention,
            config.grad_checkpointing,
            config.ema,
        )
        result = price_train_step(
            trace, device, config.precision, config.gpus, link, kernels, config.nodes, network
        )
        if result.gpus == 1 and result.checkpointing == "off":  # what a throughput run times
            result = with_measured(result, points, device, result.global_batch)
        results.append(result)
    return TrainRooflineRecord(
        run=run,
        env=collect_env("cpu"),  # the meta device computes nothing; the host ran the trace
        config=dataclasses.replace(config, kernels=kernels),
        device=device,
        results=tuple(results),
    )


def published_speeds(result: TrainResult, device_key: str) -> list[Any]:
    """The published training speeds (`fcdmbench.published.TRAINING_SPEEDS`) measured in the
    setup `result` models: same model, resolution, card, GPU count, global batch and
    checkpointing (on or off)."""
    from fcdmbench.devices import get_device
    from fcdmbench.published import TRAINING_SPEEDS
    from fcdmbench.registry import resolve

    key = get_device(device_key).key
    found = []
    for row in TRAINING_SPEEDS:
        spec, tag = resolve(row.model)
        same = (spec.name, tag or 256, row.device, row.gpus, row.global_batch) == (
            result.model,
            result.resolution,
            key,
            result.gpus,
            result.global_batch,
        )
        if same and row.grad_checkpointing == (result.checkpointing != "off"):
            found.append(row)
    return found
