"""What every reference script shares: the layers (linear, norms, GELU, RoPE, causal and
grouped-query attention, the loss), init, AdamW, the training run on one batch, and the files.

A family's script (gpt2_reference.py, llama_reference.py, gemma_reference.py) declares its
parameters (name, shape, init) and its forward, then calls run(): it draws the parameters and one
batch from a CPU generator seeded with --seed, trains --steps AdamW steps on that batch, and writes
model.bin (the family's header, the parameters at step 0 as float32, the rows named in `padded`
padded with zeros to Vp), state.bin (llm.c debug state v2: x, y, logits, loss and the gradients at
step 0), losses.txt, checksums.txt and config.txt into --out. reference/README.md describes them.
"""
import hashlib
import math
import os

import numpy as np
import torch

VOCAB = 50257
STATE_MAGIC, STATE_VERSION = 20240327, 2
LR, BETA1, BETA2, ADAM_EPS, WEIGHT_DECAY = 1e-4, 0.9, 0.999, 1e-8, 0.0


def linear(x, w, b=None):
    y = x @ w.transpose(0, 1)  # w is (out, in)
    return y if b is None else y + b


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def rmsnorm(x, w, eps):
    return x * torch.rsqrt((x * x).mean(dim=-1, keepdim=True) + eps) * w


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


def causal_attention(q, k, v):
    """q, k, v (B, NH, T, HS): softmax(q k^T / sqrt(HS)) over the positions up to each one, times v."""
    T, HS = q.shape[-2], q.shape[-1]
    att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(HS))                    # (B, NH, T, T)
    future = torch.ones(T, T, dtype=torch.bool, device=q.device).triu(1)
    att = att.masked_fill(future, float("-inf")).softmax(dim=-1)
    return att @ v


