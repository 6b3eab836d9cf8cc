#!/usr/bin/env python3
"""PyTorch's side of scripts/cpu-vs-torch.sh: the yardstick kiln's CPU path is measured against.

1. Matmuls: for every line of --shapes (written by `kiln bench --matmul-table`: name, batch x M x N
   x K, the layouts of A and B, kiln's ms and GFLOP/s) it times torch.matmul on float32 tensors of
   the same shape and memory layout (a transposed operand is a .transpose view, as BLAS takes it) and
   prints both side by side.
2. A GPT-2 training step (forward, backward, torch.optim.AdamW) in fp32 at the given size, written
   the way PyTorch users write it (nn.Linear, F.layer_norm, F.gelu(approximate="tanh"),
   F.cross_entropy), and prints its median step time.

Works with Debian's PyTorch 1.13 (OpenBLAS) and 2.x. Threads: --threads (default: all cores).
"""
import argparse
import math
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def median_ms(fn, min_runs, min_seconds, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    start = time.perf_counter()
    while len(times) < min_runs or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), len(times)


def matmuls(path):
    rows = []
    with open(path) as f:
        for line in f:
            if not line.strip() or line.startswith("#"):
                continue
            name, shape, a_layout, b_layout, kiln_ms, kiln_gflops = line.split()
            b, m, n, k = (int(x) for x in shape.split("x"))
            # A is (M, K): 'mk' stores rows of K; B is (K, N): 'kn' stores rows of N
            a = torch.randn(b, m, k) if a_layout == "mk" else torch.randn(b, k, m).transpose(1, 2)
            bb = torch.randn(b, k, n) if b_layout == "kn" else torch.randn(b, n, k).transpose(1, 2)
            out = torch.empty(b, m, n)
            fn = (lambda a=a, bb=bb, out=out: torch.matmul(a[0], bb[0], out=out[0])) if b == 1 else \
                (lambda a=a, bb=bb, out=out: torch.bmm(a, bb, out=out))
            ms, runs = median_ms(fn, 5, 0.3)
            flops = 2.0 * b * m * n * k
            rows.append((name, shape, a_layout + "/" + b_layout, float(kiln_ms), float(kiln_gflops), ms, flops / ms / 1e6))
    return rows


class Block(nn.Module):
    def __init__(self, C, NH, flash=False):
        super().__init__()
        self.NH = NH
        self.flash = flash   # F.scaled_dot_product_attention (flash attention on CUDA) instead of the T x T scores
        self.ln1 = nn.LayerNorm(C)
        self.qkv = nn.Linear(C, 3 * C)
        self.proj = nn.Linear(C, C)
        self.ln2 = nn.LayerNorm(C)
        self.fc = nn.Linear(C, 4 * C)
        self.fcproj = nn.Linear(4 * C, C)

    def forward(self, x, mask):
        B, T, C = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.NH, C // self.NH).transpose(1, 2) for t in (q, k, v))
        if self.flash:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
            y = att.masked_fill(mask[:T, :T], float("-inf")).softmax(dim=-1) @ v
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        x = x + self.proj(y)
        return x + self.fcproj(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class GPT2(nn.Module):
    def __init__(self, L, NH, C, maxT, Vp, flash=False):
        super().__init__()
        self.wte = nn.Embedding(Vp, C)
        self.wpe = nn.Embedding(maxT, C)
        self.blocks = nn.ModuleList(Block(C, NH, flash) for _ in range(L))
        self.lnf = nn.LayerNorm(C)
        self.register_buffer("mask", torch.ones(maxT, maxT, dtype=torch.bool).triu(1))
        for name, p in self.named_parameters():   # GPT-2's init: N(0, 0.02) weights and embeddings, zero biases
            if p.dim() > 1:
                nn.init.normal_(p, 0.0, 0.02)
            elif name.endswith(".bias"):
                nn.init.zeros_(p)

    def forward(self, idx, targets):
        B, T = idx.shape
        x = self.wte(idx) + self.wpe(torch.arange(T, device=idx.device))
        for blk in self.blocks:
            x = blk(x, self.mask)
        logits = self.lnf(x) @ self.wte.weight.t()    # tied head, as GPT-2
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


def train_step_ms(L, NH, C, B, T, steps):
    torch.manual_seed(1337)
    model = GPT2(L, NH, C, 1024, 50304)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.0)
    idx = torch.randint(0, 50257, (B, T))
    tgt = torch.randint(0, 50257, (B, T))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = model(idx, tgt)
        loss.backward()
        opt.step()

    step()   # the optimizer allocates m and v on its first step
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), min(times), max(times)


def shape_arguments(p, batch, seq, steps):
    """The model and step options both benches take (GPT-2 124M by default), with a bench's own batch defaults."""
    p.add_argument("--layers", type=int, default=12)
    p.add_argument("--heads", type=int, default=12)
    p.add_argument("--channels", type=int, default=768)
    p.add_argument("--batch", type=int, default=batch)
    p.add_argument("--seq", type=int, default=seq)
    p.add_argument("--steps", type=int, default=steps)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shapes", help="kiln's matmul table (kiln bench --matmul-table FILE)")
    shape_arguments(p, batch=4, seq=64, steps=5)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    blas = [w for w in torch.__config__.show().replace(",", " ").split() if w.startswith("BLAS_INFO=")]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {blas[0] if blas else 'BLAS_INFO unknown'}")
    if a.shapes:
        rows = matmuls(a.shapes)
        print(f"{'matmul':<34} {'B x M x N x K':<20} {'A/B':<6} {'kiln ms':>9} {'torch ms':>9} {'kiln GF/s':>10} {'torch GF/s':>10} {'kiln/torch':>10}")
        tk = tt = 0.0
        for name, shape, lay, kms, kgf, tms, tgf in rows:
            print(f"{name[:34]:<34} {shape:<20} {lay:<6} {kms:9.2f} {tms:9.2f} {kgf:10.1f} {tgf:10.1f} {kgf / tgf:9.2f}x")
            tk += kms
            tt += tms
        print(f"{'all matmuls (one of each shape)':<34} {'':<20} {'':<6} {tk:9.2f} {tt:9.2f} {'':>10} {'':>10} {tt / tk:9.2f}x")
    med, lo, hi = train_step_ms(a.layers, a.heads, a.channels, a.batch, a.seq, a.steps)
    print(f"torch step: GPT-2 L={a.layers} NH={a.heads} C={a.channels} B={a.batch} T={a.seq} fp32 AdamW: "
          f"median {med:.1f} ms (min {lo:.1f}, max {hi:.1f}, {a.steps} steps)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
