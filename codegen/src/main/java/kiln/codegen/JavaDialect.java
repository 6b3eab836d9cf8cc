// The Java spelling of the IR's primitives (math in double where Java has no float version).
package kiln.codegen;

import kiln.dsl.Expr;

public final class JavaDialect implements Dialect {
  @Override public String f32(float v) {
    if (v == Float.NEGATIVE_INFINITY) return "Float.NEGATIVE_INFINITY";
    if (v == Float.POSITIVE_INFINITY) return "Float.POSITIVE_INFINITY";
    if (Float.isNaN(v)) return "Float.NaN";
    return Float.toString(v) + "f";
  }

  @Override public String unary(Expr.UnOp op, String x) {
    return switch (op) {
      case NEG -> "(-" + x + ")";
      case TANH -> "(float) (1.0 - 2.0 / (Math.exp(2.0 * (" + x + ")) + 1.0))";   // Math.tanh is not an intrinsic here; exp is
      case RSQRT -> "(float) (1.0 / Math.sqrt(" + x + "))";
      case ABS -> "Math.abs(" + x + ")";
      case BF16 -> ROUND + "(" + x + ")";
      case EXP, LOG, SQRT, SIN, COS -> "(float) Math." + op.name().toLowerCase(java.util.Locale.ROOT) + "(" + x + ")";   // in double
    };
  }

  @Override public String function(Expr.BinOp op, String a, String b, boolean integer) {
    return switch (op) {
      case MAX -> "Math.max(" + a + ", " + b + ")";
      case MIN -> "Math.min(" + a + ", " + b + ")";
      case ADD, SUB, MUL, DIV, MOD -> throw new IllegalArgumentException(op + " is an operator, not a function");
      case POW -> integer ? "(int) Math.pow(" + a + ", " + b + ")" : "(float) Math.pow(" + a + ", " + b + ")";
    };
  }

  @Override public String type(kiln.dsl.DType t) {
    return switch (t) { case F32 -> "float"; case I32 -> "int"; case BOOL -> "boolean"; case BF16 -> throw new IllegalArgumentException("bf16 is a storage type"); };
  }

  /** bf16 tensors are emulated on the CPU: floats in F whose values are exactly bf16 (every store rounds). */
  @Override public String store(String target, String value, boolean accumulate, boolean atomic, kiln.dsl.DType storage) {
    if (storage != kiln.dsl.DType.BF16) return Dialect.super.store(target, value, accumulate, atomic, storage);
    if (atomic) throw new UnsupportedOperationException("the Java schedules partition scatters instead of using atomics");
    return target + " = " + ROUND + "(" + (accumulate ? target + " + " + value : value) + ")";
  }

  static final String ROUND = "kiln.codegen.Bf16.round";

  @Override public String roundBf16(String x, String index, String seed) { return "kiln.codegen.Bf16.stochastic(" + x + ", " + index + ", " + seed + ")"; }

  @Override public String constant() { return "final"; }

  @Override public String atomicAdd(String target, String value) { throw new UnsupportedOperationException("the Java schedules partition scatters instead of using atomics"); }

  @Override public String accumulator(kiln.dsl.DType t) { return t == kiln.dsl.DType.F32 ? "double" : type(t); }

  @Override public String sumZero(kiln.dsl.DType t) { return t == kiln.dsl.DType.F32 ? "0.0" : Dialect.super.sumZero(t); }
}
