// Sizes of the two-stage gradient-norm reduction, bound from a model's parameter shapes.
package kiln.models;

import java.util.List;
import java.util.Map;
import kiln.dsl.Dim;

final class Norms {
  static final int CHUNK = 1 << 16;

  private Norms() {}

  /** Adds |CH| = 65536 and |CHUNKS| = ceil(P / |CH|) to sizes, P the parameter count. */
  static Map<Dim, Integer> bindChunks(Map<Dim, Integer> sizes, Map<String, List<Dim>> shapes, Dim chunks, Dim chunk) {
    long p = 0;
    for (List<Dim> dims : shapes.values()) {
      long n = 1;
      for (Dim d : dims) n *= sizes.get(d);
      p += n;
    }
    sizes.put(chunk, CHUNK);
    sizes.put(chunks, Math.toIntExact((p + CHUNK - 1) / CHUNK));
    return Map.copyOf(sizes);
  }
}
