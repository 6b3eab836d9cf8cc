// bf16 rounding as the generated kernels do it: Java kernels call these; CUDA kernels spell the same
// arithmetic in prologue.ftl (kiln_bf16_rn, kiln_bf16_hash, kiln_bf16_sr), so both backends store the
// same bits. A bf16 value is the top 16 bits of an fp32 (8 exponent bits, 7 stored mantissa bits).
package kiln.codegen;

public final class Bf16 {
  private Bf16() {}

  /** f rounded to the nearest bf16 value, ties to even (as cvt.rn.bf16.f32); NaN stays NaN, overflow goes to infinity. */
  public static float round(float f) {
    int bits = Float.floatToRawIntBits(f);
    if ((bits & 0x7FFFFFFF) > 0x7F800000) return f;
    return Float.intBitsToFloat((bits + 0x7FFF + ((bits >>> 16) & 1)) & 0xFFFF0000);
  }

  /**
   * 32 well-mixed bits from (index, seed): a multiply-add of the two by odd constants, then two
   * xor-shift-multiply rounds (the murmur3 / lowbias32 finaliser shape). Every arithmetic step wraps
   * mod 2^32, as unsigned arithmetic does in CUDA.
   */
  public static int hash(int index, int seed) {
    int h = index * 0x9E3779B1 + seed * 0x85EBCA77 + 0x165667B1;
    h ^= h >>> 16;
    h *= 0x7FEB352D;
    h ^= h >>> 15;
    h *= 0x846CA68B;
    h ^= h >>> 16;
    return h;
  }

  /**
   * x rounded to bf16 stochastically: the low 16 bits of x's magnitude decide, against 16 random bits
   * from hash(index, seed), whether the magnitude rounds up (probability low / 2^16) or is truncated, so
   * E[result] = x. Infinities and NaN stay as they are.
   */
  public static float stochastic(float x, int index, int seed) {
    int bits = Float.floatToRawIntBits(x);
    if ((bits & 0x7F800000) == 0x7F800000) return x;
    return Float.intBitsToFloat((bits + (hash(index, seed) & 0xFFFF)) & 0xFFFF0000);
  }
}
