// Backend passes over a model's forward graph, run before its backward is derived: where a device's
// hand-scheduled kernels and memory policy enter. The models (kiln.models) know no device.
package kiln.codegen;

import java.util.function.Consumer;
import kiln.dsl.Graph;
import kiln.dsl.Tensor;
import kiln.models.Layers;

public final class BackendPass {
  private BackendPass() {}

  /** The CPU runs the DSL definitions as written. */
  public static final Consumer<Graph> NONE = g -> { };

  /**
   * CUDA, where memory is what binds: every attention region over a (B, T, 3, NH, HS) qkv becomes
   * the flash-attention extern (Layers.fusedAttention: no T x T tensor in memory; its backward
   * recomputes the scores tile by tile), and every GELU output is recomputed in the backward instead
   * of kept (1.1 GB less for GPT-2 124M at B=8, T=1024). Other attention forms (grouped-query after
   * RoPE) keep their DSL definition.
   */
  public static final Consumer<Graph> CUDA = g -> {
    for (Graph.Region r : g.regions("attention")) {
      Tensor qkv = r.inputs.getFirst();
      if (r.inputs.size() == 1 && qkv.rank() == 5) g.replace(r, sub -> Layers.fusedAttention(sub, qkv, r.output));
    }
    for (Graph.Region r : g.regions("gelu")) g.recompute(r.output);
  };
}
