// The CUDA spelling of the IR's primitives: single-precision libdevice math (no fast-math).
package kiln.codegen;

import kiln.dsl.DType;
import kiln.dsl.Expr;

public final class CudaDialect implements Dialect {
  @Override public String f32(float v) {
    if (v == Float.NEGATIVE_INFINITY) return "(-INFINITY)";
    if (v == Float.POSITIVE_INFINITY) return "INFINITY";
    if (Float.isNaN(v)) return "NAN";
    String s = Float.toString(v);
    return (s.contains("E") ? s.replace("E", "e") : s) + "f";
  }

  @Override public String unary(Expr.UnOp op, String x) {
    return switch (op) {
      case NEG -> "(-" + x + ")";
      case ABS -> "fabsf(" + x + ")";
      case BF16 -> "kiln_bf16_f(kiln_bf16_rn(" + x + "))";
      case EXP, LOG, TANH, SQRT, RSQRT, SIN, COS -> op.name().toLowerCase(java.util.Locale.ROOT) + "f(" + x + ")";   // expf, logf, ...
    };
  }

  /**
   * e^x as 2^(x log2 e) (exp2f: one special-function op and a multiply against expf's range reduction, within a few ulp):
   * for the terms of an online normaliser (CudaRows), a sum of many exps where the last bits of each do not matter.
   */
  public String fastExp(String x) { return "exp2f((" + x + ") * 1.44269504f)"; }

  @Override public String function(Expr.BinOp op, String a, String b, boolean integer) {
    return switch (op) {
      case MAX -> integer ? "max(" + a + ", " + b + ")" : "fmaxf(" + a + ", " + b + ")";
      case MIN -> integer ? "min(" + a + ", " + b + ")" : "fminf(" + a + ", " + b + ")";
      case ADD, SUB, MUL, DIV, MOD -> throw new IllegalArgumentException(op + " is an operator, not a function");
      case POW -> integer ? "(int) powf((float) " + a + ", (float) " + b + ")" : "powf(" + a + ", " + b + ")";
    };
  }

  @Override public String type(DType t) {
    return switch (t) { case F32 -> "float"; case I32 -> "int"; case BOOL -> "bool"; case BF16 -> throw new IllegalArgumentException("bf16 is a storage type"); };
  }

  /** bf16 tensors live in the same allocation as floats, addressed through H (kiln_bf16*, 2-byte elements; prologue.ftl). */
  @Override public String arena(DType storage) { return storage == DType.BF16 ? "H" : "F"; }

  @Override public String widen(String element, DType storage) { return storage == DType.BF16 ? "kiln_bf16_f(" + element + ")" : element; }

  @Override public String store(String target, String value, boolean accumulate, boolean atomic, DType storage) {
    if (storage != DType.BF16) return Dialect.super.store(target, value, accumulate, atomic, storage);
    if (atomic) return "kiln_bf16_atomic_add(&" + target + ", " + value + ")";
    return target + " = kiln_bf16_rn(" + (accumulate ? "kiln_bf16_f(" + target + ") + " + value : value) + ")";
  }

  @Override public String asStored(String value, DType storage) {
    return storage == DType.BF16 ? "kiln_bf16_f(kiln_bf16_rn(" + value + "))" : value;
  }

  @Override public String roundBf16(String x, String index, String seed) {
    return "kiln_bf16_sr(" + x + ", (unsigned) (" + index + "), (unsigned) (" + seed + "))";
  }

  /** Through the read-only data path: an invariant load, which the compiler schedules ahead of earlier stores. */
  @Override public String readOnlyLoad(String arena, String offset, String index) { return "__ldg(&" + load(arena, offset, index) + ")"; }

  @Override public String constant() { return "const"; }

  @Override public String atomicAdd(String target, String value) { return "atomicAdd(&" + target + ", " + value + ")"; }
}
