#!/usr/bin/env python3
"""Llama in plain PyTorch: writes the reference files kiln's Llama tests compare against.

For one config and seed it builds a randomly initialised Llama (kiln's Llama layout, described in
reference/README.md), runs one batch forward and backward, then trains 10 AdamW steps on that same
batch, and writes into --out: model.bin (kiln Llama checkpoint v1), state.bin (llm.c debug state),
losses.txt, checksums.txt and config.txt.

Pre-norm blocks with RMSNorm, grouped-query attention with RoPE (half-split pairing, as Hugging
Face and Meta's reference), SwiGLU feed-forward, untied lm_head, no biases. It computes in float64
by default so that the files are ground truth for a float32 trainer; everything written is float32,
and the parameters, theta and eps are rounded to float32 before the first step so that the
model.bin a trainer loads is exactly the model used. --self-test checks RoPE and grouped-query
attention against independent formulations and exits.
Works with PyTorch 1.13 (Debian, CPU) and 2.x (CPU or CUDA).
"""
import argparse
import math
import sys

import numpy as np
import torch

from reference_common import (VOCAB, add_rope_args, add_run_args, check_run_args, f32_bits, gqa_attention, linear, logits_and_loss,
                              padded_vocab, rmsnorm, rope, rope_consts, rope_tables, run, sha256_of)

MODEL_MAGIC, MODEL_VERSION = 20261123, 1


def param_spec(L, NKV, C, HS, FF, V):
    """The 12 parameters in file order: (name, shape, init). Declared once; every file follows it.

    init is (kind, scale): 'normal' draws N(0, scale); 'one' draws 1 + N(0, scale).
    """
    KV = NKV * HS
    return [
        ("wte",       (V, C),       ("normal", 0.02)),   # written padded to (Vp, C)
        ("attn_norm", (L, C),       ("one", 0.1)),
        ("wq",        (L, C, C),    ("normal", 0.02)),
        ("wk",        (L, KV, C),   ("normal", 0.02)),
        ("wv",        (L, KV, C),   ("normal", 0.02)),
        ("wo",        (L, C, C),    ("normal", 0.02)),
        ("ffn_norm",  (L, C),       ("one", 0.1)),
        ("w1",        (L, FF, C),   ("normal", 0.02)),
        ("w3",        (L, FF, C),   ("normal", 0.02)),
        ("w2",        (L, C, FF),   ("normal", 0.02)),
        ("norm",      (C,),         ("one", 0.1)),
        ("lm_head",   (V, C),       ("normal", 0.02)),   # written padded to (Vp, C)
    ]


def silu(x):
    return x * torch.sigmoid(x)


