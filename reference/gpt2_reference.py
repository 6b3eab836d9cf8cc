#!/usr/bin/env python3
"""GPT-2 in plain PyTorch: writes the reference files kiln's tests compare against.

For one config and seed it builds a randomly initialised GPT-2 (llm.c's parameter layout),
runs one batch forward and backward, then trains 10 AdamW steps on that same batch, and writes
into --out: model.bin (llm.c v3 checkpoint), state.bin (llm.c debug state), losses.txt,
checksums.txt and config.txt. reference/README.md describes each file.

Arithmetic follows shared/FORMATS.md. It computes in float64 by default so that the files are
ground truth for a float32 trainer; everything written is float32, and the parameters are rounded
to float32 before the first step so that the model.bin a trainer loads is exactly the model used.
Works with PyTorch 1.13 (Debian, CPU) and 2.x (CPU or CUDA).
"""
import argparse
import math
import sys

import torch

from reference_common import (VOCAB, add_run_args, causal_attention, check_run_args, gelu_tanh, linear, logits_and_loss,
                              padded_vocab, run, sha256_of)

MODEL_MAGIC, MODEL_VERSION = 20240326, 3
LN_EPS = 1e-5


def param_spec(L, C, maxT, V):
    """The 16 parameters in llm.c's order: (name, shape, init). Declared once; every file follows it.

    init is (kind, scale): 'normal' draws N(0, scale); 'one' draws 1 + N(0, scale).
    The residual projections are scaled by 1/sqrt(2L) as in GPT-2.
    """
    proj = 0.02 / math.sqrt(2 * L)
    return [
        ("wte",      (V, C),         ("normal", 0.02)),   # written padded to (Vp, C)
        ("wpe",      (maxT, C),      ("normal", 0.01)),
        ("ln1w",     (L, C),         ("one", 0.1)),
        ("ln1b",     (L, C),         ("normal", 0.1)),
        ("qkvw",     (L, 3 * C, C),  ("normal", 0.02)),
        ("qkvb",     (L, 3 * C),     ("normal", 0.02)),
        ("attprojw", (L, C, C),      ("normal", proj)),
        ("attprojb", (L, C),         ("normal", 0.02)),
        ("ln2w",     (L, C),         ("one", 0.1)),
        ("ln2b",     (L, C),         ("normal", 0.1)),
        ("fcw",      (L, 4 * C, C),  ("normal", 0.02)),
        ("fcb",      (L, 4 * C),     ("normal", 0.02)),
        ("fcprojw",  (L, C, 4 * C),  ("normal", proj)),
        ("fcprojb",  (L, C),         ("normal", 0.02)),
        ("lnfw",     (C,),           ("one", 0.1)),
        ("lnfb",     (C,),           ("normal", 0.1)),
    ]


def layernorm(x, w, b):
    mean = x.mean(dim=-1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)  # biased
    return (x - mean) / torch.sqrt(var + LN_EPS) * w + b


def attention(qkv, NH):
    """qkv (B, T, 3C) split as q | k | v, head h on channels h*HS .. h*HS+HS of each; returns (B, T, C)."""
    B, T, C3 = qkv.shape
    C = C3 // 3
    HS = C // NH
    q, k, v = (t.reshape(B, T, NH, HS).transpose(1, 2) for t in qkv.split(C, dim=-1))  # (B, NH, T, HS)
    return causal_attention(q, k, v).transpose(1, 2).reshape(B, T, C)


def gpt2_forward(p, idx, targets, L, NH):
    """Returns (logits (B, T, V), mean cross-entropy loss)."""
    B, T = idx.shape
    x = p["wte"][idx] + p["wpe"][:T]                                   # (B, T, C)
    for l in range(L):
        h = layernorm(x, p["ln1w"][l], p["ln1b"][l])
        qkv = linear(h, p["qkvw"][l], p["qkvb"][l])                     # (B, T, 3C)
        x = x + linear(attention(qkv, NH), p["attprojw"][l], p["attprojb"][l])
        h = layernorm(x, p["ln2w"][l], p["ln2b"][l])
        h = gelu_tanh(linear(h, p["fcw"][l], p["fcb"][l]))              # (B, T, 4C)
        x = x + linear(h, p["fcprojw"][l], p["fcprojb"][l])
    return logits_and_loss(layernorm(x, p["lnfw"], p["lnfb"]), p["wte"], targets)  # tied weights


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, required=True)
    ap.add_argument("--heads", type=int, required=True)
    ap.add_argument("--channels", type=int, required=True)
    add_run_args(ap, required=True)
    a = ap.parse_args(argv)
    script_sha = sha256_of(__file__)  # at the start: the code that runs, even if the file is edited meanwhile

    L, NH, C, maxT = a.layers, a.heads, a.channels, a.max_seq
    check_run_args(ap, a, L, NH, C)
    if C % NH:
        ap.error("--channels %d is not a multiple of --heads %d" % (C, NH))
    V, Vp = VOCAB, padded_vocab(VOCAB)
    config = [("layers", L), ("heads", NH), ("channels", C), ("max_seq", maxT), ("vocab", V), ("padded_vocab", Vp),
              ("script_sha256", script_sha)]
    run(a, param_spec(L, C, maxT, V), lambda p, x, y: gpt2_forward(p, x, y, L, NH),
        (MODEL_MAGIC, MODEL_VERSION, maxT, V, L, NH, C, Vp), config)


if __name__ == "__main__":
    sys.exit(main())
