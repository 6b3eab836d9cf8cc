// A backend is a table: how each primitive of the IR is spelled in the target language. What
// Java and CUDA C spell alike (operators, ternary, array access) is the default here.
package kiln.codegen;

import kiln.dsl.Expr;

public interface Dialect {
  String f32(float v);
  default String i32(int v) { return Integer.toString(v); }
  String unary(Expr.UnOp op, String x);
  /** max, min and pow: the spellings that differ between languages. */
  String function(Expr.BinOp op, String a, String b, boolean integer);

  default String binary(Expr.BinOp op, String a, String b, boolean integer) {
    return switch (op) {
      case ADD -> "(" + a + " + " + b + ")";
      case SUB -> "(" + a + " - " + b + ")";
      case MUL -> "(" + a + " * " + b + ")";
      case DIV -> "(" + a + " / " + b + ")";
      case MOD -> "(" + a + " % " + b + ")";
      case MAX, MIN, POW -> function(op, a, b, integer);
    };
  }

  default String compare(Expr.CmpOp op, String a, String b) {
    String o = switch (op) { case LT -> "<"; case LE -> "<="; case EQ -> "=="; case NE -> "!="; case GE -> ">="; case GT -> ">"; };
    return "(" + a + " " + o + " " + b + ")";
  }

  default String select(String c, String a, String b) { return "(" + c + " ? " + a + " : " + b + ")"; }

  default String toF32(String x) { return "((float) " + x + ")"; }

  default String load(String arena, String offset, String index) { return arena + "[" + offset + " + " + index + "]"; }

  /** The arena (array or pointer) that holds float tensors stored as storage (F32 or BF16). */
  default String arena(kiln.dsl.DType storage) { return "F"; }

  /** An element read from storage (an lvalue text) as the F32 value expressions compute with. */
  default String widen(String element, kiln.dsl.DType storage) { return element; }

  /**
   * The statement that stores value (F32) into target (an lvalue in storage): =, or += (accumulate), or an
   * atomic add where other threads may add to the same element. BF16 rounds to nearest even on store.
   */
  default String store(String target, String value, boolean accumulate, boolean atomic, kiln.dsl.DType storage) {
    if (storage == kiln.dsl.DType.BF16) throw new UnsupportedOperationException(getClass().getSimpleName() + " has no bf16 store");
    if (atomic) return atomicAdd(target, value);
    return target + (accumulate ? " += " : " = ") + value;
  }

  /** value (F32) as a later read of it from storage sees it: bf16 rounds to nearest even and widens back. */
  default String asStored(String value, kiln.dsl.DType storage) {
    if (storage == kiln.dsl.DType.BF16) throw new UnsupportedOperationException(getClass().getSimpleName() + " has no bf16 store");
    return value;
  }

  /** x (F32) rounded to bf16 stochastically with random bits hash(index, seed) (Expr.RoundBf16; codegen's Bf16 has the arithmetic). */
  String roundBf16(String x, String index, String seed);
  /** A load of memory no thread writes while the kernel runs (the compiler may then move it past stores). */
  default String readOnlyLoad(String arena, String offset, String index) { return load(arena, offset, index); }
  String type(kiln.dsl.DType t);
  /** Type of a serial sum's accumulator for values of type t (Java sums floats in double). */
  default String accumulator(kiln.dsl.DType t) { return type(t); }
  /** The zero a serial sum of values of type t starts from, spelled in accumulator(t)'s type. */
  default String sumZero(kiln.dsl.DType t) { return t == kiln.dsl.DType.I32 ? i32(0) : f32(0f); }
  /** Keyword of an immutable local: final (Java), const (CUDA). */
  String constant();
  /** target += value where other threads may add to the same element (CUDA atomics). */
  String atomicAdd(String target, String value);
}
