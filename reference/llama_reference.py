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
import hashlib
import math
import os
import sys

import numpy as np
import torch

VOCAB = 50257
MODEL_MAGIC, MODEL_VERSION = 20261123, 1
STATE_MAGIC, STATE_VERSION = 20240327, 2
DEFAULT_THETA, DEFAULT_EPS = 10000.0, 1e-5
LR, BETA1, BETA2, ADAM_EPS, WEIGHT_DECAY = 1e-4, 0.9, 0.999, 1e-8, 0.0


def padded_vocab(v):
    return (v + 127) // 128 * 128


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


def init_params(spec, gen, dtype, device):
    """Draws every parameter on the CPU generator (same values on any device), rounded to float32."""
    params = {}
    for name, shape, (kind, scale) in spec:
        w = torch.randn(shape, generator=gen, dtype=torch.float32) * scale
        if kind == "one":
            w = w + 1.0
        params[name] = w.to(device=device, dtype=dtype).requires_grad_(True)
    return params


def rmsnorm(x, w, eps):
    return x * torch.rsqrt((x * x).mean(dim=-1, keepdim=True) + eps) * w


def linear(x, w):
    return x @ w.transpose(0, 1)  # w is (out, in)


def silu(x):
    return x * torch.sigmoid(x)


def rope_tables(T, HS, theta, dtype, device):
    """cos and sin (T, HS/2) of angle[t, i] = t * theta^(-2i/HS), computed in float64."""
    i = torch.arange(HS // 2, dtype=torch.float64)
    inv_freq = theta ** (-2.0 * i / HS)
    angle = torch.arange(T, dtype=torch.float64)[:, None] * inv_freq[None, :]
    return angle.cos().to(device=device, dtype=dtype), angle.sin().to(device=device, dtype=dtype)


def rope(x, cos, sin):
    """x (..., T, HS): rotates the pairs (x[i], x[i + HS/2]) by angle[t, i] (half-split pairing)."""
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)


