// The fp32 flash-attention kernels (templates/cuda/flash_attention.cuh through attention.cu.ftl): TF32
// mma.sync at Precision.TF32, fp32 CUDA cores otherwise, for every layout AttentionLayout describes.
// An entry of Externs: its layout check, its tiles (launch geometry) and the operands it passes.
package kiln.codegen;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.ToIntFunction;
import kiln.dsl.Compute;
import kiln.dsl.DType;
import kiln.dsl.Dim;
import kiln.dsl.Expr;
import kiln.dsl.Tensor;

public final class FlashAttention {
  private FlashAttention() {}

  static final Externs.Entry ENTRY = new Externs.Entry() {
    public List<String> ops() { return List.of(Externs.ATTENTION, Externs.ATTENTION_DQ, Externs.ATTENTION_DKDV); }

    public String unsupported(Compute c, CudaSchedule s, ToIntFunction<Dim> size) {
      String why = Externs.attentionUnsupported(c, size);
      if (why != null) return why;
      for (Expr.Load x : ((Expr.Extern) c.body()).tensors()) {
        if (x.tensor().storage() != DType.F32) return "fp32 flash attention: every tensor stored F32, found " + x.tensor().name() + " " + x.tensor().storage();
      }
      return null;
    }

    public Rendered render(Compute c, CudaSchedule s, ToIntFunction<Dim> size) { return FlashAttention.render(c, s, size); }
  };

  /** The most blocks of a portable thread-block cluster (sm_90): the largest group dkdv sums across one. */
  static final int MAX_CLUSTER = 8;

  /**
   * Whether the dkdv kernel at this precision sums dk, dv over the query heads of a key/value head across a
   * thread-block cluster (one block per query head and key tile, FA_DKV_CLUSTER): TF32 with one key/value head
   * (multi-query) and 2..8 query heads, unless KILN_ATTN_CLUSTER=0. Then the CUDA pass wants no per-query-head
   * partials (BackendPass).
   */
  public static boolean clusterSumsGroup(long kvHeads, long groups, CudaSchedule.Precision precision) {
    return CLUSTER && precision == CudaSchedule.Precision.TF32 && kvHeads == 1 && groups > 1 && groups <= MAX_CLUSTER;
  }

  /** KILN_ATTN_CLUSTER=0 turns the cluster-summing dkdv off (per-query-head partials and a DSL sum, as at fp32). */
  private static final boolean CLUSTER = !"0".equals(System.getenv("KILN_ATTN_CLUSTER"));

  /** KILN_ATTN_DQ_WIDE=0 keeps the TF32 dq kernel's dO fragments in registers at HS > 64 too (FA_DQ_WIDE off). */
  private static final boolean DQ_WIDE = !"0".equals(System.getenv("KILN_ATTN_DQ_WIDE"));

  /** The kernels' tiles (the FA_* macros of flash_attention.cuh), as the host launches them. */
  record Tile(int rows, int threads, int sharedBytes, int fwdBk, int dqBk, int dkvBq, boolean dkvWide, boolean dqWide) {
    /** cluster: dkdv hands its dk, dv tile ([2][rows][HS] floats) to its cluster through shared memory. */
    static Tile of(String op, int hs, boolean tf32, boolean cluster) {
      if (tf32) {
        // wide heads (HS > 64): 32-key tiles keep the forward's and dq's score fragments in registers, and
        // dkdv holds K, V in shared memory with two warp groups (FA_DKV_WIDE): no spills at HS = 128
        boolean wide = hs > 64;
        int warps = 4, rows = 16 * warps, threads = 32 * warps, fwdBk = wide ? 32 : 64, dqBk = wide ? 32 : 64, dkvBq = 32;
        return switch (op) {
          case Externs.ATTENTION -> new Tile(rows, threads, 4 * 2 * fwdBk * (hs + 4), fwdBk, dqBk, dkvBq, wide, false);
          // wide heads: dq reads its dO fragments from a shared-memory tile of its rows (FA_DQ_WIDE)
          case Externs.ATTENTION_DQ -> wide && DQ_WIDE
              ? new Tile(rows, threads, 4 * 2 * dqBk * (hs + 4) + 4 * rows * (hs + 4), fwdBk, dqBk, dkvBq, wide, true)
              : new Tile(rows, threads, 4 * 2 * dqBk * (hs + 4), fwdBk, dqBk, dkvBq, wide, false);
          default -> wide
              ? new Tile(rows, 2 * threads, 4 * (2 * rows * (hs + 4) + 2 * (2 * dkvBq * (hs + 4) + 2 * dkvBq)), fwdBk, dqBk, dkvBq, true, false)
              : new Tile(rows, threads, Math.max(4 * (2 * dkvBq * (hs + 4) + 2 * dkvBq), cluster ? 4 * 2 * rows * hs : 0), fwdBk, dqBk, dkvBq, false, false);
        };
      }
      // the column tile c splits into c/4 threads with HS / (c/4) head-dim columns each: 64 needs HS % 16 == 0
      int bq = 64, bk = 64, rm = 4, cols = hs % 16 == 0 ? 64 : 32;
      return switch (op) {
        case Externs.ATTENTION -> new Tile(bq, (cols / 4) * (bq / rm), 4 * (hs * bq + 2 * hs * cols + cols * (bq + 4)), cols, cols, cols, false, false);
        case Externs.ATTENTION_DQ -> new Tile(bq, (cols / 4) * (bq / rm), 4 * (2 * hs * bq + 3 * hs * cols + cols * (bq + 4)), cols, cols, cols, false, false);
        default -> new Tile(bk, (cols / 4) * (bk / rm), 4 * (2 * hs * bk + 2 * hs * cols + 2 * cols * (bk + 4) + 2 * cols), cols, cols, cols, false, false);
      };
    }
  }

