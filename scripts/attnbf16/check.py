#!/usr/bin/env python3
"""Checks kiln's bf16 flash attention (templates/cuda/flash_attention_bf16.cuh) on a GPU against PyTorch, then times it.

Loads the cubins scripts/attnbf16/build.sh wrote (CUBINS dir, first argument) through the driver API (ctypes), on
tensors PyTorch allocates. Correctness: y, lse, dq, dk, dv of the kernels and of PyTorch's bf16
scaled_dot_product_attention (flash), each against an fp32 reference (the math kernel in fp32 on the same bf16
inputs); max abs and max rel (= max |diff| / max |ref|) per tensor. It fails where kiln's error exceeds
3x PyTorch bf16's + 1e-3 * max |ref|. Cases: GPT-2 d12's packed qkv (B=8, T=1024, NH=12, HS=64, G=1),
a ragged one at HS 64 (B=3, T=200, NH=2) and at HS 128 (B=2, T=200, NH=3), and grouped-query strides (B=2, T=333, NH=8, KVH=2, HS=64, q/k/v apart).
The GPT-2 case runs on both HS 64 builds: fab64 (wgmma on sm_90a) and fab64_mma (mma.sync); every other
fab64_w*.cubin build.sh writes (warpgroups a block per kernel, blocks an SM; fab64_wbase: a baseline commit) runs GPT-2 at B=2 and the
small cases. The launch shapes (threads, rows a block, shared memory) are read per kernel from fab_cfg.
Timing (--time): forward, dq+dkdv, dq alone and dkdv alone of each kiln bf16 build (wgmma variants and mma.sync)
and PyTorch's bf16 flash and cuDNN SDPA forward and forward+backward, at B=8 and B=32, T=1024, NH=12, HS=64;
median of 50 event-timed runs of 10 launches.
"""
import ctypes
import math
import sys

import torch
import torch.nn.functional as F

cu = ctypes.CDLL("libcuda.so.1")


def ck(r, what):
    if r != 0:
        raise RuntimeError(f"{what}: CUDA driver error {r}")


class Operand(ctypes.Structure):
    _fields_ = [("off", ctypes.c_longlong), ("sb", ctypes.c_longlong), ("st", ctypes.c_longlong), ("sh", ctypes.c_longlong)]


class Module:
    def __init__(self, path):
        self.m = ctypes.c_void_p()
        ck(cu.cuModuleLoad(ctypes.byref(self.m), path.encode()), "cuModuleLoad " + path)

    def fn(self, name, smem):
        f = ctypes.c_void_p()
        ck(cu.cuModuleGetFunction(ctypes.byref(f), self.m, name.encode()), "cuModuleGetFunction " + name)
        ck(cu.cuFuncSetAttribute(f, 8, ctypes.c_int(smem)), "max dynamic shared " + name)   # CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
        return f

    def ints(self, name, n=None):
        """The int array global `name` (n ints, or all of it)."""
        p, size = ctypes.c_uint64(), ctypes.c_size_t()
        ck(cu.cuModuleGetGlobal_v2(ctypes.byref(p), ctypes.byref(size), self.m, name.encode()), "global " + name)
        n = size.value // 4 if n is None else n
        out = (ctypes.c_int * n)()
        torch.cuda.synchronize()
        ck(cu.cuMemcpyDtoH_v2(out, p, ctypes.c_size_t(4 * n)), "copy " + name)
        return list(out)


def launcher(f, grid, block, smem, *args):
    """A callable that launches f with these arguments (built once: timing loops measure the GPU, not ctypes)."""
    keep = []
    for a in args:
        if isinstance(a, torch.Tensor):
            keep.append(ctypes.c_void_p(a.data_ptr()))
        elif isinstance(a, Operand):
            keep.append(a)
        else:
            keep.append(ctypes.c_int(a))
    params = (ctypes.c_void_p * len(keep))(*[ctypes.cast(ctypes.pointer(k), ctypes.c_void_p) for k in keep])
    stream = ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)

    def go():
        ck(cu.cuLaunchKernel(f, grid[0], grid[1], 1, block, 1, 1, smem, stream, params, None), "launch")
    go.keep = (keep, params)
    return go


