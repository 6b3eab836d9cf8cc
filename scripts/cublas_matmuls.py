#!/usr/bin/env python3
"""cuBLAS (through PyTorch) on GPT-2's forward matmul shapes, x (M, K) @ W (N, K)^T, as kiln lays them out.

Prints one line per shape: name, M x N x K, median ms and TFLOP/s, at TF32 (and bf16 with --bf16).
With --kiln FILE (lines "name ms" written by kiln's matmul bench) it adds kiln's TFLOP/s and the ratio.
With --precision bf16 it times cuBLAS in bf16 (bf16 inputs and output, fp32 accumulation) on the five
forward shapes (B x T = --bt, 8192 unless given), fc at eight times the depth and fc's two backward layouts, dX = dY W (W read n-major) and dW = dY^T X (both m-major),
each stored as kiln's bf16 bench stores it, and the ratio is against that (the file from
MatmulBench --bf16).
With --dw it times GPT-2 124M's four weight gradients at B x T = 32768, dW = dY^T @ X on bf16 tensors stored
[bt, rows], with fp32 output where this PyTorch takes out_dtype (else bf16, as marked), against the file from
MatmulBench --bf16-dw.
Run on the GPU machine: python3 scripts/cublas_matmuls.py [--kiln kiln.txt] [--bf16] [--precision bf16] [--dw]
"""
import argparse
import sys

import torch

SHAPES = [("qkv", 8192, 2304, 768), ("attproj", 8192, 768, 768), ("fc", 8192, 3072, 768),
          ("fcproj", 8192, 768, 3072), ("lm_head", 8192, 50304, 768)]


def median_ms(fn, warmup=5, repeats=30, batch=10):
    """The median over repeats of `batch` calls back to back between two events, divided by batch (no launch latency in a call)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        for _ in range(batch):
            fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b) / batch)
    times.sort()
    return times[len(times) // 2]


# the columns --kiln adds: kiln's ms, TFLOP/s and the ratio (cuBLAS ms / kiln ms, > 1 where kiln is faster)
KILN_HEAD = f" {'kiln ms':>8} {'TFLOP/s':>8} {'kiln/cuBLAS':>11}"


def kiln_columns(kiln, name, flop, ms):
    """kiln's columns of one shape: empty without --kiln, dashes where the file lacks the shape."""
    if not kiln:
        return ""
    if name not in kiln:
        return f" {'-':>8} {'-':>8} {'-':>11}"
    km = kiln[name]
    return f" {km:8.4f} {flop / km / 1e9:8.1f} {ms / km:11.2f}"


def shape_columns(name, m, n, k, middle, ms, flop):
    """The first columns of a row: name, M x N x K, the table's own column(s), cuBLAS ms and TFLOP/s."""
    return f"{name:8} {f'{m}x{n}x{k}':>18}{middle} {ms:10.4f} {flop / ms / 1e9:8.1f}"


def timed_row(kiln, name, m, n, k, middle, fn):
    """Times fn (one M x N x K matmul) with cuBLAS and returns its row, kiln's columns included."""
    flop = 2.0 * m * n * k
    ms = median_ms(fn)
    return shape_columns(name, m, n, k, middle, ms, flop) + kiln_columns(kiln, name, flop, ms)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--kiln", help="file of 'name ms' lines from kiln's generated kernels")
    p.add_argument("--bf16", action="store_true", help="also time bf16 cuBLAS")
    p.add_argument("--precision", choices=["tf32", "bf16"], default="tf32", help="the precision kiln's times are set against")
    p.add_argument("--dw", action="store_true", help="GPT-2's weight gradients at B x T = 32768 (bf16 in, fp32 out)")
    p.add_argument("--bt", type=int, default=8192, help="B x T of the --precision bf16 shapes (MatmulBench --bf16 --bt)")
    args = p.parse_args()
    if not torch.cuda.is_available():
        sys.exit("cublas_matmuls.py: no CUDA device visible to PyTorch")
    kiln = {}
    if args.kiln:
        for n, line in enumerate(open(args.kiln), 1):
            f = line.split()
            if len(f) != 2:
                sys.exit(f"cublas_matmuls.py: {args.kiln}:{n}: expected 'name ms', found {line.strip()!r}")
            kiln[f[0]] = float(f[1])
    if args.dw:
        dw_table(kiln)
        return
    if args.precision == "bf16":
        bf16_table(kiln, args.bt)
        return
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    print(f"# {torch.cuda.get_device_name()}, torch {torch.__version__}, cuBLAS TF32 (allow_tf32), x @ W.T")
    head = f"{'shape':8} {'M x N x K':>18} {'cuBLAS ms':>10} {'TFLOP/s':>8}"
    if args.bf16:
        head += f" {'bf16 ms':>8} {'TFLOP/s':>8}"
    print(head + (KILN_HEAD if kiln else ""))
    for name, m, n, k in SHAPES:
        x = torch.randn(m, k, device="cuda")
        w = torch.randn(n, k, device="cuda")
        out = torch.empty(m, n, device="cuda")
        flop = 2.0 * m * n * k
        ms = median_ms(lambda: torch.matmul(x, w.t(), out=out))
        line = shape_columns(name, m, n, k, "", ms, flop)
        if args.bf16:
            xb, wb = x.bfloat16(), w.bfloat16()
            mb = median_ms(lambda: torch.matmul(xb, wb.t()))
            line += f" {mb:8.4f} {flop / mb / 1e9:8.1f}"
        line += kiln_columns(kiln, name, flop, ms)
        print(line)
        del x, w, out
        torch.cuda.empty_cache()


