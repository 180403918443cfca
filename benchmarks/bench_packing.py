"""Would packing K seeds into one training pass make a seed cheaper on this CPU?

Seed packing (K seeds' upper layers stacked, each on its own batch) pays where it raises the
matrix products' arithmetic intensity or shares work. It shares no work (each seed has its own
weights, batches and dropout draws), so on a CPU it can only pay through larger products.
This script measures the two things that decide it, in one run:

  - matrix-product throughput of a training step's shapes (hidden 384, e5-small) at M = 256
    rows (a small batch) against M = 4,096 (about four packed quick-preset batches), float32
    and bfloat16: a ratio near 1 means a larger M buys nothing;
  - dropout's draw (`bernoulli_`, the CPU kernel torch uses for nn.Dropout): seconds with 2
    threads against 1 (near 1: a serial kernel, which packing cannot spread over cores), and
    its share of one quick-preset training step (torch profiler, real e5-small layers).

    python benchmarks/bench_packing.py
"""

from __future__ import annotations

import os
import time

import torch
import torch.nn.functional as F
from bench_seeds import cpu  # the CPU line every benchmark prints (this script's folder is on sys.path)


def gflops(m: int, k: int, n: int, dtype: torch.dtype, reps: int = 30) -> float:
    a, w, b = torch.randn(m, k, dtype=dtype), torch.randn(n, k, dtype=dtype), torch.randn(n, dtype=dtype)
    for _ in range(5):  # warm-up: the first products pay for allocation and kernel choice
        F.linear(a, w, b)
    t = time.perf_counter()
    for _ in range(reps):
        F.linear(a, w, b)
    return 2 * m * k * n * reps / (time.perf_counter() - t) / 1e9


def dropout_share() -> float:
    """bernoulli_'s share of the CPU time of quick-preset training steps (6 e5-like layers, bf16 autocast)."""
    from torch.profiler import ProfilerActivity, profile
    from transformers import BertConfig, BertModel

    cfg = BertConfig(hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536)
    layers = BertModel(cfg).encoder.train()
    x = torch.randn(16, 96, 384)
    opt = torch.optim.AdamW(layers.parameters(), lr=1e-4, fused=True)
    bf16 = " avx512_bf16" in open("/proc/cpuinfo").read() or " amx_bf16" in open("/proc/cpuinfo").read()

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = layers(x).last_hidden_state
        out.float().pow(2).mean().backward()
        opt.step()
        opt.zero_grad()

    step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(3):
            step()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    return sum(e.self_cpu_time_total for e in events if e.key == "aten::bernoulli_") / total


def main() -> None:
    print(f"CPU: {cpu()}")
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    for dtype in (torch.float32, torch.bfloat16):
        for k, n in ((384, 1152), (384, 1536), (1536, 384)):
            small, large = gflops(256, k, n, dtype), gflops(4096, k, n, dtype)
            print(f"{str(dtype):<15} [M x {k}] x [{k} x {n}]: {small:6.0f} GFLOPS at M=256, {large:6.0f} at M=4096")
            print(f"  throughput M=4096 / M=256: {large / small:.2f}")
    x = torch.empty(16, 12, 96, 96)
    seconds = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        t = time.perf_counter()
        for _ in range(5):
            x.bernoulli_(0.9)
        seconds[threads] = (time.perf_counter() - t) / 5
    print(f"dropout draw of {x.numel()} values: {1e9 * seconds[1] / x.numel():.1f} ns per value on 1 thread")
    print(f"dropout draw, 2 threads / 1 thread: {seconds[2] / seconds[1]:.2f}")
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    print(f"dropout draws' share of a training step: {dropout_share():.2f}")


if __name__ == "__main__":
    main()
