// Backend passes over a model's forward graph, run before its backward is derived: where a device's
// hand-scheduled kernels and memory policy enter. The models (kiln.models) know no device.
package kiln.codegen;

import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import kiln.dsl.Dim;
import kiln.dsl.Graph;
import kiln.dsl.Tensor;

public final class BackendPass {
  private BackendPass() {}

  /** The CPU runs the DSL definitions as written. */
  public static final Consumer<Graph> NONE = g -> { };

  /** CUDA with no size known, for the fp32 kernels: every attention region whose layout Externs serves becomes the extern; GELU recomputed. */
  public static final Consumer<Graph> CUDA = cuda(Map.of(), CudaSchedule.Precision.FP32, Recompute.GELU);

  /** The CPU with a recompute policy: the DSL definitions as written, the policy's outputs recomputed in the backward. */
  public static Consumer<Graph> cpu(Recompute recompute) { return recompute == Recompute.NONE ? NONE : recompute::apply; }

  /**
   * CUDA, where memory is what binds: every attention region (GPT-2's over a packed (B, T, 3, NH, HS)
   * qkv, Llama's and Gemma's grouped-query attention over RoPE'd q, k and v) whose layout the extern
   * registry serves at these sizes (Externs.attentionUnsupported: a head size that is a multiple of 8)
   * becomes the flash-attention extern (Externs.attention: no T x T tensor in memory; its backward
   * recomputes the scores tile by tile; with one key/value head, dk and dv per query head and a sum over
   * them, Externs.attention); the others keep their DSL definition. The recompute policy's outputs
   * (Recompute.GELU: every GELU output) are recomputed in the backward instead of kept (1.1 GB less for
   * GPT-2 124M at B=8, T=1024). sizes binds the family's dims (those it lacks are checked when the
   * kernels are rendered). precision picks the kernels' variant where it changes the graph: where the dkdv
   * kernel sums a multi-query group itself (TF32: FlashAttention.clusterSumsGroup, across a thread-block
   * cluster), no per-query-head partials.
   */
  public static Consumer<Graph> cuda(Map<Dim, Integer> sizes, CudaSchedule.Precision precision, Recompute recompute) {
    return g -> {
      for (Graph.Region r : g.regions("attention")) {
        // one input: a packed qkv, read as q, k and v
        List<Tensor> in = r.inputs.size() == 1 ? java.util.Collections.nCopies(3, r.inputs.getFirst()) : r.inputs;
        if (in.size() != 3) continue;
        Tensor q = in.get(0), k = in.get(1), v = in.get(2);
        AttentionLayout layout;
        try {
          layout = AttentionLayout.of(q, k, v, r.output);
        } catch (IllegalArgumentException e) {
          continue;
        }
        if (Externs.attentionUnsupported(layout, sizes::get) != null) continue;
        boolean known = layout.heads().stream().allMatch(sizes::containsKey);
        boolean multiQuery = known && layout.kvHeadCount(d -> sizes.get(d)) == 1 && layout.groups(d -> sizes.get(d)) > 1
            && !FlashAttention.clusterSumsGroup(1, layout.groups(d -> sizes.get(d)), precision);
        g.replace(r, sub -> Externs.attention(sub, q, k, v, r.output, multiQuery));
      }
      recompute.apply(g);
    };
  }
}
