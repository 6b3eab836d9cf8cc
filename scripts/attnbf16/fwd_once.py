#!/usr/bin/env python3
"""Runs one build's forward (a cubin scripts/attnbf16/build.sh wrote) a few times on GPT-2 d12's shape at B=32, T=1024:
a target for a profiler, e.g. ncu --kernel-name fab_fwd --launch-skip 2 --launch-count 1 ... python3 fwd_once.py CUBIN."""
import sys

import torch

import check


def main():
    torch.zeros(1, device="cuda")
    fab = check.Fab(sys.argv[1])
    B, T, NH, HS = 32, 1024, 12, 64
    n3, n = B * T * 3 * NH * HS, B * T * NH * HS
    arena = torch.zeros(n3 + n, dtype=torch.bfloat16, device="cuda")
    qkv, y = arena[:n3].view(B, T, 3, NH, HS), arena[n3:].view(B, T, NH, HS)
    torch.manual_seed(1)
    qkv.copy_(torch.randn(qkv.shape, device="cuda"))
    lse = torch.zeros(B, NH, T, device="cuda")
    q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
    ops, tiles, *_ = check.run_fab(fab, arena, q, k, v, y, y, y, y, y)
    fw = check.forward(fab, arena, ops, tiles, B, T, NH, 1, lse)
    for _ in range(4):
        fw()
    torch.cuda.synchronize()


if __name__ == "__main__":
    main()
