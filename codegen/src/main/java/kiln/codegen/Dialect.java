// A backend is a table: how each primitive of the IR is spelled in the target language.
package kiln.codegen;

import kiln.dsl.Expr;

public interface Dialect {
  String f32(float v);
  String i32(int v);
  String unary(Expr.UnOp op, String x);
  String binary(Expr.BinOp op, String a, String b, boolean integer);
  String compare(Expr.CmpOp op, String a, String b);
  String select(String c, String a, String b);
  String toF32(String x);
  String load(String arena, String offset, String index);
  String type(kiln.dsl.DType t);
  String negativeInfinity();
  /** Type of a serial sum's accumulator for values of type t (Java sums floats in double). */
  String accumulator(kiln.dsl.DType t);
  /** Keyword of an immutable local: final (Java), const (CUDA). */
  String constant();
  /** target += value where other threads may add to the same element (CUDA atomics). */
  String atomicAdd(String target, String value);
}
