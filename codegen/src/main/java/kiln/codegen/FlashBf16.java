// The bf16 flash-attention kernels (templates/cuda/flash_attention_bf16.cuh through attention_bf16.cu.ftl):
// an entry of Externs for attention externs whose tensors are stored bf16 (lse and D stay fp32), over
// every layout AttentionLayout describes (dk and dv per key/value head, or per query head). Also which of an extern's
// tensors may be bf16 (Bf16Storage asks), and whether a whole program can take these kernels (Session asks).
package kiln.codegen;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.ToIntFunction;
import kiln.dsl.Compute;
import kiln.dsl.DType;
import kiln.dsl.Dim;
import kiln.dsl.Expr;
import kiln.dsl.Tensor;

public final class FlashBf16 {
  private FlashBf16() {}

  /**
   * Warpgroups (4 warps, 64 rows) a block of op's kernel at head size hs (the header's FAB_{FWD,DQ,DKV}_WGS):
   * two for dq at HS 64, whose warpgroups share the K, V tiles the block loads (measured faster on the H200;
   * the forward and dkdv measured slower so), else one. Each block owns 64 x this many query rows (forward, dq)
   * or keys (dkdv).
   */
  static int warpgroups(String op, int hs) { return op.equals(Externs.ATTENTION_DQ) && hs == 64 ? 2 : 1; }

  /** Per attention extern, the arguments that stay fp32 (lse, D; Externs.attention's order): the rest may be bf16. */
  private static final Map<String, Set<Integer>> FP32_ARGUMENTS = Map.of(
      Externs.ATTENTION, Set.of(4),              // [q, k, v, y, lse]
      Externs.ATTENTION_DQ, Set.of(4, 5),        // [q, k, v, dy, lse, D, dq]
      Externs.ATTENTION_DKDV, Set.of(4, 5));     // [q, k, v, dy, lse, D, dk, dv]

  static final Externs.Entry ENTRY = new Externs.Entry() {
    public List<String> ops() { return List.copyOf(FP32_ARGUMENTS.keySet()); }

    public String unsupported(Compute c, CudaSchedule s, ToIntFunction<Dim> size) {
      String why = layoutUnsupported(c, size);
      if (why != null) return why;
      Expr.Extern x = (Expr.Extern) c.body();
      for (int i = 0; i < x.tensors().size(); i++) {
        Tensor t = x.tensors().get(i).tensor();
        DType want = bf16Argument(x, i) ? DType.BF16 : DType.F32;
        if (t.storage() != want) return "bf16 flash attention: " + t.name() + " stored " + want + ", found " + t.storage();
      }
      return null;
    }

    public Rendered render(Compute c, CudaSchedule s, ToIntFunction<Dim> size) { return FlashBf16.render(c, size); }
  };

  /** Whether argument i of attention extern x may be stored bf16 (the kernels read and write it so). */
  public static boolean bf16Argument(Expr.Extern x, int i) {
    Set<Integer> fp32 = FP32_ARGUMENTS.get(x.op());
    return fp32 != null && !fp32.contains(i);
  }

  /** Why these kernels cannot run attention extern c at these sizes whatever its storage (one line), or null. */
  static String layoutUnsupported(Compute c, ToIntFunction<Dim> size) {
    String why = Externs.attentionUnsupported(c, size);
    if (why != null) return why;
    int hs = size.applyAsInt(Externs.attentionLayout(c).headSize());
    // the head sizes the kernels take: multiples of 16 (the mma's k), at most 128 (registers)
    if (hs % 16 != 0 || hs <= 0 || hs > 128) return "bf16 flash attention: a head size that is a multiple of 16, at most 128, found " + hs;
    return null;
  }

  /** Whether every attention extern of p can run on these kernels at these sizes: then Bf16Storage may store their tensors bf16. */
  public static boolean takes(kiln.models.Program p, ToIntFunction<Dim> size) {
    return p.graph().computes().stream().filter(c -> c.body() instanceof Expr.Extern x && FP32_ARGUMENTS.containsKey(x.op()))
        .allMatch(c -> layoutUnsupported(c, size) == null);
  }

  /** Keys of the wgmma forward's tiles left of the diagonal (the header's FAB_FWD_BN): four K, V buffers of this many rows. */
  static final int FWD_BN = 128;

