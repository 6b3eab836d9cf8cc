// One kernel launch of a lowered program: which generated class, bound to which dims and tensors.
package kiln.codegen;

import java.util.List;
import java.util.function.ToIntFunction;
import kiln.dsl.Dim;
import kiln.dsl.Tensor;

/**
 * @param name     the compute(s) this launch runs, for profiles and errors
 * @param kernel   the generated class (shared by every launch with the same source)
 * @param dims     dim sizes passed first in the argument array, in this order
 * @param tensors  tensor offsets passed next, in this order
 * @param work     how many work items the launch has, from the dim sizes
 * @param schedule the knobs its kernel was rendered with
 */
public record Launch(String name, KernelSource kernel, List<Dim> dims, List<Tensor> tensors, Work work, Schedule schedule) {
  /** Work items of a launch: product of the parallel dims, or matmul tiles. */
  public sealed interface Work {
    long items(ToIntFunction<Dim> size, Schedule schedule);
  }

  public record Elements(List<Dim> parallel) implements Work {
    @Override public long items(ToIntFunction<Dim> size, Schedule schedule) {
      long n = 1;
      for (Dim d : parallel) n *= size.applyAsInt(d);
      return n;
    }
  }

  public record Tiles(List<Dim> batch, List<Dim> m, List<Dim> n, List<Dim> k) implements Work {
    /** "batch x M x N x K" at the given sizes: the shape part of a tuning key. */
    public String shape(ToIntFunction<Dim> size) { return shape(batch, m, n, k, size); }

    /** The same key for any backend's matmul launch. */
    public static String shape(List<Dim> batch, List<Dim> m, List<Dim> n, List<Dim> k, ToIntFunction<Dim> size) {
      return product(batch, size) + "x" + product(m, size) + "x" + product(n, size) + "x" + product(k, size);
    }

    private static long product(List<Dim> dims, ToIntFunction<Dim> size) {
      long p = 1;
      for (Dim d : dims) p *= size.applyAsInt(d);
      return p;
    }

    @Override public long items(ToIntFunction<Dim> size, Schedule s) {
      long b = 1, mm = 1, nn = 1;
      for (Dim d : batch) b *= size.applyAsInt(d);
      for (Dim d : m) mm *= size.applyAsInt(d);
      for (Dim d : n) nn *= size.applyAsInt(d);
      return b * ((nn + s.nb() - 1) / s.nb()) * ((mm + s.mb() - 1) / s.mb());
    }
  }
}
