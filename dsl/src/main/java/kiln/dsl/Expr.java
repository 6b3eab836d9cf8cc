// The tensor-expression IR: a small sealed family of primitives. Only these reach a renderer.
package kiln.dsl;

import java.util.List;

public sealed interface Expr permits Var, Expr.Const, Expr.SizeOf, Expr.Load, Expr.Unary, Expr.Binary,
    Expr.Compare, Expr.Select, Expr.Cast, Expr.Reduce, Expr.Extern, Expr.RoundBf16 {

  DType type();

  /** A literal; F32 or I32. */
  record Const(double value, DType type) implements Expr {
    public static Const f32(double v) { return new Const(v, DType.F32); }
    public static Const i32(int v) { return new Const(v, DType.I32); }
    @Override public String toString() { return type == DType.I32 ? Integer.toString((int) value) : value + "f"; }
  }

  /** The runtime size of a dim, as an I32. */
  record SizeOf(Dim dim) implements Expr {
    @Override public DType type() { return DType.I32; }
    @Override public String toString() { return "|" + dim + "|"; }
  }

  /** tensor[index...]; index expressions are I32 (vars, constants, index arithmetic or loaded ids). */
  record Load(Tensor tensor, List<Expr> index) implements Expr {
    public Load { index = List.copyOf(index); }
    @Override public DType type() { return tensor.dtype(); }
    @Override public String toString() { return tensor.name() + index; }
  }

  /** BF16: x rounded to the nearest bf16 value (ties to even), the value staying F32: what a bf16 store and reload give. */
  enum UnOp { NEG, EXP, LOG, TANH, SQRT, RSQRT, SIN, COS, ABS, BF16 }
  record Unary(UnOp op, Expr x) implements Expr {
    @Override public DType type() { return x.type(); }
    @Override public String toString() { return op.name().toLowerCase() + "(" + x + ")"; }
  }

  enum BinOp { ADD, SUB, MUL, DIV, MAX, MIN, POW, MOD }
  record Binary(BinOp op, Expr a, Expr b) implements Expr {
    @Override public DType type() { return a.type(); }
    @Override public String toString() { return "(" + a + " " + op.name().toLowerCase() + " " + b + ")"; }
  }

  enum CmpOp { LT, LE, EQ, NE, GE, GT }
  record Compare(CmpOp op, Expr a, Expr b) implements Expr {
    @Override public DType type() { return DType.BOOL; }
    @Override public String toString() { return "(" + a + " " + op.name().toLowerCase() + " " + b + ")"; }
  }

  record Select(Expr cond, Expr then, Expr otherwise) implements Expr {
    @Override public DType type() { return then.type(); }
    @Override public String toString() { return "select(" + cond + ", " + then + ", " + otherwise + ")"; }
  }

  record Cast(DType to, Expr x) implements Expr {
    @Override public DType type() { return to; }
    @Override public String toString() { return to.name().toLowerCase() + "(" + x + ")"; }
  }

  /**
   * x (F32) rounded to a bf16 value stochastically: to one of the two bf16 neighbours of x, the one
   * farther from x with probability equal to x's distance from the nearer over their gap, so the
   * result is unbiased. The 16 random bits are a hash of (index, seed), both I32 (Bf16Hash in the
   * renderers): deterministic per element and seed. The value stays F32 (exactly a bf16 value).
   */
  record RoundBf16(Expr x, Expr index, Expr seed) implements Expr {
    @Override public DType type() { return DType.F32; }
    @Override public String toString() { return "bf16_sr(" + x + ", " + index + ", " + seed + ")"; }
  }

  enum RedOp { SUM, MAX }
  /** op over var (which ranges over var.dim()) of body. */
  record Reduce(RedOp op, Var var, Expr body) implements Expr {
    @Override public DType type() { return body.type(); }
    @Override public String toString() { return op.name().toLowerCase() + "_" + var + "(" + body + ")"; }
  }

  /**
   * An extern stage (Halide's define_extern, TVM's extern op): a hand-scheduled kernel named op over
   * whole tensors, listed as index-free loads in the order the kernel takes them (outputs included,
   * so lifetimes see them). Only the body of a compute; backends that know op render it; autodiff
   * takes its backward from the rule given to {@link Graph#extern}. Used where one fused kernel replaces a subgraph whose
   * intermediates must not exist in memory (flash attention's T x T scores).
   */
  record Extern(String op, List<Load> tensors) implements Expr {
    public Extern { tensors = List.copyOf(tensors); }
    @Override public DType type() { return DType.F32; }
    @Override public String toString() { return op + tensors.stream().map(l -> l.tensor().name()).toList(); }
  }

  // ---- fluent construction (the DSL surface) ----
  default Expr add(Expr o) { return Ops.bin(BinOp.ADD, this, o); }
  default Expr sub(Expr o) { return Ops.bin(BinOp.SUB, this, o); }
  default Expr mul(Expr o) { return Ops.bin(BinOp.MUL, this, o); }
  default Expr div(Expr o) { return Ops.bin(BinOp.DIV, this, o); }
  default Expr max(Expr o) { return Ops.bin(BinOp.MAX, this, o); }
  default Expr min(Expr o) { return Ops.bin(BinOp.MIN, this, o); }
  default Expr pow(Expr o) { return Ops.bin(BinOp.POW, this, o); }
  default Expr mod(Expr o) { return Ops.bin(BinOp.MOD, this, o); }
  default Expr add(double o) { return add(Ops.lit(o, type())); }
  default Expr sub(double o) { return sub(Ops.lit(o, type())); }
  default Expr mul(double o) { return mul(Ops.lit(o, type())); }
  default Expr div(double o) { return div(Ops.lit(o, type())); }
  default Expr neg() { return Ops.neg(this); }
  default Expr exp() { return new Unary(UnOp.EXP, this); }
  default Expr log() { return new Unary(UnOp.LOG, this); }
  default Expr tanh() { return new Unary(UnOp.TANH, this); }
  default Expr sqrt() { return new Unary(UnOp.SQRT, this); }
  default Expr rsqrt() { return new Unary(UnOp.RSQRT, this); }
  default Expr sin() { return new Unary(UnOp.SIN, this); }
  default Expr cos() { return new Unary(UnOp.COS, this); }
  default Expr square() { return mul(this); }
  default Expr lt(Expr o) { return new Compare(CmpOp.LT, this, o); }
  default Expr le(Expr o) { return new Compare(CmpOp.LE, this, o); }
  default Expr eq(Expr o) { return new Compare(CmpOp.EQ, this, o); }
  default Expr ge(Expr o) { return new Compare(CmpOp.GE, this, o); }
  default Expr gt(Expr o) { return new Compare(CmpOp.GT, this, o); }
  default Expr toF32() { return type() == DType.F32 ? this : new Cast(DType.F32, this); }
}
