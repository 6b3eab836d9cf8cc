// The bf16 flash-attention kernels (templates/cuda/flash_attention_bf16.cuh) as the attention externs'
// CUDA kernel when their tensors are stored bf16: which of an extern's tensors may be bf16 (Bf16Storage
// asks), and the rendering of one extern launch. Every operand goes to the kernel as an element offset and
// (batch, time, head) strides with the head dim contiguous, plus a kv group size G = NH / KVH: GPT-2's
// packed qkv (B, T, 3, NH, HS) is q, k and v at offsets 0, NH*HS and 2*NH*HS of one row, G = 1.
package kiln.codegen;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import kiln.dsl.Compute;
import kiln.dsl.DType;
import kiln.dsl.Dim;
import kiln.dsl.Expr;
import kiln.dsl.Tensor;

public final class FlashBf16 {
  private FlashBf16() {}

  /** Warps a block and rows a warp (FAB_WARPS, 16): each block owns 64 query rows (forward, dq) or key rows (dkdv). */
  static final int WARPS = 4, ROWS = 16 * WARPS, THREADS = 32 * WARPS;

  /** The externs this kernel serves, and per extern the arguments that stay fp32 (lse, D): the rest may be bf16. */
  private static final Map<String, Set<Integer>> FP32_ARGUMENTS = Map.of(
      "attention", Set.of(2),              // (qkv, y, lse)
      "attention_dq", Set.of(2, 3),        // (qkv, dy, lse, D, dqkv)
      "attention_dkdv", Set.of(2, 3));

  /** Whether extern x is one of the attention externs over a packed (B, T, 3, NH, HS) qkv that this kernel serves. */
  public static boolean serves(Expr.Extern x) {
    return FP32_ARGUMENTS.containsKey(x.op()) && x.tensors().getFirst().tensor().rank() == 5;
  }

  /** Whether argument i of extern x may be stored bf16 (the kernel reads and writes it so). */
  public static boolean bf16Argument(Expr.Extern x, int i) { return serves(x) && !FP32_ARGUMENTS.get(x.op()).contains(i); }

  /** Whether extern compute c's tensors have the storage this kernel takes: bf16 but for lse and D. */
  public static boolean fits(Compute c) {
    if (!(c.body() instanceof Expr.Extern x) || !serves(x)) return false;
    for (int i = 0; i < x.tensors().size(); i++) {
      DType want = bf16Argument(x, i) ? DType.BF16 : DType.F32;
      if (x.tensors().get(i).tensor().storage() != want) return false;
    }
    return true;
  }

  /** The head sizes the kernels take: multiples of 16 (the mma's k), at most 128 (registers). */
  public static boolean headSize(int hs) { return hs % 16 == 0 && hs > 0 && hs <= 128; }

  /** Whether every attention extern of p that these kernels serve has a head size they take, at these sizes. */
  public static boolean takes(kiln.models.Program p, java.util.function.ToIntFunction<Dim> size) {
    return p.graph().computes().stream().filter(c -> c.body() instanceof Expr.Extern x && serves(x))
        .allMatch(c -> headSize(size.applyAsInt(((Expr.Extern) c.body()).tensors().getFirst().tensor().dims().get(4))));
  }

  /** Dynamic shared memory of each kernel (the FAB_*_SMEM_BYTES macros). */
  static int sharedBytes(String op, int hs) {
    int ld = hs + 8;
    return switch (op) {
      case "attention" -> 2 * ld * (ROWS + 4 * 64);
      case "attention_dq" -> 2 * ld * (2 * ROWS + 4 * (hs > 64 ? 32 : 64));
      default -> {
        int bq = hs > 64 ? 16 : 32;
        yield 2 * ld * (2 * ROWS + 4 * bq) + 16 * bq;
      }
    };
  }

  /** One operand of the layout contract: element offset from the bf16 base and the strides of batch, time and head. */
  record Operand(String offset, String batch, String time, String head) {
    String c() { return "FabOperand{" + offset + ", " + batch + ", " + time + ", " + head + "}"; }
  }

