// Overflow-checked arithmetic on tensor sizes, shared by the model configs.
package kiln.runtime.format;

final class Sizes {
  private Sizes() {}

  static long product(long... dims) {
    long p = 1;
    for (long d : dims) p = Math.multiplyExact(p, d);
    return p;
  }

  static long sum(long[] sizes) {
    long s = 0;
    for (long size : sizes) s = Math.addExact(s, size);
    return s;
  }
}
