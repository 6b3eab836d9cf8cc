// A rendered kernel of either backend: its schedule kind, function (Java: class) name, source, the dim
// sizes and tensor offsets its launch binds (in that order) and the work its launch covers.
package kiln.codegen;

import java.util.List;
import kiln.dsl.Dim;
import kiln.dsl.Tensor;

public record Rendered(String kind, String function, String source, List<Dim> dims, List<Tensor> tensors, Work work) {
  /** A Java kernel's body named apart from its knobs (before JavaRenderer.toClass): a tuning cache key part ("matmul:" + hash). */
  public String identity() { return kind + ":" + Kernels.hash(source); }
}
