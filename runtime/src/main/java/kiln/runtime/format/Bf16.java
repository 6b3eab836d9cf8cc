// bfloat16 conversions: the top 16 bits of an fp32, rounded to nearest even.
package kiln.runtime.format;

final class Bf16 {
  private Bf16() {}

  static short fromFloat(float f) {
    int bits = Float.floatToRawIntBits(f);
    if (Float.isNaN(f)) {
      // keep sign and payload top, force the quiet bit so truncation cannot turn NaN into infinity
      return (short) ((bits >>> 16) | 0x0040);
    }
    int lsb = (bits >>> 16) & 1;
    return (short) ((bits + 0x7FFF + lsb) >>> 16);
  }

  static float toFloat(short b) {
    return Float.intBitsToFloat(b << 16);
  }

  /** The value a float takes after a trip through bf16. */
  static float round(float f) {
    return toFloat(fromFloat(f));
  }
}
