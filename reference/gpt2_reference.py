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
import hashlib
import math
import os
import sys

import numpy as np
import torch

VOCAB = 50257
MODEL_MAGIC, MODEL_VERSION = 20240326, 3
STATE_MAGIC, STATE_VERSION = 20240327, 2
LN_EPS = 1e-5
LR, BETA1, BETA2, ADAM_EPS, WEIGHT_DECAY = 1e-4, 0.9, 0.999, 1e-8, 0.0


def padded_vocab(v):
    return (v + 127) // 128 * 128


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


def init_params(spec, gen, dtype, device):
    """Draws every parameter on the CPU generator (same values on any device), rounded to float32."""
    params = {}
    for name, shape, (kind, scale) in spec:
        w = torch.randn(shape, generator=gen, dtype=torch.float32) * scale
        if kind == "one":
            w = w + 1.0
        params[name] = w.to(device=device, dtype=dtype).requires_grad_(True)
    return params


def layernorm(x, w, b):
    mean = x.mean(dim=-1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)  # biased
    return (x - mean) / torch.sqrt(var + LN_EPS) * w + b


def linear(x, w, b=None):
    y = x @ w.transpose(0, 1)  # w is (out, in)
    return y if b is None else y + b


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def attention(qkv, NH):
    """qkv (B, T, 3C) split as q | k | v, head h on channels h*HS .. h*HS+HS of each; returns (B, T, C)."""
    B, T, C3 = qkv.shape
    C = C3 // 3
    HS = C // NH
    q, k, v = (t.reshape(B, T, NH, HS).transpose(1, 2) for t in qkv.split(C, dim=-1))  # (B, NH, T, HS)
    att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(HS))                            # (B, NH, T, T)
    future = torch.ones(T, T, dtype=torch.bool, device=qkv.device).triu(1)
    att = att.masked_fill(future, float("-inf")).softmax(dim=-1)
    return (att @ v).transpose(1, 2).reshape(B, T, C)


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
    x = layernorm(x, p["lnfw"], p["lnfb"])
    logits = linear(x, p["wte"])                                         # (B, T, V), tied weights
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


def f32(t):
    """A copy of a tensor as the little-endian float32 numpy array that goes into a file.

    Always a copy: for a float32 CPU tensor .numpy() shares memory, and the optimizer updates
    the parameters in place afterwards."""
    return np.array(t.detach().to("cpu", torch.float32).numpy(), dtype="<f4", copy=True)


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
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, required=True)
    ap.add_argument("--heads", type=int, required=True)
    ap.add_argument("--channels", type=int, required=True)
    ap.add_argument("--max-seq", type=int, required=True)
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--seq", type=int, required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--steps", type=int, default=10)
    a = ap.parse_args(argv)

    L, NH, C, maxT, B, T = a.layers, a.heads, a.channels, a.max_seq, a.batch, a.seq
    if min(L, NH, C, maxT, B, T) < 1 or a.steps < 1:
        ap.error("every size and --steps must be positive")
    if C % NH:
        ap.error("--channels %d is not a multiple of --heads %d" % (C, NH))
    if T > maxT:
        ap.error("--seq %d exceeds --max-seq %d" % (T, maxT))
    if a.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda but torch.cuda.is_available() is False")
    V, Vp = VOCAB, padded_vocab(VOCAB)
    dtype = getattr(torch, a.dtype)
    dev = torch.device(a.device)
    if a.device == "cuda":  # keep float32 matmuls in float32, not TF32
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False

    gen = torch.Generator().manual_seed(a.seed)
    spec = param_spec(L, C, maxT, V)
    params = init_params(spec, gen, dtype, dev)
    tokens = torch.randint(0, V, (B * T + 1,), generator=gen, dtype=torch.int64)
    x = tokens[:-1].reshape(B, T)
    y = tokens[1:].reshape(B, T)
    x_d, y_d = x.to(dev), y.to(dev)

    # The files describe the model as it is at step 0, before any update.
    param_arrays = [(name, f32(params[name])) for name, _, _ in spec]
    param_arrays[0] = ("wte", pad_rows(param_arrays[0][1], Vp))

    m = {n: torch.zeros_like(w) for n, w in params.items()}
    v = {n: torch.zeros_like(w) for n, w in params.items()}
    losses = []
    for step in range(a.steps):
        for w in params.values():
            w.grad = None
        logits, loss = gpt2_forward(params, x_d, y_d, L, NH)
        loss.backward()
        losses.append(loss.item())
        if step == 0:
            logits0 = f32(logits)
            loss0 = np.array([loss.item()], dtype="<f4")
            grads0 = [("grad." + name, f32(params[name].grad)) for name, _, _ in spec]
            grads0[0] = ("grad.wte", pad_rows(grads0[0][1], Vp))
        adamw_step(params, m, v, step + 1)

    x32 = x.numpy().astype("<i4")
    y32 = y.numpy().astype("<i4")
    os.makedirs(a.out, exist_ok=True)
    write_binary(os.path.join(a.out, "model.bin"),
                 header(MODEL_MAGIC, MODEL_VERSION, maxT, V, L, NH, C, Vp),
                 [arr for _, arr in param_arrays])
    write_binary(os.path.join(a.out, "state.bin"),
                 header(STATE_MAGIC, STATE_VERSION, B, T),
                 [x32, y32, logits0, loss0] + [arr for _, arr in grads0])
    with open(os.path.join(a.out, "losses.txt"), "w") as f:
        f.writelines(repr(l) + "\n" for l in losses)
    with open(os.path.join(a.out, "checksums.txt"), "w") as f:
        named = param_arrays + [("x", x32), ("y", y32), ("logits", logits0), ("loss", loss0)] + grads0
        f.writelines(checksum_line(n, arr) for n, arr in named)
    with open(__file__, "rb") as src:
        script_sha = hashlib.sha256(src.read()).hexdigest()
    config = [("layers", L), ("heads", NH), ("channels", C), ("max_seq", maxT), ("vocab", V),
              ("padded_vocab", Vp), ("batch", B), ("seq", T), ("seed", a.seed), ("dtype", a.dtype),
              ("steps", a.steps), ("script_sha256", script_sha), ("device", a.device),
              ("torch_version", torch.__version__)]
    with open(os.path.join(a.out, "config.txt"), "w") as f:
        f.writelines("%s %s\n" % kv for kv in config)
    print("wrote %s: loss %.6f -> %.6f over %d steps" % (a.out, losses[0], losses[-1], a.steps))


if __name__ == "__main__":
    sys.exit(main())
