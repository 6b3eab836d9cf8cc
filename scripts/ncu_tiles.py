#!/usr/bin/env python3
"""Per matmul of a step, its time on each configuration's tile, from the ncu logs scripts/check-s14-tiles.sh writes (one
CSV a configuration, the first the default): launches are paired by their order (split-K sums added to their matmul) and
named by their place in GPT-2's step (12 layers' forward, the head's three, 12 layers' backward).
  python3 scripts/ncu_tiles.py default.csv other.csv ...
"""
import argparse
import collections
import os
import re
import sys

sys.path.insert(0, os.path.dirname(__file__))
from ncu_step import read  # noqa: E402


def launches(path):
    out = []
    for name, ms in read(path):
        short = re.sub(r"\(.*", "", name)
        if short.endswith("_sum") and out:
            out[-1][1] += ms
        else:
            out.append([short, ms])
    return out


FWD = ["qkv + bias", "attproj", "fc", "fcproj"]
BWD = ["fcproj dX", "fcproj dW", "fc dX", "fc dW", "attproj dX", "attproj dW", "qkv dX", "qkv dW"]
HEAD = ["lm_head", "lm_head dX", "dwte"]


def place(i, layers=12):
    if i < 4 * layers:
        return FWD[i % 4]
    if i < 4 * layers + 3:
        return HEAD[i - 4 * layers]
    return BWD[(i - 4 * layers - 3) % 8]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("logs", nargs="+")
    a = p.parse_args()
    runs = [(os.path.basename(x).removesuffix(".csv"), launches(x)) for x in a.logs]
    base = runs[0][1]
    rows = collections.OrderedDict()
    for i, (name, _) in enumerate(base):
        key = place(i)
        r = rows.setdefault(key, [0] + [0.0] * len(runs))
        r[0] += 1
        for j, (_, ls) in enumerate(runs):
            r[j + 1] += ls[i][1] if i < len(ls) else float("nan")
    print("| matmul (launches) | " + " | ".join(n for n, _ in runs) + " | best |")
    print("|---" * (len(runs) + 2) + "|")
    tot = [0.0] * len(runs)
    best = 0.0
    for key, r in rows.items():
        v = r[1:]
        b = min(range(len(v)), key=lambda j: v[j])
        best += v[b]
        for j in range(len(v)):
            tot[j] += v[j]
        print(f"| {key} ({r[0]}) | " + " | ".join(f"{x:.3f}" for x in v) + f" | {runs[b][0]} |")
    print("| all | " + " | ".join(f"{x:.3f}" for x in tot) + f" | {best:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
