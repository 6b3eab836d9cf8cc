#!/usr/bin/env python3
"""Runs kiln's bf16 dkdv kernel (the default wgmma build, CUBINS/fab64.cubin) once at GPT-2's B=32, T=1024 on random inputs,
after the forward that makes lse: a single launch for a profiler to look at beside the same kernel in a training step.
Usage: python3 scripts/attnbf16/dkdv_once.py CUBINS [B]"""
import sys

import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import check  # noqa: E402


def main():
    cubins, B = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 32
    T, NH, HS = 1024, 12, 64
    torch.zeros(1, device="cuda")
    f = check.Fab(cubins + "/fab64.cubin")
    n3, n = B * T * 3 * NH * HS, B * T * NH * HS
    arena = torch.zeros(2 * n3 + 2 * n, dtype=torch.bfloat16, device="cuda")
    qkv, y, dy, dqkv = arena[:n3].view(B, T, 3, NH, HS), arena[n3:n3 + n].view(B, T, NH, HS), \
        arena[n3 + n:n3 + 2 * n].view(B, T, NH, HS), arena[n3 + 2 * n:].view(B, T, 3, NH, HS)
    qkv.copy_(torch.randn(qkv.shape, device="cuda"))
    dy.copy_(torch.randn(dy.shape, device="cuda"))
    lse = torch.zeros(B, NH, T, device="cuda")
    q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
    ops, tiles, *_ = check.run_fab(f, arena, q, k, v, dy, y, dqkv[:, :, 0], dqkv[:, :, 1], dqkv[:, :, 2])
    check.forward(f, arena, ops, tiles, B, T, NH, 1, lse)()
    D = (dy.float() * y.float()).sum(-1).transpose(1, 2).contiguous()
    check.launcher(f.dkdv, (B * NH, tiles[2]), f.nt[2], f.smem[2], arena, ops["q"], ops["k"], ops["v"], ops["dy"], lse, D, ops["dk"],
                   ops["dv"], B, T, NH, 1, 1)()
    torch.cuda.synchronize()
    print("dkdv_once: done")


if __name__ == "__main__":
    main()