class Fab:
    """kiln's bf16 kernels at one HS."""

    def __init__(self, path):
        m = Module(path)
        cfg = m.ints("fab_cfg")   # per kernel (forward, dq, dkdv): threads, rows a block, dynamic shared memory
        if len(cfg) == 5:   # an older build (session 6's kernels, timed as a baseline): one geometry for all three
            cfg = [cfg[0], cfg[1], cfg[2], cfg[0], cfg[1], cfg[3], cfg[0], cfg[1], cfg[4]]
        self.nt, self.rows, self.smem = tuple(cfg[0::3]), tuple(cfg[1::3]), tuple(cfg[2::3])
        fwd, dq, dkdv = self.smem
        self.fwd, self.dq, self.dkdv = m.fn("fab_fwd", fwd), m.fn("fab_dq", dq), m.fn("fab_dkdv", dkdv)
        self.dq_acc, self.dkdv_acc = m.fn("fab_dq_acc", dq), m.fn("fab_dkdv_acc", dkdv)
        self.m = m


def elem_off(t, base):
    d = t.data_ptr() - base.data_ptr()
    assert d % 2 == 0 and d >= 0
    return d // 2


def operand(view, base):
    """(B, T, H, HS) view of the bf16 arena `base` -> Operand (head dim contiguous)."""
    assert view.stride(3) == 1
    return Operand(elem_off(view, base), view.stride(0), view.stride(1), view.stride(2))


