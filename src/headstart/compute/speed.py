"""Throughput and how close it is to the machine: measured matmul peak, FLOPs per input, items per second.

The implied fraction of the limit is ``rate x FLOPs per input / peak matmul FLOP/s`` (the peak measured once per
machine, thread count and torch version with a short ``torch.matmul`` probe, and kept in the headstart cache).
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from headstart.files import write_json
from headstart.paths import cache_root

PROBE_SIZE = 1024
PROBE_REPEATS = 8


@dataclass
class Throughput:
    """Items and seconds of forward-only passes (feature extraction, inference), accumulated as they run."""

    items: int = 0
    seconds: float = 0.0
    precision: str = "fp32"
    engine: str = "pytorch"

    def add(self, items: int, seconds: float, precision: str, engine: str = "pytorch") -> None:
        self.items += items
        self.seconds += seconds
        self.precision, self.engine = precision, engine

    @property
    def rate(self) -> float:
        return self.items / self.seconds if self.seconds else 0.0


def _machine_key() -> str:
    return f"{platform.processor() or platform.machine()}|torch {torch.__version__}|{torch.get_num_threads()} threads"


def probe_side(dtype: torch.dtype, size: int = PROBE_SIZE, repeats: int = PROBE_REPEATS, budget: float = 1.0) -> int:
    """The side of the square products to probe ``dtype`` with: ``size``, or smaller where ``repeats`` products
    would take more than about ``budget`` seconds. A CPU without bf16 instructions emulates bf16 matmuls at
    ~1 GFLOP/s (AMD EPYC, Zen 3: 2.5 s for one 1024 x 1024 product, against 30 ms in fp32)."""
    side = min(256, size)
    while side < size:
        a, b = torch.randn(side, side).to(dtype), torch.randn(side, side).to(dtype)
        torch.matmul(a, b)  # warm-up: kernel selection, allocation
        start = time.perf_counter()
        torch.matmul(a, b)
        if (time.perf_counter() - start) * 8 * repeats > budget:  # doubling the side costs 8 times as much
            break
        side *= 2
    return min(side, size)


def probe_peak(dtype: torch.dtype, size: int = PROBE_SIZE, repeats: int = PROBE_REPEATS) -> float:
    """The best matmul FLOP/s of ``repeats`` square products in ``dtype`` (of side ``probe_side``)."""
    side = probe_side(dtype, size, repeats)
    a, b = torch.randn(side, side).to(dtype), torch.randn(side, side).to(dtype)
    torch.matmul(a, b)  # warm-up (kernel selection, allocation)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * side**3 / best


def machine_peaks() -> dict[str, float]:
    """Peak matmul FLOP/s in fp32 and bf16 on this machine, measured once per thread count and torch version and
    cached (processes of a ``--nproc`` run have fewer threads each than a single one, so both are kept)."""
    path = cache_root() / "machine-peak.json"
    key = _machine_key()
    try:
        stored = json.loads(path.read_text())
        known = stored["peaks_by_key"]
        if key in known:
            return known[key]
    except (OSError, ValueError, KeyError, TypeError):  # none yet, unreadable, or the older one-entry format
        known = {}
    known = known if isinstance(known, dict) else {}
    peaks = {"fp32": probe_peak(torch.float32), "bf16": probe_peak(torch.bfloat16)}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, {"peaks_by_key": {**known, key: peaks}})
    except OSError:
        pass  # a read-only cache only costs a new probe next time
    return peaks


def flops_per_input(model: nn.Module, inputs: Any, count: int) -> float:
    """FLOPs of one forward pass per input (``count`` inputs in ``inputs``), by torch's FLOP counter."""
    was_training = model.training
    model.eval()
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        model(inputs)
    model.train(was_training)
    return counter.get_total_flops() / max(count, 1)


def speed_report(throughput: Throughput, flops: float) -> dict:
    """Items/s, FLOPs per item and the fraction of the measured peak of the precision that ran."""
    if not throughput.items:
        return {"note": "no forward pass was timed (every feature came from the cache)"}
    peak = machine_peaks()[throughput.precision]
    achieved = throughput.rate * flops
    return {"items_per_second": round(throughput.rate, 2), "items": throughput.items, "precision": throughput.precision,
            "engine": throughput.engine, "gflops_per_item": round(flops / 1e9, 3),
            "achieved_gflops": round(achieved / 1e9, 2),
            "peak_gflops": round(peak / 1e9, 2), "fraction_of_peak": round(achieved / peak, 4)}
