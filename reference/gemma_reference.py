#!/usr/bin/env python3
"""A Gemma-style decoder in plain PyTorch: writes the reference files kiln's Gemma tests compare against.

For one config and seed it builds a randomly initialised model in kiln's Gemma layout, runs one
batch forward and backward, trains 10 AdamW steps on that batch and writes model.bin (kiln Gemma
file v1: header [20261130, 1, maxT, V, L, NH, NKV, HS, C, FF, Vp, theta bits, eps bits], then the 11
parameters as float32), state.bin, losses.txt, checksums.txt and config.txt into --out
(reference_common.run; reference/README.md).

The model: token embedding scaled by sqrt(C); per layer RMSNorm scaling by (1 + w) -> q (NH heads),
k and v (NKV shared heads, multi-query at 1) with a head size HS of their own, not C/NH -> RoPE
(half-split, reference_common.rope) -> causal attention scaled by 1/sqrt(HS) -> output projection
(C, NH*HS) -> residual -> RMSNorm(1 + w) -> GeGLU (gelu_tanh(x W_gate^T) * x W_up^T) W_down^T ->
residual; then RMSNorm(1 + w) and logits against the tied embedding; no biases. Norm weights are
drawn N(0, 0.1) (Gemma initialises them to 0, a scale of 1) so that their gradients are exercised.
"""
import argparse
import math
import sys

import torch

from reference_common import (VOCAB, add_rope_args, add_run_args, check_run_args, f32_bits, gelu_tanh, gqa_attention, linear,
                              logits_and_loss, padded_vocab, rmsnorm, rope_consts, rope_tables, run, sha256_of)

MODEL_MAGIC, MODEL_VERSION = 20261130, 1


def param_spec(L, NH, NKV, HS, C, FF, V):
    """The 11 parameters in file order: (name, shape, init); wte is also the output head."""
    return [
        ("wte",       (V, C),           ("normal", 0.02)),   # written padded to (Vp, C)
        ("attn_norm", (L, C),           ("normal", 0.1)),
        ("wq",        (L, NH * HS, C),  ("normal", 0.02)),
        ("wk",        (L, NKV * HS, C), ("normal", 0.02)),
        ("wv",        (L, NKV * HS, C), ("normal", 0.02)),
        ("wo",        (L, C, NH * HS),  ("normal", 0.02)),
        ("ffn_norm",  (L, C),           ("normal", 0.1)),
        ("w_gate",    (L, FF, C),       ("normal", 0.02)),
        ("w_up",      (L, FF, C),       ("normal", 0.02)),
        ("w_down",    (L, C, FF),       ("normal", 0.02)),
        ("norm",      (C,),             ("normal", 0.1)),
    ]


def gemma_forward(p, idx, targets, L, NH, NKV, HS, theta, eps):
    """Returns (logits (B, T, V), mean cross-entropy loss)."""
    B, T = idx.shape
    C = p["wte"].shape[1]
    cos, sin = rope_tables(T, HS, theta, p["wte"].dtype, p["wte"].device)
    x = p["wte"][idx] * math.sqrt(C)                                           # (B, T, C)
    for l in range(L):
        h = rmsnorm(x, 1.0 + p["attn_norm"][l], eps)
        a = gqa_attention(linear(h, p["wq"][l]), linear(h, p["wk"][l]), linear(h, p["wv"][l]), NH, NKV, HS, cos, sin)
        x = x + linear(a, p["wo"][l])
        h = rmsnorm(x, 1.0 + p["ffn_norm"][l], eps)
        h = gelu_tanh(linear(h, p["w_gate"][l])) * linear(h, p["w_up"][l])    # (B, T, FF)
        x = x + linear(h, p["w_down"][l])
    return logits_and_loss(rmsnorm(x, 1.0 + p["norm"], eps), p["wte"], targets)  # tied


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, required=True)
    ap.add_argument("--heads", type=int, required=True)
    ap.add_argument("--kv-heads", type=int, required=True, help="NKV, a divisor of --heads (1: multi-query)")
    ap.add_argument("--head-size", type=int, required=True, help="HS, even (RoPE), independent of --channels/--heads")
    ap.add_argument("--channels", type=int, required=True)
    ap.add_argument("--ffn", type=int, required=True, help="FF, the GeGLU hidden size")
    add_rope_args(ap, eps=1e-6)
    add_run_args(ap, required=True)
    a = ap.parse_args(argv)
    script_sha = sha256_of(__file__)

    L, NH, NKV, HS, C, FF, maxT = a.layers, a.heads, a.kv_heads, a.head_size, a.channels, a.ffn, a.max_seq
    check_run_args(ap, a, L, NH, NKV, HS, C, FF)
    if NH % NKV:
        ap.error("--heads %d is not a multiple of --kv-heads %d" % (NH, NKV))
    if HS % 2:
        ap.error("--head-size %d is odd; RoPE needs it even" % HS)
    theta, eps = rope_consts(ap, a)
    V, Vp = VOCAB, padded_vocab(VOCAB)
    config = [("layers", L), ("heads", NH), ("kv_heads", NKV), ("head_size", HS), ("channels", C), ("ffn", FF),
              ("max_seq", maxT), ("vocab", V), ("padded_vocab", Vp), ("theta", repr(a.theta)), ("eps", repr(a.eps)),
              ("script_sha256", script_sha)]
    run(a, param_spec(L, NH, NKV, HS, C, FF, V), lambda p, x, y: gemma_forward(p, x, y, L, NH, NKV, HS, theta, eps),
        (MODEL_MAGIC, MODEL_VERSION, maxT, V, L, NH, NKV, HS, C, FF, Vp, f32_bits(theta), f32_bits(eps)), config)


if __name__ == "__main__":
    sys.exit(main())