  /** Operand `part` (q 0, k 1, v 2) of a packed (B, T, 3, NH, HS) tensor. */
  private static Operand packed(ExprRenderer r, Tensor t, int hs, int part) {
    String off = r.offset(t) + (part == 0 ? "" : " + " + part + "LL * " + stride(r, t, hs, 2));
    return new Operand(off, stride(r, t, hs, 0), stride(r, t, hs, 1), stride(r, t, hs, 3));
  }

  /** A (B, T, NH, HS) tensor. */
  private static Operand heads(ExprRenderer r, Tensor t, int hs) {
    return new Operand(r.offset(t), stride(r, t, hs, 0), stride(r, t, hs, 1), stride(r, t, hs, 2));
  }

  /** The stride of dim `position` of t, in elements, its last dim (the head dim, the macro HS in the kernel) as the number hs. */
  private static String stride(ExprRenderer r, Tensor t, int hs, int position) {
    StringBuilder s = new StringBuilder("(");
    for (int i = position + 1; i < t.rank() - 1; i++) s.append(r.dim(t.dims().get(i))).append(" * ");
    return s.append(hs).append("LL)").toString();
  }

  /** The launch of attention extern c (fits(c)), HS fixed at render time. */
  public static CudaRenderer.Rendered render(Compute c, java.util.function.ToIntFunction<Dim> size) {
    Expr.Extern x = (Expr.Extern) c.body();
    List<Tensor> args = x.tensors().stream().map(Expr.Load::tensor).toList();
    Tensor qkv = args.getFirst();
    Dim B = qkv.dims().get(0), T = qkv.dims().get(1), NH = qkv.dims().get(3);
    int hs = size.applyAsInt(qkv.dims().get(4));
    if (!headSize(hs)) {
      throw new IllegalArgumentException("bf16 flash attention needs a head size that is a multiple of 16, at most 128; found " + hs);
    }
    ExprRenderer r = new ExprRenderer(new CudaDialect());
    for (Tensor t : args) r.offset(t);
    String b = r.dim(B), t = r.dim(T), nh = r.dim(NH);
    String q = packed(r, qkv, hs, 0).c(), k = packed(r, qkv, hs, 1).c(), v = packed(r, qkv, hs, 2).c();
    String group = "1";   // G = NH / KVH: GPT-2's heads each have their own k and v
    String acc = c.accumulate() ? "true" : "false";
    String call = switch (x.op()) {
      case "attention" -> "fab_forward(H, " + q + ", " + k + ", " + v + ", " + heads(r, args.get(1), hs).c() + ", F + " + r.offset(args.get(2));
      case "attention_dq" -> "fab_backward_dq<" + acc + ">(H, " + q + ", " + k + ", " + v + ", " + heads(r, args.get(1), hs).c() + ", F + " + r.offset(args.get(2))
          + ", F + " + r.offset(args.get(3)) + ", " + packed(r, args.get(4), hs, 0).c();
      default -> "fab_backward_dkdv<" + acc + ">(H, " + q + ", " + k + ", " + v + ", " + heads(r, args.get(1), hs).c() + ", F + " + r.offset(args.get(2))
          + ", F + " + r.offset(args.get(3)) + ", " + packed(r, args.get(4), hs, 1).c() + ", " + packed(r, args.get(4), hs, 2).c();
    } + ", " + b + ", " + t + ", " + nh + ", " + group + ")";
    int smem = sharedBytes(x.op(), hs);
    Map<String, Object> m = new HashMap<>();
    m.put("hs", hs);
    m.put("smemMacro", switch (x.op()) {
      case "attention" -> "FAB_FWD_SMEM_BYTES";
      case "attention_dq" -> "FAB_DQ_SMEM_BYTES";
      default -> "FAB_DKV_SMEM_BYTES";
    });
    m.put("threads", THREADS);
    m.put("smem", smem);
    m.put("rows", ROWS);
    m.put("call", call);
    String kind = "attention_bf16" + x.op().substring("attention".length());
    // the dkdv grid's rows are (B, KVH); with G = 1 that is (B, NH)
    return CudaRenderer.render(kind, "attention_bf16.cu.ftl", kind, r, m,
        "extern " + x.op() + " over " + args.size() + " tensors (bf16 storage, bf16 mma.sync m16n8k16), HS=" + hs,
        new CudaRenderer.RowTiles(List.of(B, NH), T, ROWS, THREADS, smem));
  }
}
