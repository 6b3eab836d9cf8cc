// A program's tensors in host memory: one float[] and one int[] laid out by ArenaLayout (the plan:
// lifetimes, in-place pairs, offsets), with copies in and out for checks and checkpoints. A device
// executor takes the layout alone (host = false: no arrays) and holds the storage itself.
package kiln.runtime;

import java.util.Map;
import java.util.Set;
import kiln.dsl.DType;
import kiln.dsl.Dim;
import kiln.dsl.Graph;
import kiln.dsl.Tensor;

public final class Arena extends ArenaLayout {
  public final float[] f;
  public final int[] i;

  /** Every tensor its own space (no sharing): for tests and tools that read any tensor afterwards. */
  public Arena(Graph graph, Map<Dim, Integer> bound) { this(graph, bound, Set.of(), null, true, Map.of()); }

  /** The layout of ArenaLayout's constructor, and with host its storage. */
  public Arena(Graph graph, Map<Dim, Integer> bound, Set<Tensor> pinned, Launches launches, boolean host, Map<Tensor, Long> storage) {
    super(graph, bound, pinned, launches, host, storage);
    if (host && floatCount() > Integer.MAX_VALUE - 16) {
      throw new IllegalArgumentException("arena needs " + floatCount() + " floats; Java arrays hold at most " + (Integer.MAX_VALUE - 16));
    }
    this.f = host ? new float[(int) floatCount()] : null;
    this.i = host ? new int[(int) intCount()] : null;
  }

  /** Copies a float tensor out (for checks and checkpoints, never in the step loop). */
  public float[] read(Tensor t) {
    int off = offset(t);
    float[] out = new float[(int) elements(t)];
    System.arraycopy(f, off, out, 0, out.length);
    return out;
  }

  /** Copies a float tensor in; a bf16 tensor (emulated) takes each value rounded to bf16, as a kernel's store would. */
  public void write(Tensor t, float[] values) {
    requireElements(t, values.length);
    int off = offset(t);
    if (t.storage() == DType.BF16) {
      for (int k = 0; k < values.length; k++) f[off + k] = kiln.codegen.Bf16.round(values[k]);
    } else {
      System.arraycopy(values, 0, f, off, values.length);
    }
  }

  public void write(Tensor t, int[] values) {
    requireElements(t, values.length);
    System.arraycopy(values, 0, i, offset(t), values.length);
  }
}
