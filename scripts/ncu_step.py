#!/usr/bin/env python3
"""Sums the kernels of one training step from `ncu --csv --page raw --metrics gpu__time_duration.sum` logs (as
scripts/check-s14-ncu.sh writes them), grouped into kinds of work, for one program or two side by side:
  python3 scripts/ncu_step.py kiln.csv torch.csv [--top 30]
Run from the repository root: kiln's kernels are named by hash, and generated/'s INDEX.md files say what those of GPT-2's
bf16 program compute (the attention, classifier and AdamW kernels keep their names at any batch; the matmuls' change).
"""
import argparse
import collections
import csv
import os
import re
import sys

KINDS = [  # (kind, pattern on the kernel's name, or on what generated/'s INDEX.md says a kiln kernel computes), first match wins
    ("attention backward", r"dkdv|fab_dq|attention_bf16_dq|dyy|bprop|flash_bwd|fmha.*bwd|dot_do_o|convert_dq|attention.*backward"),
    ("attention forward", r"fab_fwd|flash_fwd|^k_attention|fprop|attention.*forward|fmha.*fwd"),
    ("matmul", r"wgmma|nvjet|gemm|sm90_xmma|cutlass|splitK|splitk|Kernel2"),
    ("classifier", r"classifier|log_softmax|cross_entropy|head\.norm|head\.losses"),
    ("AdamW", r"adam|multi_tensor"),
]
INDEXES = ["generated/cuda/gpt2-bf16/INDEX.md", "generated/cuda/gpt2-bf16-sm90/INDEX.md"]


def computes():
    """kiln kernel name -> what it computes, from generated/'s INDEX.md files (the kernels whose names match the step's)."""
    out = {}
    for path in INDEXES:
        if os.path.exists(path):
            for line in open(path):
                m = re.match(r"- \w+ `(\w+)` (.*)", line)
                if m:
                    out.setdefault(m.group(1), m.group(2))
    return out


COMPUTES = computes()


def read(path):
    rows = []
    with open(path, newline="") as f:
        lines = [l for l in f if l.startswith('"')]
    r = csv.reader(lines)
    header = next(r)
    name = header.index("Kernel Name")
    dur = header.index("gpu__time_duration.sum")
    unit = None
    for row in r:
        if len(row) <= dur:
            continue
        if unit is None and not re.match(r"^[0-9.,]+$", row[dur]):
            unit = row[dur]
            continue
        v = float(row[dur].replace(",", ""))
        scale = {"nsecond": 1e-6, "usecond": 1e-3, "msecond": 1.0, "ns": 1e-6, "us": 1e-3, "ms": 1.0}.get(unit or "nsecond", 1e-6)
        rows.append((row[name], v * scale))
    return rows


def kind(name):
    short = re.sub(r"\(.*", "", name)
    for text in (short, COMPUTES.get(short, "")):   # the name first: a matmul's computes may name what attention reads
        for k, pat in KINDS:
            if text and re.search(pat, text, re.I):
                return k
    return "other (norms, maps, sums, casts)"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("logs", nargs="+")
    p.add_argument("--top", type=int, default=25)
    a = p.parse_args()
    progs = [(path, read(path)) for path in a.logs]
    kinds = [k for k, _ in KINDS] + ["other (norms, maps, sums, casts)"]
    print("| kind | " + " | ".join(f"{path} (ms, launches)" for path, _ in progs) + " |")
    print("|---" * (len(progs) + 1) + "|")
    for k in kinds + ["all"]:
        cells = []
        for _, rows in progs:
            sel = [ms for n, ms in rows if k == "all" or kind(n) == k]
            cells.append(f"{sum(sel):.2f} ({len(sel)})")
        print(f"| {k} | " + " | ".join(cells) + " |")
    for path, rows in progs:
        by = collections.defaultdict(lambda: [0.0, 0])
        for n, ms in rows:
            short = re.sub(r"\(.*", "", n)[:100]
            by[short][0] += ms
            by[short][1] += 1
        print(f"\n{path}: top {a.top} kernels by time")
        for n, (ms, c) in sorted(by.items(), key=lambda kv: -kv[1][0])[:a.top]:
            print(f"  {ms:8.3f} ms {c:4d}x {ms / c * 1e3:8.1f} us  [{kind(n)}] {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
