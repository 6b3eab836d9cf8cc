#!/usr/bin/env python3
"""The peer kiln's CUDA bench is measured against: a GPT-2 training step in PyTorch on one GPU.

The model is torch_cpu_bench.GPT2 (nn.Linear, F.layer_norm, tanh GELU, tied head, cross entropy) with
F.scaled_dot_product_attention (flash attention), torch.compile'd, AdamW fused, at the precision asked:
  tf32: fp32 tensors, TF32 matmuls (torch.backends.cuda.matmul.allow_tf32)
  bf16: fp32 master weights and optimizer, the forward and backward under torch.autocast(bfloat16)
  fp32: no TF32
Prints one line: median ms/step over --steps after warm-up (compilation included in the warm-up), tok/s,
and peak device memory (allocated by PyTorch's caching allocator, and reserved). Run where the GPU is:
  python3 reference/torch_gpu_bench.py --batch 8 --seq 1024 --steps 30 --precision tf32
"""
import argparse
import statistics
import sys
import time

import torch

from torch_cpu_bench import GPT2, shape_arguments


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shape_arguments(p, batch=8, seq=1024, steps=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--precision", choices=("fp32", "tf32", "bf16"), default="bf16")
    p.add_argument("--no-compile", action="store_true", help="eager PyTorch")
    p.add_argument("--profile", type=int, default=0, metavar="N",
                   help="after timing, profile 3 steps and print the N kernels with the most CUDA time")
    p.add_argument("--cuda-profiler-step", action="store_true",
                   help="after timing, one more step inside cudaProfilerStart/Stop (for ncu --profile-from-start off)")
    a = p.parse_args(argv)
    if not torch.cuda.is_available():
        print("torch_gpu_bench: no CUDA device", file=sys.stderr)
        return 2
    dev = torch.device("cuda")
    torch.backends.cuda.matmul.allow_tf32 = a.precision != "fp32"
    torch.backends.cudnn.allow_tf32 = a.precision != "fp32"
    torch.manual_seed(1337)
    model = GPT2(a.layers, a.heads, a.channels, 1024, 50304, flash=True).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.0, fused=True)
    fwd = model if a.no_compile else torch.compile(model)
    idx = torch.randint(0, 50257, (a.batch, a.seq), device=dev)
    tgt = torch.randint(0, 50257, (a.batch, a.seq), device=dev)

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=a.precision == "bf16"):
            loss = fwd(idx, tgt)
        loss.backward()
        opt.step()
        return loss

    for _ in range(a.warmup):
        step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(a.steps):
        t0 = time.perf_counter()
        loss = step()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1e3)
    ms = statistics.median(times)
    tok = a.batch * a.seq / ms * 1e3
    print(f"torch {torch.__version__} {'eager' if a.no_compile else 'torch.compile'} {a.precision} "
          f"{torch.cuda.get_device_name()}: GPT-2 L={a.layers} C={a.channels} B={a.batch} T={a.seq}: "
          f"{ms:.1f} ms/step (min {min(times):.1f}), {tok / 1e3:.1f}k tok/s, "
          f"peak {torch.cuda.max_memory_allocated() / 1e6:.0f} MB allocated, "
          f"{torch.cuda.max_memory_reserved() / 1e6:.0f} MB reserved, last loss {loss.item():.4f}")
    if a.cuda_profiler_step:
        torch.cuda.synchronize()
        torch.cuda.profiler.start()
        step()
        torch.cuda.synchronize()
        torch.cuda.profiler.stop()
    if a.profile:
        from torch.profiler import profile, ProfilerActivity
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            for _ in range(3):
                step()
            torch.cuda.synchronize()
        print("per step (3 profiled steps, CUDA time divided by 3):")
        rows = sorted((e for e in prof.key_averages() if e.device_time_total > 0),
                      key=lambda e: -e.device_time_total)
        total = sum(e.device_time_total for e in rows)
        print(f"  all kernels: {total / 3e3:.2f} ms")
        for e in rows[:a.profile]:
            print(f"  {e.device_time_total / 3e3:8.3f} ms  {e.count // 3:4d}x  {e.key[:110]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
