"""The timing protocol: warm-up, block sizing, interleaved blocks, OOM halving.

Device-agnostic: a `Workload` builds a `Step` for a batch size; `Timer` times n calls with CUDA
events and a synchronize on GPUs, ``time.perf_counter`` on CPU. Used by
`fcdmbench.throughput.measure.measure_throughput`; testable with fake steps.
"""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fcdmbench.records.throughput import Order, ProtocolConfig
from fcdmbench.throughput.workloads import Step

__all__ = [
    "ItemResult",
    "Timer",
    "Workload",
    "is_oom",
    "prepare_with_oom_retry",
    "run_protocol",
]


@dataclass(slots=True)
class Workload:
    """One item of the rotation: builds a `Step` for a batch size."""

    key: str
    build: Callable[[int], Step]
    model: str | None = None  # None for the canary
    variant: tuple[str, ...] = ()
    checkpointing: str | None = None
    cuda_graphs: bool = False
    gflops_per_image: float | None = None
    flops_basis: str = ""


@dataclass(slots=True)
class ItemResult:
    """Raw timings of one workload (derived figures are computed in the record)."""

    key: str
    model: str | None
    variant: tuple[str, ...]
    batch_requested: int
    batch: int
    status: str = "ok"  # "ok", "oom" (even batch 1 did not fit) or "failed"
    error: str | None = None
    oom_retries: list[int] = field(default_factory=list)  # batch sizes that ran out of memory
    images_per_call: int = 0
    rows_per_call: int = 0
    calls_per_block: int = 0
    block_s: list[float] = field(default_factory=list)
    first_call_s: float | None = None
    warmup_calls: int = 0
    warmup_s: float = 0.0
    peak_mem_gib: float | None = None
    checkpointing: str | None = None
    cuda_graphs: bool = False
    gflops_per_image: float | None = None
    flops_basis: str = ""
    _step: Step | None = None

    @property
    def img_per_s(self) -> list[float]:
        return [self.calls_per_block * self.images_per_call / s for s in self.block_s if s > 0]


class Timer:
    """Times n calls of a function: CUDA events + synchronize, or perf_counter on CPU."""

    def __init__(self, device: Any) -> None:
        import torch

        self.device = device
        self.is_cuda = device.type == "cuda"
        self._torch = torch
        self.kind = "cuda_event" if self.is_cuda else "perf_counter"

    def sync(self) -> None:
        if self.is_cuda:
            self._torch.cuda.synchronize(self.device)

    def time_calls(self, fn: Callable[[], Any], calls: int) -> float:
        if self.is_cuda:
            start = self._torch.cuda.Event(enable_timing=True)
            end = self._torch.cuda.Event(enable_timing=True)
            self.sync()
            start.record()
            for _ in range(calls):
                fn()
            end.record()
            end.synchronize()
            return start.elapsed_time(end) / 1000.0
        begin = time.perf_counter()
        for _ in range(calls):
            fn()
        return time.perf_counter() - begin

    def reset_peak(self) -> int:
        if not self.is_cuda:
            return 0
        self.sync()
        self._torch.cuda.reset_peak_memory_stats(self.device)
        return self._torch.cuda.memory_allocated(self.device)

    def peak_since(self, allocated_before: int, own_bytes: int) -> float | None:
        """Peak bytes attributable to the item: weights + inputs + activations, in GiB."""
        if not self.is_cuda:
            return None
        peak = self._torch.cuda.max_memory_allocated(self.device)
        return round((peak - allocated_before + own_bytes) / 2**30, 3)

    def free(self) -> None:
        if self.is_cuda:  # return the cached blocks so the next model (or batch) can use them
            gc.collect()
            self._torch.cuda.empty_cache()