def llama_forward(p, idx, targets, L, NH, NKV, theta, eps):
    """Returns (logits (B, T, V), mean cross-entropy loss)."""
    B, T = idx.shape
    C = p["wte"].shape[1]
    cos, sin = rope_tables(T, C // NH, theta, p["wte"].dtype, p["wte"].device)
    x = p["wte"][idx]                                                          # (B, T, C)
    for l in range(L):
        h = rmsnorm(x, p["attn_norm"][l], eps)
        a = gqa_attention(linear(h, p["wq"][l]), linear(h, p["wk"][l]), linear(h, p["wv"][l]), NH, NKV, C // NH, cos, sin)
        x = x + linear(a, p["wo"][l])
        h = rmsnorm(x, p["ffn_norm"][l], eps)
        h = silu(linear(h, p["w1"][l])) * linear(h, p["w3"][l])                # (B, T, FF)
        x = x + linear(h, p["w2"][l])
    return logits_and_loss(rmsnorm(x, p["norm"], eps), p["lm_head"], targets)  # untied


def self_test():
    """RoPE against a complex-number formulation and Hugging Face's rotate_half form, and
    grouped-query attention against a per-head loop; raises AssertionError on a mismatch."""
    rng = np.random.default_rng(0)
    checks = 0
    for HS, T, theta in [(2, 5, 10000.0), (8, 17, 10000.0), (16, 37, 500000.0), (64, 64, 10000.0), (6, 9, 1.5)]:
        x = rng.standard_normal((2, 3, T, HS))
        half = HS // 2
        freqs = 1.0 / theta ** (np.arange(0, HS, 2) / HS)
        cis = np.exp(1j * np.outer(np.arange(T), freqs))
        z = (x[..., :half] + 1j * x[..., half:]) * cis
        want = np.concatenate([z.real, z.imag], axis=-1)
        cos, sin = rope_tables(T, HS, theta, torch.float64, "cpu")
        got = rope(torch.from_numpy(x), cos, sin).numpy()
        assert np.allclose(got, want, rtol=0, atol=1e-12), "rope != complex form (HS=%d, T=%d, theta=%g): max diff %g" % (
            HS, T, theta, np.abs(got - want).max())
        xt = torch.from_numpy(x)
        rotate_half = torch.cat((-xt[..., half:], xt[..., :half]), dim=-1)
        hf = xt * torch.cat((cos, cos), dim=-1) + rotate_half * torch.cat((sin, sin), dim=-1)
        assert np.allclose(got, hf.numpy(), rtol=0, atol=1e-12), "rope != rotate_half form (HS=%d)" % HS
        checks += 2

    B, T, NH, NKV, HS, theta = 2, 11, 6, 3, 8, 10000.0
    q = rng.standard_normal((B, T, NH * HS))
    k = rng.standard_normal((B, T, NKV * HS))
    v = rng.standard_normal((B, T, NKV * HS))
    cos, sin = rope_tables(T, HS, theta, torch.float64, "cpu")
    got = gqa_attention(torch.from_numpy(q), torch.from_numpy(k), torch.from_numpy(v), NH, NKV, HS, cos, sin).numpy()
    cis = np.exp(1j * np.outer(np.arange(T), 1.0 / theta ** (np.arange(0, HS, 2) / HS)))

    def rotated(a):
        z = (a[..., :HS // 2] + 1j * a[..., HS // 2:]) * cis
        return np.concatenate([z.real, z.imag], axis=-1)

    want = np.zeros((B, T, NH * HS))
    for b in range(B):
        for h in range(NH):
            g = h // (NH // NKV)
            qh = rotated(q[b, :, h * HS:(h + 1) * HS])
            kh = rotated(k[b, :, g * HS:(g + 1) * HS])
            vh = v[b, :, g * HS:(g + 1) * HS]
            for t in range(T):
                s = kh[: t + 1] @ qh[t] / math.sqrt(HS)
                w = np.exp(s - s.max())
                want[b, t, h * HS:(h + 1) * HS] = (w / w.sum()) @ vh[: t + 1]
    assert np.allclose(got, want, rtol=0, atol=1e-12), "attention != per-head loop: max diff %g" % np.abs(got - want).max()
    checks += 1
    print("self-test passed: %d checks (rope vs complex and rotate_half forms, grouped-query attention)" % checks)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    need = "--self-test" not in argv
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, required=need)
    ap.add_argument("--heads", type=int, required=need)
    ap.add_argument("--kv-heads", type=int, help="NKV, a divisor of --heads (default: --heads)")
    ap.add_argument("--channels", type=int, required=need)
    ap.add_argument("--ffn", type=int, required=need, help="FF, the SwiGLU hidden size")
    add_rope_args(ap, eps=1e-5)
    ap.add_argument("--self-test", action="store_true", help="check RoPE and attention against independent forms, then exit")
    add_run_args(ap, required=need)
    a = ap.parse_args(argv)
    script_sha = sha256_of(__file__)  # at the start: the code that runs, even if the file is edited meanwhile
    if a.self_test:
        self_test()
        return 0

    NKV = a.heads if a.kv_heads is None else a.kv_heads
    L, NH, C, FF, maxT = a.layers, a.heads, a.channels, a.ffn, a.max_seq
    check_run_args(ap, a, L, NH, NKV, C, FF)
    if NH % NKV:
        ap.error("--heads %d is not a multiple of --kv-heads %d" % (NH, NKV))
    if C % NH:
        ap.error("--channels %d is not a multiple of --heads %d" % (C, NH))
    if (C // NH) % 2:
        ap.error("head size --channels/--heads = %d is odd; RoPE needs it even" % (C // NH))
    theta, eps = rope_consts(ap, a)
    V, Vp = VOCAB, padded_vocab(VOCAB)
    config = [("layers", L), ("heads", NH), ("kv_heads", NKV), ("channels", C), ("ffn", FF), ("max_seq", maxT),
              ("vocab", V), ("padded_vocab", Vp), ("theta", repr(a.theta)), ("eps", repr(a.eps)),
              ("script_sha256", script_sha)]
    run(a, param_spec(L, NKV, C, C // NH, FF, V), lambda p, x, y: llama_forward(p, x, y, L, NH, NKV, theta, eps),
        (MODEL_MAGIC, MODEL_VERSION, maxT, V, L, NH, NKV, C, FF, Vp, f32_bits(theta), f32_bits(eps)), config,
        padded=("wte", "lm_head"))


if __name__ == "__main__":
    sys.exit(main())