  /**
   * One attention extern as a kernel: HS fixed at render time, every other size and stride read at run
   * time. Grid (B x query heads, query tiles) for the forward and dq; (B x key/value heads, key tiles)
   * for dkdv, whose blocks sum over their G query heads, or (B x query heads, key tiles) where dk and dv
   * are partials per query head (dims as q: Externs.attention's perQueryHead).
   */
  static Rendered render(Compute c, CudaSchedule s, ToIntFunction<Dim> size) {
    Externs.AttentionLaunch launch = Externs.AttentionLaunch.of(c);
    List<Tensor> args = launch.args();
    AttentionLayout l = launch.layout();
    int hs = size.applyAsInt(l.headSize());
    boolean tf32 = s.precision() == CudaSchedule.Precision.TF32;
    ExprRenderer r = new ExprRenderer(new CudaDialect());
    for (Tensor t : args) r.offset(t);
    java.util.function.Function<Dim, String> name = d -> d.equals(l.headSize()) ? Integer.toString(hs) : r.dim(d);
    String t = r.dim(l.seq());
    String nh = Kernels.product(l.heads(), name, "");
    String kvh = Kernels.product(l.kvHeads(), name, "");
    StringBuilder ops = new StringBuilder();
    String op = ((Expr.Extern) c.body()).op();
    boolean perHead = launch.perQueryHead();  // dkdv into one partial per query head (Externs.attention's perQueryHead)
    long groups = l.groups(size);
    // dkdv summing its group across a thread-block cluster: a block per query head, dk and dv with k's dims
    int cluster = op.equals(Externs.ATTENTION_DKDV) && !perHead && !l.packed()
        && clusterSumsGroup(l.kvHeadCount(size), groups, s.precision()) ? (int) groups : 0;
    // the operands' locals (op_q, ...) in the kernels' order, and the call that passes them
    List<String> roles = switch (op) {
      case Externs.ATTENTION -> List.of("q", "k", "v", "y");
      case Externs.ATTENTION_DQ -> List.of("q", "k", "v", "dy", "dq");
      default -> List.of("q", "k", "v", "dy", "dk", "dv");
    };
    String call = switch (op) {
      case Externs.ATTENTION -> "flash_attn_fwd(%s, %s, %s, %s, F + " + r.offset(args.get(4)) + ", " + t + ", NH_, G_)";
      case Externs.ATTENTION_DQ ->
          "flash_attn_bwd_dq(%s, %s, %s, %s, F + " + r.offset(args.get(4)) + ", F + " + r.offset(args.get(5)) + ", %s, " + t + ", NH_, G_)";
      default -> "flash_attn_bwd_dkdv(%s, %s, %s, %s, F + " + r.offset(args.get(4)) + ", F + " + r.offset(args.get(5)) + ", %s, %s, " + t
          + ", NH_, G_, " + (perHead || cluster > 0 ? "1" : "G_") + ")";
    };
    List<AttentionLayout.Operand> operands = launch.operands();
    for (int i = 0; i < operands.size(); i++) {
      AttentionLayout.Operand o = operands.get(i);
      String local = "op_" + roles.get(i);
      ops.append("  const fa_operand ").append(local).append(" = {").append(o.cudaFields("F + " + r.offset(o.tensor()), name))
          .append("};  // ").append(o.tensor().dims()).append('\n');
    }
    ops.append("  const int NH_ = ").append(nh).append(", G_ = NH_ / (").append(kvh).append(");");
    Tile tile = Tile.of(op, hs, tf32, cluster > 0);
    String prefix = "FA_" + Externs.MACRO.get(op);
    List<Dim> gridRows = cluster > 0 ? launch.gridRows(Externs.ATTENTION_DQ) : launch.gridRows(op);  // a cluster: over query heads
    Map<String, Object> m = new HashMap<>();
    m.put("hs", hs);
    m.put("tf32", tf32 ? 1 : 0);
    m.put("accumulate", c.accumulate() ? 1 : 0);
    m.put("fwdBk", tile.fwdBk());
    m.put("dqBk", tile.dqBk());
    m.put("dkvBq", tile.dkvBq());
    m.put("dkvWide", tile.dkvWide() ? 1 : 0);
    m.put("dkvCluster", cluster);
    m.put("dqWide", tile.dqWide());
    m.put("clusterDims", cluster > 0 ? "__cluster_dims__(" + cluster + ", 1, 1) " : "");
    m.put("threadsMacro", prefix + "_NT");
    m.put("minBlocksMacro", tf32 ? "1" : prefix + "_MINB");
    m.put("smemMacro", prefix + "_SMEM_BYTES");
    m.put("rowsMacro", op.equals(Externs.ATTENTION_DKDV) ? "FA_DKV_BK" : prefix + "_BQ");
    m.put("threads", tile.threads());
    m.put("smem", tile.sharedBytes());
    m.put("rows", tile.rows());
    m.put("gridRows", String.join(" x ", gridRows.stream().map(Dim::name).toList()));
    m.put("operands", ops.toString());
    m.put("call", String.format(call, roles.stream().map(x -> "op_" + x).toArray()));
    return CudaRenderer.render("attention.cu.ftl", op, r, m, "extern " + op + " over " + args.size() + " tensors ("
        + launch.describe() + (cluster > 0 ? ", dk and dv summed over clusters of " + cluster + " query heads" : "") + ")"
        + (tf32 ? " (TF32 tensor cores)" : "") + ", HS=" + hs,
        new Work.RowTiles(gridRows, l.seq(), tile.rows(), tile.threads(), tile.sharedBytes()));
  }
}