def is_oom(exc: BaseException) -> bool:
    """True for CUDA (or host allocator) out-of-memory errors."""
    import torch

    if isinstance(exc, torch.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def prepare_with_oom_retry(
    workload: Workload, batch: int, protocol: ProtocolConfig, timer: Timer
) -> ItemResult:
    """Build and warm up `workload`; on out-of-memory halve the batch and retry (down to 1).

    The warm-up runs at least `protocol.warmup_calls` calls and `protocol.warmup_s` seconds and
    sizes a block (`calls_per_block`) from the median warm-up call. The peak memory is read over
    the warm-up, which runs exactly the timed call.
    """
    result = ItemResult(
        key=workload.key,
        model=workload.model,
        variant=workload.variant,
        batch_requested=batch,
        batch=batch,
        checkpointing=workload.checkpointing,
        cuda_graphs=workload.cuda_graphs,
        gflops_per_image=workload.gflops_per_image,
        flops_basis=workload.flops_basis,
    )
    while True:
        step = None
        try:
            before = timer.reset_peak()
            step = workload.build(result.batch)
            call_s = [timer.time_calls(step, 1)]
            total_s = call_s[0]
            while len(call_s) < protocol.warmup_calls or total_s < protocol.warmup_s:
                call_s.append(timer.time_calls(step, 1))
                total_s += call_s[-1]
            result.first_call_s = call_s[0]
            result.warmup_calls, result.warmup_s = len(call_s), total_s
            result.peak_mem_gib = timer.peak_since(before, step.state_bytes)
            steady = sorted(call_s[1:] or call_s)[len(call_s[1:] or call_s) // 2]
            result.calls_per_block = max(1, math.ceil(protocol.min_block_s / max(steady, 1e-9)))
            result.images_per_call, result.rows_per_call = step.images_per_call, step.rows_per_call
            result._step = step
            return result
        except Exception as exc:
            if step is not None:
                step.release()
            del step
            timer.free()
            if not is_oom(exc):
                result.status, result.error = "failed", f"{type(exc).__name__}: {exc}"
                return result
            result.oom_retries.append(result.batch)
            if result.batch == 1:
                result.status, result.error = "oom", "out of memory even at batch 1"
                return result
            result.batch //= 2


def _run_block(result: ItemResult, protocol: ProtocolConfig, timer: Timer) -> None:
    step = result._step
    if step is None or result.status != "ok":
        return
    try:
        for _ in range(protocol.block_warmup_calls):
            step()
        result.block_s.append(timer.time_calls(step, result.calls_per_block))
    except Exception as exc:  # noqa: BLE001 - recorded, the other items go on
        result.status, result.error = "failed", f"during a timed block: {type(exc).__name__}: {exc}"
        _release(result, timer)


def _release(result: ItemResult, timer: Timer) -> None:
    if result._step is not None:
        result._step.release()
        result._step = None
    timer.free()


def _batch_for(workload: Workload, batch: int) -> int:
    return batch if workload.model is not None else 1  # the canary has a fixed size


def _log_warmup(result: ItemResult, log: Callable[[str], None]) -> None:
    if result.status == "ok" and result.warmup_calls:
        log(
            f"{result.key}: {result.warmup_calls} warm-up calls in {result.warmup_s:.1f} s, "
            f"{result.calls_per_block} call(s) per block"
        )
    else:
        log(f"{result.key}: {result.status} ({result.error})")


def _blocks_eta_s(results: list[ItemResult], protocol: ProtocolConfig) -> float:
    """Seconds the timed blocks of `results` will take, from their mean warm-up call."""
    total = 0.0
    for r in results:
        if r.status != "ok" or not r.warmup_calls:
            continue
        call_s = r.warmup_s / r.warmup_calls
        calls = protocol.block_warmup_calls + r.calls_per_block
        total += protocol.blocks * (protocol.pause_s + calls * call_s)
    return total


def run_protocol(
    workloads: list[Workload],
    batch: int,
    protocol: ProtocolConfig,
    order: Order,
    timer: Timer,
    log: Callable[[str], None] = lambda _msg: None,
) -> list[ItemResult]:
    """Prepare and time every workload; the first is the canary (batch is ignored for it)."""
    results: list[ItemResult] = []
    if order is Order.SEQUENTIAL:
        for workload in workloads:
            log(f"warming up {workload.key}")
            result = prepare_with_oom_retry(workload, _batch_for(workload, batch), protocol, timer)
            log(
                f"{workload.key}: timed blocks take about {_blocks_eta_s([result], protocol):.0f} s"
            )
            for _ in range(protocol.blocks):
                _run_block(result, protocol, timer)
            _release(result, timer)
            results.append(result)
            time.sleep(protocol.pause_s)
        return results
    for workload in workloads:
        log(f"warming up {workload.key}")
        batch_size = _batch_for(workload, batch)
        results.append(prepare_with_oom_retry(workload, batch_size, protocol, timer))
        _log_warmup(results[-1], log)
    log(f"warm-up done; the timed blocks take about {_blocks_eta_s(results, protocol):.0f} s")
    for round_index in range(protocol.blocks):
        log(f"block {round_index + 1}/{protocol.blocks}")
        for result in results:
            time.sleep(protocol.pause_s)
            _run_block(result, protocol, timer)
    for result in results:
        _release(result, timer)
    return results