def gqa_attention(q, k, v, NH, NKV, HS, cos, sin):
    """q (B, T, NH*HS), k and v (B, T, NKV*HS), head h on channels h*HS .. h*HS+HS, RoPE on q and k.

    Grouped-query: q head h reads kv head h // (NH/NKV). Returns (B, T, NH*HS)."""
    B, T, _ = q.shape
    q = rope(q.reshape(B, T, NH, HS).transpose(1, 2), cos, sin)                # (B, NH, T, HS)
    k = rope(k.reshape(B, T, NKV, HS).transpose(1, 2), cos, sin)               # (B, NKV, T, HS)
    v = v.reshape(B, T, NKV, HS).transpose(1, 2)
    k = k.repeat_interleave(NH // NKV, dim=1)                                  # (B, NH, T, HS)
    v = v.repeat_interleave(NH // NKV, dim=1)
    return causal_attention(q, k, v).transpose(1, 2).reshape(B, T, NH * HS)


def logits_and_loss(x, head, targets):
    """The logits x @ head^T (B, T, V) and their mean cross-entropy against targets (B, T)."""
    logits = linear(x, head)
    logp = logits.log_softmax(dim=-1)
    loss = -logp.gather(-1, targets.unsqueeze(-1)).mean()
    return logits, loss


def add_rope_args(ap, eps):
    ap.add_argument("--theta", type=float, default=10000.0, help="RoPE base (default %(default)s)")
    ap.add_argument("--eps", type=float, default=eps, help="RMSNorm eps (default %(default)s)")


def rope_consts(ap, a):
    """--theta and --eps rounded to float32, as the model file's header holds them."""
    theta, eps = float(np.float32(a.theta)), float(np.float32(a.eps))
    if not (math.isfinite(theta) and theta > 0):
        ap.error("--theta must be a positive finite float32")
    if not (math.isfinite(eps) and eps >= 0):
        ap.error("--eps must be a finite float32 >= 0")
    return theta, eps


def padded_vocab(v):
    return (v + 127) // 128 * 128


def add_run_args(ap, required):
    """The options every script takes besides its model shape."""
    ap.add_argument("--max-seq", type=int, required=required)
    ap.add_argument("--batch", type=int, required=required)
    ap.add_argument("--seq", type=int, required=required)
    ap.add_argument("--seed", type=int, required=required)
    ap.add_argument("--out", required=required)
    ap.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--autocast", choices=["none", "bf16"], default="none",
                    help="bf16: the forward under torch.autocast(bfloat16) over float32 params, as PyTorch users train in "
                         "bf16 (a yardstick for kiln's bf16 losses, not a fixture)")


def check_run_args(ap, a, *sizes):
    """Every size positive, T <= maxT, CUDA present when asked for."""
    if min(sizes + (a.max_seq, a.batch, a.seq)) < 1 or a.steps < 1:
        ap.error("every size and --steps must be positive")
    if a.seq > a.max_seq:
        ap.error("--seq %d exceeds --max-seq %d" % (a.seq, a.max_seq))
    if a.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda but torch.cuda.is_available() is False")
    if a.autocast != "none" and a.dtype != "float32":
        ap.error("--autocast %s needs --dtype float32 (the master weights), found --dtype %s" % (a.autocast, a.dtype))


def sha256_of(path):
    with open(path, "rb") as src:
        return hashlib.sha256(src.read()).hexdigest()


def init_params(spec, gen, dtype, device):
    """Draws every parameter on the CPU generator (same values on any device), rounded to float32.

    spec: (name, shape, (kind, scale)); 'normal' draws N(0, scale), 'one' 1 + N(0, scale)."""
    params = {}
    for name, shape, (kind, scale) in spec:
        w = torch.randn(shape, generator=gen, dtype=torch.float32) * scale
        if kind == "one":
            w = w + 1.0
        params[name] = w.to(device=device, dtype=dtype).requires_grad_(True)
    return params


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


def run(a, spec, forward, model_header, config, padded=("wte",)):
    """Draws params then one batch, trains a.steps AdamW steps on it and writes the five files.

    forward(params, x, y) returns (logits (B, T, V), mean loss); model_header is model.bin's header
    ints; config the (key, value) pairs config.txt starts with (the script's shape)."""
    V, Vp = VOCAB, padded_vocab(VOCAB)
    dtype = getattr(torch, a.dtype)
    dev = torch.device(a.device)
    if a.device == "cuda":  # keep float32 matmuls in float32, not TF32
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    B, T = a.batch, a.seq
    gen = torch.Generator().manual_seed(a.seed)
    params = init_params(spec, gen, dtype, dev)
    tokens = torch.randint(0, V, (B * T + 1,), generator=gen, dtype=torch.int64)
    x = tokens[:-1].reshape(B, T)
    y = tokens[1:].reshape(B, T)
    x_d, y_d = x.to(dev), y.to(dev)

    def as_file(name, t):  # (V, C) in the model, (Vp, C) with zero rows in the files
        return pad_rows(f32(t), Vp) if name in padded else f32(t)

    # The files describe the model as it is at step 0, before any update.
    param_arrays = [(name, as_file(name, params[name])) for name, _, _ in spec]
    m = {n: torch.zeros_like(w) for n, w in params.items()}
    v = {n: torch.zeros_like(w) for n, w in params.items()}
    losses = []
    for step in range(a.steps):
        for w in params.values():
            w.grad = None
        with torch.autocast(device_type=a.device, dtype=torch.bfloat16, enabled=a.autocast == "bf16"):
            logits, loss = forward(params, x_d, y_d)
        loss.backward()
        losses.append(loss.item())
        if step == 0:
            logits0 = f32(logits)
            loss0 = np.array([loss.item()], dtype="<f4")
            grads0 = [("grad." + name, as_file(name, params[name].grad)) for name, _, _ in spec]
        adamw_step(params, m, v, step + 1)

    x32 = x.numpy().astype("<i4")
    y32 = y.numpy().astype("<i4")
    os.makedirs(a.out, exist_ok=True)
    write_binary(os.path.join(a.out, "model.bin"), header(*model_header), [arr for _, arr in param_arrays])
    write_binary(os.path.join(a.out, "state.bin"), header(STATE_MAGIC, STATE_VERSION, B, T),
                 [x32, y32, logits0, loss0] + [arr for _, arr in grads0])
    with open(os.path.join(a.out, "losses.txt"), "w") as f:
        f.writelines(repr(l) + "\n" for l in losses)
    with open(os.path.join(a.out, "checksums.txt"), "w") as f:
        named = param_arrays + [("x", x32), ("y", y32), ("logits", logits0), ("loss", loss0)] + grads0
        f.writelines(checksum_line(n, arr) for n, arr in named)
    config = list(config) + [("batch", B), ("seq", T), ("seed", a.seed), ("dtype", a.dtype), ("steps", a.steps)]
    if a.autocast != "none":
        config.append(("autocast", a.autocast))
    with open(os.path.join(a.out, "config.txt"), "w") as f:
        f.writelines("%s %s\n" % kv for kv in config)
        f.write("device %s\ntorch_version %s\n" % (a.device, torch.__version__))
    print("wrote %s: loss %.6f -> %.6f over %d steps" % (a.out, losses[0], losses[-1], a.steps))
    return losses