def attention(q, k, v, NH, NKV, cos, sin):
    """q (B, T, C), k and v (B, T, NKV*HS), head h on channels h*HS .. h*HS+HS; returns (B, T, C).

    Grouped-query: q head h reads kv head h // (NH/NKV)."""
    B, T, C = q.shape
    HS = C // NH
    q = rope(q.reshape(B, T, NH, HS).transpose(1, 2), cos, sin)                # (B, NH, T, HS)
    k = rope(k.reshape(B, T, NKV, HS).transpose(1, 2), cos, sin)               # (B, NKV, T, HS)
    v = v.reshape(B, T, NKV, HS).transpose(1, 2)
    k = k.repeat_interleave(NH // NKV, dim=1)                                  # (B, NH, T, HS)
    v = v.repeat_interleave(NH // NKV, dim=1)
    att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(HS))                    # (B, NH, T, T)
    future = torch.ones(T, T, dtype=torch.bool, device=q.device).triu(1)
    att = att.masked_fill(future, float("-inf")).softmax(dim=-1)
    return (att @ v).transpose(1, 2).reshape(B, T, C)


def llama_forward(p, idx, targets, L, NH, NKV, theta, eps):
    """Returns (logits (B, T, V), mean cross-entropy loss)."""
    B, T = idx.shape
    C = p["wte"].shape[1]
    cos, sin = rope_tables(T, C // NH, theta, p["wte"].dtype, p["wte"].device)
    x = p["wte"][idx]                                                          # (B, T, C)
    for l in range(L):
        h = rmsnorm(x, p["attn_norm"][l], eps)
        a = attention(linear(h, p["wq"][l]), linear(h, p["wk"][l]), linear(h, p["wv"][l]), NH, NKV, cos, sin)
        x = x + linear(a, p["wo"][l])
        h = rmsnorm(x, p["ffn_norm"][l], eps)
        h = silu(linear(h, p["w1"][l])) * linear(h, p["w3"][l])                # (B, T, FF)
        x = x + linear(h, p["w2"][l])
    x = rmsnorm(x, p["norm"], eps)
    logits = linear(x, p["lm_head"])                                           # (B, T, V), untied
    logp = logits.log_softmax(dim=-1)
    loss = -logp.gather(-1, targets.unsqueeze(-1)).mean()
    return logits, loss


@torch.no_grad()
def adamw_step(params, m, v, t):
    """One AdamW update, step t from 1, as FORMATS.md writes it (in place: wte's state is large)."""
    for name, w in params.items():
        g = w.grad
        m[name].mul_(BETA1).add_(g, alpha=1 - BETA1)
        v[name].mul_(BETA2).addcmul_(g, g, value=1 - BETA2)
        if WEIGHT_DECAY:
            w.mul_(1 - LR * WEIGHT_DECAY)  # the lr*wd*theta term, taken on the old theta
        denom = (v[name] / (1 - BETA2 ** t)).sqrt_().add_(ADAM_EPS)  # sqrt(v_hat) + eps
        w.addcdiv_(m[name], denom, value=-LR / (1 - BETA1 ** t))    # -= lr * m_hat / denom


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
    got = attention(torch.from_numpy(q), torch.from_numpy(k), torch.from_numpy(v), NH, NKV, cos, sin).numpy()
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


def f32(t):
    """A copy of a tensor as the little-endian float32 numpy array that goes into a file.

    Always a copy: for a float32 CPU tensor .numpy() shares memory, and the optimizer updates
    the parameters in place afterwards."""
    return np.array(t.detach().to("cpu", torch.float32).numpy(), dtype="<f4", copy=True)


def f32_bits(x):
    """Float.floatToIntBits(x) as Java writes it: the int32 whose bytes are the float32's."""
    return int(np.array([x], dtype="<f4").view("<i4")[0])


def pad_rows(a, rows):
    out = np.zeros((rows,) + a.shape[1:], dtype=a.dtype)
    out[: a.shape[0]] = a
    return out


def header(*slots):
    h = np.zeros(256, dtype="<i4")
    h[: len(slots)] = slots
    return h.tobytes()


def write_binary(path, head, arrays):
    with open(path, "wb") as f:
        f.write(head)
        for a in arrays:
            f.write(np.ascontiguousarray(a).tobytes())


def checksum_line(name, a):
    a64 = a.astype(np.float64)
    return "%s %.17g %.17g\n" % (name, a64.sum(), np.abs(a64).sum())


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    run = "--self-test" not in argv
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, required=run)
    ap.add_argument("--heads", type=int, required=run)
    ap.add_argument("--kv-heads", type=int, help="NKV, a divisor of --heads (default: --heads)")
    ap.add_argument("--channels", type=int, required=run)
    ap.add_argument("--ffn", type=int, required=run, help="FF, the SwiGLU hidden size")
    ap.add_argument("--max-seq", type=int, required=run)
    ap.add_argument("--batch", type=int, required=run)
    ap.add_argument("--seq", type=int, required=run)
    ap.add_argument("--seed", type=int, required=run)
    ap.add_argument("--out", required=run)
    ap.add_argument("--theta", type=float, default=DEFAULT_THETA, help="RoPE base (default %(default)s)")
    ap.add_argument("--eps", type=float, default=DEFAULT_EPS, help="RMSNorm eps (default %(default)s)")
    ap.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--self-test", action="store_true", help="check RoPE and attention against independent forms, then exit")
    a = ap.parse_args(argv)
    with open(__file__, "rb") as src:  # at the start: the code that runs, even if the file is edited meanwhile
        script_sha = hashlib.sha256(src.read()).hexdigest()
    if a.self_test:
        self_test()
        return 0

    NKV = a.heads if a.kv_heads is None else a.kv_heads
    L, NH, C, FF, maxT, B, T = a.layers, a.heads, a.channels, a.ffn, a.max_seq, a.batch, a.seq
    if min(L, NH, NKV, C, FF, maxT, B, T) < 1 or a.steps < 1:
        ap.error("every size and --steps must be positive")
    if NH % NKV:
        ap.error("--heads %d is not a multiple of --kv-heads %d" % (NH, NKV))
    if C % NH:
        ap.error("--channels %d is not a multiple of --heads %d" % (C, NH))
    if (C // NH) % 2:
        ap.error("head size --channels/--heads = %d is odd; RoPE needs it even" % (C // NH))
    if T > maxT:
        ap.error("--seq %d exceeds --max-seq %d" % (T, maxT))
    theta, eps = float(np.float32(a.theta)), float(np.float32(a.eps))  # what the header holds
    if not (math.isfinite(theta) and theta > 0):
        ap.error("--theta must be a positive finite float32")
    if not (math.isfinite(eps) and eps >= 0):
        ap.error("--eps must be a finite float32 >= 0")
    if a.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda but torch.cuda.is_available() is False")
    V, Vp = VOCAB, padded_vocab(VOCAB)
    HS = C // NH
    dtype = getattr(torch, a.dtype)
    dev = torch.device(a.device)
    if a.device == "cuda":  # keep float32 matmuls in float32, not TF32
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False

    gen = torch.Generator().manual_seed(a.seed)
    spec = param_spec(L, NKV, C, HS, FF, V)
    params = init_params(spec, gen, dtype, dev)
    tokens = torch.randint(0, V, (B * T + 1,), generator=gen, dtype=torch.int64)
    x = tokens[:-1].reshape(B, T)
    y = tokens[1:].reshape(B, T)
    x_d, y_d = x.to(dev), y.to(dev)

    padded = ("wte", "lm_head")  # (V, C) in the model, (Vp, C) with zero rows in the files
    # The files describe the model as it is at step 0, before any update.
    param_arrays = [(name, pad_rows(f32(params[name]), Vp) if name in padded else f32(params[name]))
                    for name, _, _ in spec]

    m = {n: torch.zeros_like(w) for n, w in params.items()}
    v = {n: torch.zeros_like(w) for n, w in params.items()}
    losses = []
    for step in range(a.steps):
        for w in params.values():
            w.grad = None
        logits, loss = llama_forward(params, x_d, y_d, L, NH, NKV, theta, eps)
        loss.backward()
        losses.append(loss.item())
        if step == 0:
            logits0 = f32(logits)
            loss0 = np.array([loss.item()], dtype="<f4")
            grads0 = [("grad." + name, pad_rows(f32(params[name].grad), Vp) if name in padded
                       else f32(params[name].grad)) for name, _, _ in spec]
        adamw_step(params, m, v, step + 1)

    x32 = x.numpy().astype("<i4")
    y32 = y.numpy().astype("<i4")
    os.makedirs(a.out, exist_ok=True)
    write_binary(os.path.join(a.out, "model.bin"),
                 header(MODEL_MAGIC, MODEL_VERSION, maxT, V, L, NH, NKV, C, FF, Vp, f32_bits(theta), f32_bits(eps)),
                 [arr for _, arr in param_arrays])
    write_binary(os.path.join(a.out, "state.bin"),
                 header(STATE_MAGIC, STATE_VERSION, B, T),
                 [x32, y32, logits0, loss0] + [arr for _, arr in grads0])
    with open(os.path.join(a.out, "losses.txt"), "w") as f:
        f.writelines(repr(l) + "\n" for l in losses)
    with open(os.path.join(a.out, "checksums.txt"), "w") as f:
        named = param_arrays + [("x", x32), ("y", y32), ("logits", logits0), ("loss", loss0)] + grads0
        f.writelines(checksum_line(n, arr) for n, arr in named)
    config = [("layers", L), ("heads", NH), ("kv_heads", NKV), ("channels", C), ("ffn", FF),
              ("max_seq", maxT), ("vocab", V), ("padded_vocab", Vp), ("theta", repr(a.theta)),
              ("eps", repr(a.eps)), ("batch", B), ("seq", T), ("seed", a.seed), ("dtype", a.dtype),
              ("steps", a.steps), ("script_sha256", script_sha), ("device", a.device),
              ("torch_version", torch.__version__)]
    with open(os.path.join(a.out, "config.txt"), "w") as f:
        f.writelines("%s %s\n" % kv for kv in config)
    print("wrote %s: loss %.6f -> %.6f over %d steps" % (a.out, losses[0], losses[-1], a.steps))


if __name__ == "__main__":
    sys.exit(main())
