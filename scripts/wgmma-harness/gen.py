# scripts/wgmma-harness: emits wgmma_ops.h: one inline-asm wrapper per N for wgmma m64nNk8 tf32 (both operands from smem)
out = []
for n in (64, 96, 128, 192, 256):
    r = n // 2
    regs = ", ".join("%%%d" % i for i in range(r))
    cons = ", ".join('"+f"(d[%d])' % i for i in range(r))
    out.append(f"""__device__ __forceinline__ void wgmma_n{n}(float* d, unsigned long long da, unsigned long long db) {{
  asm volatile("{{ .reg .pred p; setp.ne.b32 p, 1, 0; wgmma.mma_async.sync.aligned.m64n{n}k8.f32.tf32.tf32 {{{regs}}}, %{r}, %{r+1}, p, 1, 1; }}"
    : {cons} : "l"(da), "l"(db));
}}""")
open("wgmma_ops.h", "w").write("\n".join(out) + "\n")