def run_fab(fab, arena, q, k, v, dy, y, dq, dk, dv):
    """q, dy, y, dq: (B, T, NH, HS) views; k, v, dk, dv: (B, T, KVH, HS); lse, D (B, NH, T) fp32."""
    B, T, NH, HS = q.shape
    tiles = tuple((T + r - 1) // r for r in fab.rows)   # grid rows of the forward, dq, dkdv
    ops = dict(q=operand(q, arena), k=operand(k, arena), v=operand(v, arena), dy=operand(dy, arena), y=operand(y, arena),
               dq=operand(dq, arena), dk=operand(dk, arena), dv=operand(dv, arena))
    return ops, tiles, B, T, NH


def forward(fab, arena, ops, tiles, B, T, NH, G, lse):
    return launcher(fab.fwd, (B * NH, tiles[0]), fab.nt[0], fab.smem[0], arena, ops["q"], ops["k"], ops["v"], ops["y"], lse, B, T, NH, G)


def backward(fab, arena, ops, tiles, B, T, NH, G, lse, D, acc=False, gs=None):
    """gs: query heads each dkdv block sums (G: dk, dv per kv head; 1: per query head, ops dk and dv shaped as q)."""
    gs = G if gs is None else gs
    a = launcher(fab.dq_acc if acc else fab.dq, (B * NH, tiles[1]), fab.nt[1], fab.smem[1], arena, ops["q"], ops["k"], ops["v"], ops["dy"], lse, D, ops["dq"], B, T, NH, G)
    b = launcher(fab.dkdv_acc if acc else fab.dkdv, (B * (NH // gs), tiles[2]), fab.nt[2], fab.smem[2], arena, ops["q"], ops["k"], ops["v"], ops["dy"], lse, D, ops["dk"],
                 ops["dv"], B, T, NH, G, gs)

    def go():
        a()
        b()
    return go


def reference(q, k, v, dy, G, dtype):
    """SDPA over (B, T, H, HS) bf16 tensors at dtype; returns y, lse, dq, dk, dv (B, T, ., HS) in fp32."""
    qh, kh, vh = (x.detach().to(dtype).transpose(1, 2).contiguous().requires_grad_(True) for x in (q, k, v))
    ke, ve = (x.repeat_interleave(G, dim=1) for x in (kh, vh))
    if dtype == torch.float32:
        with torch.nn.attention.sdpa_kernel(torch.nn.attention.SDPBackend.MATH):
            y = F.scaled_dot_product_attention(qh, ke, ve, is_causal=True)
    else:
        with torch.nn.attention.sdpa_kernel(torch.nn.attention.SDPBackend.FLASH_ATTENTION):
            y = F.scaled_dot_product_attention(qh, ke, ve, is_causal=True)
    y.backward(dy.to(dtype).transpose(1, 2))
    T, HS = q.shape[1], q.shape[3]
    s = (qh.detach().float() @ ke.detach().float().transpose(-1, -2)) / math.sqrt(HS)
    s = s.masked_fill(torch.ones(T, T, dtype=torch.bool, device=q.device).triu(1), float("-inf"))
    lse = torch.logsumexp(s, dim=-1)   # (B, NH, T)
    f = lambda x: x.detach().float().transpose(1, 2)
    return f(y), lse, f(qh.grad), f(kh.grad), f(vh.grad)


def case(name, fab, B, T, NH, KVH, HS, packed, per_head=False):
    """per_head (q, k, v apart): dkdv writes one dk, dv partial per query head (GS = 1, the DSL's multi-query
    form), summed over each group here; the '+=' forms are not run then (the partials are always '=')."""
    torch.manual_seed(1234)
    G = NH // KVH
    print(f"{name}: B={B} T={T} NH={NH} KVH={KVH} HS={HS} ({'packed qkv' if packed else 'q, k, v apart'}"
          f"{', dk and dv per query head' if per_head else ''})")
    dev = "cuda"
    if packed:   # GPT-2: qkv (B, T, 3, NH, HS), y and dy (B, T, NH, HS), dqkv like qkv: one bf16 arena
        sizes = [B * T * 3 * NH * HS, B * T * NH * HS, B * T * NH * HS, B * T * 3 * NH * HS]
    else:        # grouped-query: q (B, T, NH, HS), k and v (B, T, KVH, HS) apart; dq, dk, dv likewise
        n, kv = B * T * NH * HS, B * T * KVH * HS
        sizes = [n, kv, kv, n, n, n, kv, kv] + ([n, n] if per_head else [])
    pad = [((s + 63) // 64) * 64 for s in sizes]
    arena = torch.zeros(sum(pad), dtype=torch.bfloat16, device=dev)
    parts, at = [], 0
    for s, p in zip(sizes, pad):
        parts.append(arena[at:at + s])
        at += p
    if packed:
        qkv = parts[0].view(B, T, 3, NH, HS)
        qkv.copy_(torch.randn(B, T, 3, NH, HS, device=dev))
        y, dy = parts[1].view(B, T, NH, HS), parts[2].view(B, T, NH, HS)
        dqkv = parts[3].view(B, T, 3, NH, HS)
        q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
        dq, dk, dv = dqkv[:, :, 0], dqkv[:, :, 1], dqkv[:, :, 2]
    else:
        q, k, v = parts[0].view(B, T, NH, HS), parts[1].view(B, T, KVH, HS), parts[2].view(B, T, KVH, HS)
        for x in (q, k, v):
            x.copy_(torch.randn(x.shape, device=dev))
        y, dy, dq, dk, dv = parts[3].view(B, T, NH, HS), parts[4].view(B, T, NH, HS), parts[5].view(B, T, NH, HS), \
            parts[6].view(B, T, KVH, HS), parts[7].view(B, T, KVH, HS)
    dy.copy_(torch.randn(dy.shape, device=dev))
    lse = torch.zeros(B, NH, T, device=dev)
    if per_head:
        dkh, dvh = parts[8].view(B, T, NH, HS), parts[9].view(B, T, NH, HS)
        ops, tiles, *_ = run_fab(fab, arena, q, k, v, dy, y, dq, dkh, dvh)
    else:
        ops, tiles, *_ = run_fab(fab, arena, q, k, v, dy, y, dq, dk, dv)
    forward(fab, arena, ops, tiles, B, T, NH, G, lse)()
    D = (dy.float() * y.float()).sum(-1).transpose(1, 2).contiguous()   # the DSL's dyy: sum dy*y over bf16 y
    backward(fab, arena, ops, tiles, B, T, NH, G, lse, D, gs=1 if per_head else None)()
    torch.cuda.synchronize()
    slack = {}   # per tensor: what rounding each partial to bf16 may add (2^-9 sum_j |partial_j|, at most)
    if per_head:   # query head h = kv head * G + j: sum the partials over j (fp32 sums of the bf16 partials)
        for x, xh, n in ((dk, dkh, "dk"), (dv, dvh, "dv")):
            parts_h = xh.float().view(B, T, KVH, G, HS)
            x.copy_(parts_h.sum(3).to(torch.bfloat16))
            slack[n] = 2.0 ** -9 * parts_h.abs().sum(3).max().item()
    # '+=': the gradients added to what is there (random bf16), then rounded once. The reference adds the '='
    # result, itself rounded, so the two differ by at most the two roundings: half a bf16 ulp of the sum and of
    # the gradient, elementwise <= 2^-8 (|sum| + |gradient|) (a kernel that stored '=' would miss by |before|)
    grads = [] if per_head else [dq, dk, dv]
    fresh = [x.float().clone() for x in grads]
    before = [torch.randn(x.shape, device=dev).to(torch.bfloat16) for x in grads]
    for x, b in zip(grads, before):
        x.copy_(b)
    if grads:
        backward(fab, arena, ops, tiles, B, T, NH, G, lse, D, acc=True)()
    torch.cuda.synchronize()
    acc_ok = True
    for n, x, b, f in zip(("dq", "dk", "dv"), grads, before, fresh):
        want = b.float() + f
        diff = (x.float() - want).abs()
        ratio = (diff / (2.0 ** -8 * (want.abs() + f.abs()) + 1e-30)).max().item()
        acc_ok &= ratio <= 1.0
        print(f"  += {n}: max |kiln - (before + gradient)| {diff.max().item():.3e}, at most {ratio:.3f} of 2^-8 (|sum| + |gradient|)")
    for x, f in zip(grads, fresh):
        x.copy_(f.to(torch.bfloat16))
    ref = reference(q, k, v, dy, G, torch.float32)
    tb = reference(q, k, v, dy, G, torch.bfloat16)
    ours = (y.float(), lse, dq.float(), dk.float(), dv.float())
    ok = acc_ok
    print(f"  {'tensor':6} {'kiln max abs':>13} {'kiln max rel':>13} {'torch bf16 abs':>15} {'torch bf16 rel':>15}")
    for n, a, t, r in zip(("y", "lse", "dq", "dk", "dv"), ours, tb, ref):
        scale = r.abs().max().item()
        ea, et = (a - r).abs().max().item(), (t - r).abs().max().item()
        bad = not (ea <= 3 * et + 1e-3 * scale + slack.get(n, 0.0)) or math.isnan(ea)
        ok &= not bad
        print(f"  {n:6} {ea:13.3e} {ea / scale:13.3e} {et:15.3e} {et / scale:15.3e}{'  FAIL' if bad else ''}")
    return ok


def median_ms(fn, reps=50, inner=10):
    """Median over reps of the mean of `inner` back-to-back calls between two events."""
    for _ in range(5):
        fn()
    ts = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        for _ in range(inner):
            fn()
        b.record()
        b.synchronize()
        ts.append(a.elapsed_time(b) / inner)
    ts.sort()
    return ts[len(ts) // 2]


ROUNDS = 7


def fwd_only(label):
    """build.sh's forward variants (wf*) but FAB_GROUP's and FAB_STRIDED's (wfg*, wfs*), which change dq and dkdv too"""
    return " wf" in label and " wfg" not in label and " wfs" not in label


def timings(variants, B):
    """variants: (label, Fab) pairs, each timed forward, backward, dq alone and dkdv alone."""
    T, NH, HS = 1024, 12, 64
    fl_fwd = 2 * B * NH * T * T * HS   # causal: half of 4·B·NH·T²·HS
    fl_bwd = 2.5 * fl_fwd
    dev = "cuda"
    torch.manual_seed(1)
    n3, n = B * T * 3 * NH * HS, B * T * NH * HS
    arena = torch.zeros(2 * n3 + 2 * n, dtype=torch.bfloat16, device=dev)
    qkv, y, dy, dqkv = arena[:n3].view(B, T, 3, NH, HS), arena[n3:n3 + n].view(B, T, NH, HS), \
        arena[n3 + n:n3 + 2 * n].view(B, T, NH, HS), arena[n3 + 2 * n:].view(B, T, 3, NH, HS)
    qkv.copy_(torch.randn(qkv.shape, device=dev))
    dy.copy_(torch.randn(dy.shape, device=dev))
    lse = torch.zeros(B, NH, T, device=dev)
    q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
    rows = []
    for label, f in variants:
        ops, tiles, *_ = run_fab(f, arena, q, k, v, dy, y, dqkv[:, :, 0], dqkv[:, :, 1], dqkv[:, :, 2])
        fw = forward(f, arena, ops, tiles, B, T, NH, 1, lse)
        fw()
        D = (dy.float() * y.float()).sum(-1).transpose(1, 2).contiguous()
        bw = backward(f, arena, ops, tiles, B, T, NH, 1, lse, D)
        dq = launcher(f.dq, (B * NH, tiles[1]), f.nt[1], f.smem[1], arena, ops["q"], ops["k"], ops["v"], ops["dy"], lse, D, ops["dq"], B, T, NH, 1)
        dkdv = launcher(f.dkdv, (B * NH, tiles[2]), f.nt[2], f.smem[2], arena, ops["q"], ops["k"], ops["v"], ops["dy"], lse, D, ops["dk"],
                        ops["dv"], B, T, NH, 1, 1)
        if fwd_only(label):   # a forward variant (build.sh FAB_FWD_SWEEP): its backward is the default build's
            rows.append((label, median_ms(fw), float("nan")))
            print(f"  {label} at B={B}: fwd {rows[-1][1]:.4f} ms a layer")
            continue
        rows.append((label, median_ms(fw), median_ms(bw)))
        print(f"  {label} at B={B}: fwd {rows[-1][1]:.4f}, dq alone {median_ms(dq):.4f}, dkdv alone {median_ms(dkdv):.4f} ms a layer"
              f" (threads {f.nt}, rows {f.rows})")
    qh, kh, vh = (x.transpose(1, 2).detach().requires_grad_(True) for x in (q, k, v))
    gy = dy.transpose(1, 2)
    for label, backend in (("PyTorch SDPA flash bf16 (bwd = fwd+bwd - fwd)", torch.nn.attention.SDPBackend.FLASH_ATTENTION),
                           ("PyTorch SDPA cuDNN bf16 (bwd = fwd+bwd - fwd)", torch.nn.attention.SDPBackend.CUDNN_ATTENTION)):
        try:
            with torch.nn.attention.sdpa_kernel(backend):
                tf = median_ms(lambda: F.scaled_dot_product_attention(qh, kh, vh, is_causal=True))
                tfb = median_ms(lambda: F.scaled_dot_product_attention(qh, kh, vh, is_causal=True).backward(gy))
            rows.append((label, tf, tfb - tf))
        except RuntimeError as e:
            print(f"  {label}: not run ({str(e).splitlines()[0]})")
    if len(variants) > 1:
        # the clock drifts over a call (the same build read 0.237 and 0.284 ms minutes apart): each build's forward again,
        # in rounds that visit every build in turn, 20 x 10 launches a visit; the best and the median visit
        fws = []
        D = (dy.float() * y.float()).sum(-1).transpose(1, 2).contiguous()
        for label, f in variants:
            ops, tiles, *_ = run_fab(f, arena, q, k, v, dy, y, dqkv[:, :, 0], dqkv[:, :, 1], dqkv[:, :, 2])
            fws.append((label, forward(f, arena, ops, tiles, B, T, NH, 1, lse)))
            if not fwd_only(label):   # and the backward (dq + dkdv) of the builds that differ there
                fws.append((label + " [dq+dkdv]", backward(f, arena, ops, tiles, B, T, NH, 1, lse, D)))
        seen = {label: [] for label, _ in fws}
        for _ in range(ROUNDS):
            for label, fw in fws:
                seen[label].append(median_ms(fw, reps=20))
        print(f"\nforward (and [dq+dkdv]) at B={B}, {ROUNDS} interleaved rounds (ms a layer): best, median")
        for label, ts in seen.items():
            ts.sort()
            print(f"  {label:55} {ts[0]:8.4f} {ts[len(ts) // 2]:8.4f}")
    print(f"\ntimings: B={B} T={T} NH={NH} HS={HS}, causal, median of 50 x 10 launches, ms per layer; "
          f"TFLOP/s on {fl_fwd / 1e9:.1f} GFLOP forward, {fl_bwd / 1e9:.1f} backward (dq + dkdv; D excluded)")
    print(f"  {'kernels':55} {'fwd ms':>8} {'TFLOP/s':>8} {'bwd ms':>8} {'TFLOP/s':>8} {'x12 layers ms':>14}")
    for label, f, b in rows:
        print(f"  {label:55} {f:8.4f} {fl_fwd / f / 1e9:8.1f} {b:8.4f} {fl_bwd / b / 1e9:8.1f} {12 * (f + b):14.2f}")


def main():
    cubins = sys.argv[1]
    torch.zeros(1, device="cuda")   # the primary context, current on this thread
    print(torch.cuda.get_device_name(), "torch", torch.__version__)
    fab64, fab128, fab64m = Fab(cubins + "/fab64.cubin"), Fab(cubins + "/fab128.cubin"), Fab(cubins + "/fab64_mma.cubin")
    # the other HS 64 wgmma builds build.sh writes (warpgroups a block of the forward, dq, dkdv), checked on the small cases and timed
    import os
    extra = [(name[len("fab64_"):-len(".cubin")], Fab(os.path.join(cubins, name))) for name in sorted(os.listdir(cubins))
             if name.startswith("fab64_w") and name.endswith(".cubin")]
    ok = case("gpt2-d12 attention (wgmma)", fab64, 8, 1024, 12, 12, 64, True)
    ok &= case("gpt2-d12 attention (mma.sync)", fab64m, 8, 1024, 12, 12, 64, True)
    ok &= case("ragged, HS 64 (wgmma)", fab64, 3, 200, 2, 2, 64, True)
    ok &= case("ragged", fab128, 2, 200, 3, 3, 128, True)
    ok &= case("grouped-query", fab64, 2, 333, 8, 2, 64, False)
    ok &= case("multi-query, partials per query head (wgmma)", fab64, 2, 45, 8, 1, 64, False, per_head=True)
    ok &= case("multi-query, partials per query head (mma.sync)", fab64m, 2, 45, 8, 1, 64, False, per_head=True)
    ok &= case("multi-query, partials per query head, HS 128", fab128, 2, 150, 4, 1, 128, False, per_head=True)
    for name, f in extra:
        ok &= case(f"gpt2-d12 attention B=2 (wgmma {name})", f, 2, 1024, 12, 12, 64, True)
        ok &= case(f"ragged, HS 64 (wgmma {name})", f, 3, 200, 2, 2, 64, True)
        ok &= case(f"grouped-query (wgmma {name})", f, 2, 333, 8, 2, 64, False)
        ok &= case(f"multi-query, partials per query head (wgmma {name})", f, 2, 45, 8, 1, 64, False, per_head=True)
    print("direct kernel check:", "PASS" if ok else "FAIL")
    if "--time" in sys.argv:
        variants = [("kiln bf16 wgmma (sm_90a), default build", fab64)] + [(f"kiln bf16 wgmma {n}", f) for n, f in extra] \
            + [("kiln bf16 mma.sync m16n8k16", fab64m)]
        for B in (8, 32):
            timings(variants, B)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