# (name, M, N, K, how cuBLAS is called on bf16 tensors stored as kiln's bench stores them)
def bf16_shapes(bt):
    """MatmulBench.bf16Shapes at B x T = bt: the forward shapes, fc's two backward layouts, fc at eight times the depth."""
    return [(name, bt, n, k, "forward") for name, _, n, k in SHAPES] + [
        ("fc_dx", bt, 768, 3072, "dx"),   # dX (bt, 768) = dY (bt, 3072) @ W (3072, 768)
        ("fc_dw", 3072, 768, bt, "dw"),   # dW (3072, 768) = dY (bt, 3072)^T @ X (bt, 768)
        ("fc_k8", bt, 3072, 6144, "forward"),
    ]


def bf16_table(kiln, bt):
    print(f"# {torch.cuda.get_device_name()}, torch {torch.__version__}, cuBLAS bf16 (bf16 in and out, fp32 accumulate)")
    head = f"{'shape':8} {'M x N x K':>18} {'layout':>12} {'cuBLAS ms':>10} {'TFLOP/s':>8}"
    print(head + (KILN_HEAD if kiln else ""))
    for name, m, n, k, kind in bf16_shapes(bt):
        if kind == "forward":
            a, b = torch.randn(m, k, device="cuda").bfloat16(), torch.randn(n, k, device="cuda").bfloat16()
            fn, layout = (lambda: torch.matmul(a, b.t())), "x @ W.T"
        elif kind == "dx":
            a, b = torch.randn(m, k, device="cuda").bfloat16(), torch.randn(k, n, device="cuda").bfloat16()
            fn, layout = (lambda: torch.matmul(a, b)), "dY @ W"
        else:
            a, b = torch.randn(k, m, device="cuda").bfloat16(), torch.randn(k, n, device="cuda").bfloat16()
            fn, layout = (lambda: torch.matmul(a.t(), b)), "dY.T @ X"
        print(timed_row(kiln, name, m, n, k, f" {layout:>12}", fn))
        del a, b
        torch.cuda.empty_cache()


# GPT-2 124M's weight gradients dW (M, N) = dY (BT, M)^T @ X (BT, N) at B x T = 32768 (MatmulBench.DW_SHAPES)
DW_SHAPES = [("attprojw", 768, 768, 32768), ("qkvw", 2304, 768, 32768), ("fcw", 3072, 768, 32768), ("fcprojw", 768, 3072, 32768)]


def dw_table(kiln):
    print(f"# {torch.cuda.get_device_name()}, torch {torch.__version__}, cuBLAS dY.T @ X, bf16 in, fp32 accumulate")
    head = f"{'shape':8} {'M x N x K':>18} {'out':>5} {'cuBLAS ms':>10} {'TFLOP/s':>8}"
    print(head + (KILN_HEAD if kiln else ""))
    for name, m, n, k in DW_SHAPES:
        a, b = torch.randn(k, m, device="cuda").bfloat16(), torch.randn(k, n, device="cuda").bfloat16()
        try:
            torch.mm(a.t(), b, out_dtype=torch.float32)
            fn, out = (lambda: torch.mm(a.t(), b, out_dtype=torch.float32)), "fp32"
        except (TypeError, RuntimeError):
            fn, out = (lambda: torch.mm(a.t(), b)), "bf16"
        print(timed_row(kiln, name, m, n, k, f" {out:>5}", fn))
        del a, b
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