  /**
   * Dynamic shared memory of each kernel (the FAB_*_SMEM_BYTES macros): the mma.sync kernels' and, at HS 64,
   * at least the wgmma kernels' (1024 bytes of alignment slack and 64-row tiles of 128 bytes a row: one Q
   * tile a warpgroup and four K, V buffers of FWD_BN rows in the forward, one Q and one dy a warpgroup and four in dq, one K and
   * one V a warpgroup and four and lse, D in dkdv), whichever the device compiles.
   */
  static int sharedBytes(String op, int hs) {
    int ld = hs + 8, wgs = warpgroups(op, hs), rows = 64 * wgs;
    int mma = switch (op) {
      case Externs.ATTENTION -> 2 * ld * (rows + 4 * 64);
      case Externs.ATTENTION_DQ -> 2 * ld * (2 * rows + 4 * (hs > 64 ? 32 : 64));
      default -> {
        int bq = hs > 64 ? 16 : 32;
        yield 2 * ld * (2 * rows + 4 * bq) + 16 * bq;
      }
    };
    if (hs != 64) return mma;
    int wg = switch (op) {
      case Externs.ATTENTION -> 1024 + 64 * 128 * wgs + FWD_BN * 128 * 4;
      case Externs.ATTENTION_DQ -> 1024 + 64 * 128 * (2 * wgs + 4);
      default -> 1024 + 64 * 128 * (2 * wgs + 4) + 16 * 64;
    };
    return Math.max(mma, wg);
  }

  /**
   * The launch of attention extern c (supported), HS fixed at render time. Grid (B x query heads, query
   * tiles) for the forward and dq, (B x key/value heads, key tiles) for dkdv, whose blocks sum over their
   * G query heads. Each bf16 operand is an element offset from the bf16 base H and its (batch, position,
   * head) strides.
   */
  static Rendered render(Compute c, ToIntFunction<Dim> size) {
    Externs.AttentionLaunch launch = Externs.AttentionLaunch.of(c);
    List<Tensor> args = launch.args();
    AttentionLayout l = launch.layout();
    int hs = size.applyAsInt(l.headSize());
    ExprRenderer r = new ExprRenderer(new CudaDialect());
    for (Tensor t : args) r.offset(t);
    java.util.function.Function<Dim, String> name = d -> d.equals(l.headSize()) ? Integer.toString(hs) : r.dim(d);
    String lse = "F + " + r.offset(args.get(4));
    String op = ((Expr.Extern) c.body()).op(), acc = c.accumulate() ? "true" : "false";
    String head = switch (op) {
      case Externs.ATTENTION -> "fab_forward(H, %s, %s, %s, %s, " + lse;
      case Externs.ATTENTION_DQ -> "fab_backward_dq<" + acc + ">(H, %s, %s, %s, %s, " + lse + ", F + " + r.offset(args.get(5)) + ", %s";
      default -> "fab_backward_dkdv<" + acc + ">(H, %s, %s, %s, %s, " + lse + ", F + " + r.offset(args.get(5)) + ", %s, %s";
    };
    List<String> ops = launch.operands().stream().map(o -> "FabOperand{" + o.cudaFields(r.offset(o.tensor()), name) + "}").toList();
    String nh = Kernels.product(l.heads(), name, "(long long) ");
    String kvh = Kernels.product(l.kvHeads(), name, "(long long) ");
    // query heads per key/value head; dkdv also takes how many of them each block sums: all (GS = G), or one
    // (per-query-head partials: the dkdv grid runs over query heads, dk and dv take q's layout)
    String group = "(" + nh + ") / (" + kvh + ")";
    String sums = op.equals(Externs.ATTENTION_DKDV) ? ", " + (launch.perQueryHead() ? "1" : group) : "";
    String call = String.format(head, ops.toArray()) + ", " + r.dim(l.batch()) + ", " + r.dim(l.seq()) + ", " + nh + ", " + group + sums + ")";
    int smem = sharedBytes(op, hs), rows = 64 * warpgroups(op, hs), threads = 2 * rows;
    Map<String, Object> m = new HashMap<>();
    m.put("hs", hs);
    m.put("macro", "FAB_" + Externs.MACRO.get(op) + "_");   // FAB_FWD_, FAB_DQ_ or FAB_DKV_
    m.put("threads", threads);
    m.put("smem", smem);
    m.put("rows", rows);
    m.put("call", call);
    String kind = "attention_bf16" + op.substring("attention".length());
    return CudaRenderer.render("attention_bf16.cu.ftl", kind, r, m,
        "extern " + op + " over " + args.size() + " tensors (" + launch.describe() + "; bf16 storage, " + (hs == 64 ? "bf16 wgmma m64n64k16 on sm_90a, else " : "") + "bf16 mma.sync m16n8k16), HS=" + hs,
        new Work.RowTiles(launch.gridRows(op), l.seq(), rows, threads, smem));
  }
}
