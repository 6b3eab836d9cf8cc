// Vector API spellings of map statements along one var x: lane j computes the element at x_ + j.
// An expression that does not use x stays scalar (rendered by the shared walk); loads whose last
// index is x (and x nowhere else) become contiguous vector loads; x itself an int vector for
// compares (the padded-vocab and causal masks). Anything else (a gather, an int tensor indexed by
// x) makes the statement unvectorisable and the caller keeps the scalar loop.
package kiln.codegen;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import kiln.dsl.Compute;
import kiln.dsl.DType;
import kiln.dsl.Expr;
import kiln.dsl.Exprs;
import kiln.dsl.Var;

final class JavaVector {
  /** What a rendered expression is: a scalar (same for every lane), a float vector, an int vector, a mask. */
  enum Kind { SCALAR, FLOATS, INTS, MASK }

  record Value(String text, Kind kind, DType type) {}

  /** Statement could not be vectorised along x. */
  static final class Unsupported extends RuntimeException {
    Unsupported(String why) { super(why, null, false, false); }
  }

  private final ExprRenderer r;
  private final Var x;
  /** ", " and the name of the lane mask of a partial chunk (loads and stores of x's tensors take it), or "". */
  private String mask = "";
  private final Map<Expr, String> scalarCse = new HashMap<>();
  private final Map<Expr, Value> vectorCse = new HashMap<>();
  private final Map<Expr, Integer> counts = new HashMap<>();
  private final List<String> prelude = new ArrayList<>();
  private int locals;

  private JavaVector(ExprRenderer r, Var x) {
    this.r = r;
    this.x = x;
  }

  /**
   * A group's statements with x vectorised (x is the innermost parallel var): the vector body
   * for one chunk of L lanes, or null when some statement cannot be vectorised.
   */
  static String group(ExprRenderer r, List<Compute> group, Var x, String indent, String mask) {
    StringBuilder out = new StringBuilder();
    JavaVector vec = new JavaVector(r, x);
    if (mask != null) vec.mask = ", " + mask;
    try {
      for (Compute c : group) {
        int last = c.outIndex().size() - 1;
        if (c.out().dtype() != DType.F32 || last < 0 || !c.outIndex().get(last).equals(x)) return null;
        for (int i = 0; i < last; i++) if (Exprs.uses(c.outIndex().get(i), x)) return null;
        vec.vectorCse.clear();   // an earlier statement's store may change what a load reads
        vec.counts.clear();
        vec.statement(c, out, indent);
      }
    } catch (Unsupported e) {
      return null;
    }
    return out.toString();
  }

  /** out[.., x] (=|+=) body, reductions (over other vars) kept per lane in a vector accumulator. */
  private void statement(Compute c, StringBuilder out, String indent) {
    String target = r.offset(c.out()) + " + " + linear(new Expr.Load(c.out(), c.outIndex()));
    List<Expr.Reduce> reductions = c.rootReductions();
    count(c.inner());
    String v = "vacc";
    if (reductions.isEmpty()) {
      v = floats(render(c.inner()));
      flushPrelude(out, indent);
    } else {
      boolean max = reductions.getFirst().op() == Expr.RedOp.MAX;
      out.append(indent).append(vacc(max));
      String inner = Statements.openLoops(r, Statements.vars(reductions), out, indent);
      String value = floats(render(c.inner()));
      flushPrelude(out, inner);
      out.append(inner).append("vacc = vacc.").append(max ? "max" : "add").append("(").append(value).append(");\n");
      Statements.closeLoops(reductions.size(), out, indent);
    }
    store(out, indent, target, v, c.accumulate(), c.out().storage());
  }

  private void store(StringBuilder out, String indent, String target, String v, boolean accumulate, DType storage) {
    String sum = accumulate ? "FloatVector.fromArray(S, F, " + target + mask + ").add(" + v + ")" : v;
    if (storage == DType.BF16) {
      // emulated bf16: round each lane to nearest even through its bits (NaN lanes kept), as Bf16.round
      String b = "b" + (locals++);
      out.append(indent).append("final FloatVector ").append(b).append("f = ").append(sum).append(";\n");
      out.append(indent).append("final IntVector ").append(b).append(" = ").append(b).append("f.reinterpretAsInts();\n");
      out.append(indent).append(b).append(".add(").append(b).append(".lanewise(VectorOperators.LSHR, 16).and(1).add(0x7FFF)).and(0xFFFF0000)")
          .append(".reinterpretAsFloats().blend(").append(b).append("f, ").append(b).append("f.test(VectorOperators.IS_NAN))")
          .append(".intoArray(F, ").append(target).append(mask).append(");\n");
      return;
    }
    out.append(indent).append(sum).append(".intoArray(F, ").append(target).append(mask).append(");\n");
  }

  /**
   * A root reduction whose innermost var k is contiguous in every load that uses it, with k
   * vectorised: the reduction loops (the innermost stepping by L) with a vector accumulator, a
   * scalar tail, and the lanes folded into the scalar accumulator {@code acc}. Null when the body
   * cannot be vectorised along k. The caller declares {@code acc} and stores it.
   */
  static String reduction(ExprRenderer r, Compute c, String indent) {
    List<Expr.Reduce> reductions = c.rootReductions();
    Var k = reductions.getLast().var();
    boolean max = reductions.getFirst().op() == Expr.RedOp.MAX;
    if (reductions.stream().anyMatch(red -> red.op() != reductions.getFirst().op())) return null;
    if (c.inner().type() != DType.F32) return null;
    StringBuilder out = new StringBuilder();
    JavaVector vec = new JavaVector(r, k);
    String body;
    try {
      vec.count(c.inner());
      body = vec.floats(vec.render(c.inner()));
    } catch (Unsupported e) {
      return null;
    }
    String kv = r.var(k), kd = r.dim(k.dim());
    out.append(indent).append(vacc(max));
    String inner = Statements.openLoops(r, Statements.vars(reductions.subList(0, reductions.size() - 1)), out, indent);
    out.append(inner).append("int ").append(kv).append(" = 0;\n");
    out.append(inner).append("for (; ").append(kv).append(" + L <= ").append(kd).append("; ").append(kv).append(" += L) {\n");
    vec.flushPrelude(out, inner + "  ");
    out.append(inner).append("  vacc = vacc.").append(max ? "max" : "add").append("(").append(body).append(");\n");
    out.append(inner).append("}\n");
    // the tail: scalar, through the shared walk
    out.append(inner).append("for (; ").append(kv).append(" < ").append(kd).append("; ").append(kv).append("++) {\n");
    Statements.fold(r, c, out, inner + "  ");
    out.append(inner).append("}\n");
    Statements.closeLoops(reductions.size() - 1, out, indent);
    // lanes summed in lane order: reduceLanes may add them in another order once compiled
    out.append(indent).append(max ? "acc = Math.max(acc, vacc.reduceLanes(VectorOperators.MAX));\n"
        : "vacc.intoArray(scratch, 0);\n" + indent + "for (int j = 0; j < L; j++) acc += scratch[j];\n");
    return out.toString();
  }

  /** The vector accumulator's declaration, from MAX's or SUM's identity. */
  private static String vacc(boolean max) {
    return "FloatVector vacc = " + (max ? "FloatVector.broadcast(S, Float.NEGATIVE_INFINITY)" : "FloatVector.zero(S)") + ";\n";
  }

  private void flushPrelude(StringBuilder out, String indent) {
    for (String p : prelude) out.append(indent).append(p).append('\n');
    prelude.clear();
  }

  private void count(Expr e) { Exprs.visit(e, y -> counts.merge(y, 1, Integer::sum)); }

  // ------------------------------------------------------------------ the walk

  private Value render(Expr e) {
    if (!Exprs.uses(e, x)) return new Value(r.render(e, scalarCse), Kind.SCALAR, e.type());
    Value bound = vectorCse.get(e);
    if (bound != null) return bound;
    Value v = switch (e) {
      case Var v2 -> new Value("IOTA.add(" + r.var(v2) + ")", Kind.INTS, DType.I32);
      case Expr.Load l -> load(l);
      case Expr.Unary u -> unary(u);
      case Expr.Binary b -> binary(b);
      case Expr.Compare c -> compare(c);
      case Expr.Select s -> select(s);
      case Expr.Cast c -> cast(c);
      case Expr.Const c -> throw new Unsupported("constant uses x");
      case Expr.SizeOf s -> throw new Unsupported("size uses x");
      case Expr.Reduce red -> throw new Unsupported("nested reduction");
      case Expr.Extern ex -> throw new Unsupported("extern");
      case Expr.RoundBf16 b -> roundBf16(b);
    };
    if (counts.getOrDefault(e, 0) > 1 && v.kind() != Kind.SCALAR) {
      String name = "v" + (locals++);
      String type = switch (v.kind()) {
        case FLOATS -> "FloatVector";
        case INTS -> "IntVector";
        case MASK -> "VectorMask<Float>";
        case SCALAR -> throw new IllegalStateException();
      };
      prelude.add("final " + type + " " + name + " = " + v.text() + ";");
      vectorCse.put(e, new Value(name, v.kind(), v.type()));
      return vectorCse.get(e);
    }
    return v;
  }

  /** The index of a load (or store) into its tensor, linearised as the shared walk does. */
  private String linear(Expr.Load l) {
    String full = r.render(l, scalarCse);
    String prefix = r.arena(l.tensor()) + "[" + r.offset(l.tensor()) + " + ";
    if (!full.startsWith(prefix) || !full.endsWith("]")) throw new IllegalStateException("unexpected load spelling " + full);
    return full.substring(prefix.length(), full.length() - 1);
  }

  private Value load(Expr.Load l) {
    int last = l.index().size() - 1;
    if (l.tensor().dtype() != DType.F32) throw new Unsupported("int tensor indexed by x");
    if (last < 0 || !l.index().get(last).equals(x)) throw new Unsupported("x not the last index of " + l.tensor().name());
    for (int i = 0; i < last; i++) if (Exprs.uses(l.index().get(i), x)) throw new Unsupported("x in an outer index");
    return new Value("FloatVector.fromArray(S, F, " + r.offset(l.tensor()) + " + " + linear(l) + mask + ")", Kind.FLOATS, DType.F32);
  }

  private Value unary(Expr.Unary u) {
    Value a = render(u.x());
    if (a.kind() != Kind.FLOATS) throw new Unsupported("unary on " + a.kind());
    String t = a.text();
    return new Value(switch (u.op()) {
      case NEG -> t + ".neg()";
      case EXP -> exp(t);
      // as the scalar dialect spells it: 1 - 2 / (e^2x + 1)
      case TANH -> "FloatVector.broadcast(S, 1.0f).sub(FloatVector.broadcast(S, 2.0f).div(" + exp(t + ".mul(2.0f)") + ".add(1.0f)))";
      case SQRT -> t + ".sqrt()";
      case RSQRT -> "FloatVector.broadcast(S, 1.0f).div(" + t + ".sqrt())";
      case ABS -> t + ".abs()";
      // no bit-reproducible vector form here: these stay scalar
      case LOG, SIN, COS, BF16 -> throw new Unsupported(u.op() + " has no reproducible vector form");
    }, Kind.FLOATS, DType.F32);
  }

  /**
   * e^x as locals in the prelude, from adds, multiplies, FMAs and exponent bits only, so the
   * JIT-compiled and the interpreted Vector API agree bit for bit (lanewise EXP does not: its SVML
   * stub and its Java fallback round differently, which made runs differ with JIT timing). Written
   * out, not a helper method: a call C2 does not inline boxes its vectors. x = n ln2 + r with
   * |r| <= ln2/2; e^r by its degree-6 Taylor polynomial (error < 2 ulp); 2^n through the exponent
   * bits; below -87.3 the result is 0, above 88.3 it is clamped there (tanh's e^2x only), NaN stays NaN.
   */
  private String exp(String x) {
    String e = "e" + (locals++);
    prelude.add("final FloatVector " + e + "x = " + x + ";");
    prelude.add("final FloatVector " + e + "c = " + e + "x.max(-87.3f).min(88.3f);");
    prelude.add("final FloatVector " + e + "t = " + e + "c.fma(FloatVector.broadcast(S, 1.44269504f), FloatVector.broadcast(S, 12582912.0f));");
    prelude.add("final FloatVector " + e + "n = " + e + "t.sub(12582912.0f);");
    prelude.add("final FloatVector " + e + "r = " + e + "n.fma(FloatVector.broadcast(S, -0.693145752f), " + e + "c).add(" + e + "n.mul(-1.42860677e-6f));");
    String p = "FloatVector.broadcast(S, 1.0f / 720)";
    for (String k : new String[] {"1.0f / 120", "1.0f / 24", "1.0f / 6", "0.5f", "1.0f", "1.0f"}) {
      p = p + ".fma(" + e + "r, FloatVector.broadcast(S, " + k + "))";
    }
    prelude.add("final FloatVector " + e + "p = " + p + ";");
    prelude.add("final FloatVector " + e + " = " + e + "p.mul(" + e + "t.reinterpretAsInts().sub(0x4B400000).add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats())"
        + ".blend(0.0f, " + e + "x.compare(VectorOperators.LT, -87.3f)).blend(" + e + "x, " + e + "x.test(VectorOperators.IS_NAN));");
    return e;
  }

  /**
   * Stochastic bf16 rounding lane by lane: the same integer arithmetic as Bf16.stochastic (hash of index and
   * seed, all mod 2^32), written out as locals for the reason exp is.
   */
  private Value roundBf16(Expr.RoundBf16 b) {
    String x = floats(render(b.x()));
    Value index = render(b.index()), seed = render(b.seed());
    if (seed.kind() != Kind.SCALAR) throw new Unsupported("a seed that varies along x");
    String h = "h" + (locals++);
    prelude.add("final FloatVector " + h + "x = " + x + ";");
    prelude.add("final IntVector " + h + "a = " + intVector(index) + ".mul(0x9E3779B1).add((" + seed.text() + ") * 0x85EBCA77 + 0x165667B1);");
    prelude.add("final IntVector " + h + "b = " + h + "a.lanewise(VectorOperators.XOR, " + h + "a.lanewise(VectorOperators.LSHR, 16)).mul(0x7FEB352D);");
    prelude.add("final IntVector " + h + "c = " + h + "b.lanewise(VectorOperators.XOR, " + h + "b.lanewise(VectorOperators.LSHR, 15)).mul(0x846CA68B);");
    prelude.add("final IntVector " + h + "d = " + h + "c.lanewise(VectorOperators.XOR, " + h + "c.lanewise(VectorOperators.LSHR, 16));");
    prelude.add("final IntVector " + h + "i = " + h + "x.reinterpretAsInts();");
    prelude.add("final FloatVector " + h + " = " + h + "i.add(" + h + "d.and(0xFFFF)).and(0xFFFF0000).reinterpretAsFloats()"
        + ".blend(" + h + "x, " + h + "i.and(0x7F800000).compare(VectorOperators.EQ, 0x7F800000).cast(S));");
    return new Value(h, Kind.FLOATS, DType.F32);
  }

  private Value binary(Expr.Binary b) {
    Value a = render(b.a()), c = render(b.b());
    if (b.type() == DType.I32) {
      String op = switch (b.op()) { case ADD -> "add"; case SUB -> "sub"; case MUL -> "mul"; default -> throw new Unsupported("int " + b.op()); };
      return new Value(intVector(a) + "." + op + "(" + ints(c) + ")", Kind.INTS, DType.I32);
    }
    String method = switch (b.op()) {
      case ADD -> "add"; case SUB -> "sub"; case MUL -> "mul"; case DIV -> "div"; case MAX -> "max"; case MIN -> "min";
      case POW -> throw new Unsupported("pow has no reproducible vector form"); case MOD -> throw new Unsupported("float mod");
    };
    if (a.kind() == Kind.FLOATS && c.kind() == Kind.SCALAR) return new Value(a.text() + "." + method + "(" + c.text() + ")", Kind.FLOATS, DType.F32);
    return new Value(floats(a) + "." + method + "(" + floats(c) + ")", Kind.FLOATS, DType.F32);
  }

  private Value compare(Expr.Compare c) {
    Value a = render(c.a()), b = render(c.b());
    String op = "VectorOperators." + c.op().name();
    if (c.a().type() == DType.I32) return new Value(intVector(a) + ".compare(" + op + ", " + ints(b) + ").cast(S)", Kind.MASK, DType.BOOL);
    if (c.a().type() != DType.F32) throw new Unsupported("compare of " + c.a().type());
    return new Value(floats(a) + ".compare(" + op + ", " + floats(b) + ")", Kind.MASK, DType.BOOL);
  }

  private Value select(Expr.Select s) {
    if (s.type() != DType.F32) throw new Unsupported("select of " + s.type());
    Value cond = render(s.cond()), then = render(s.then()), otherwise = render(s.otherwise());
    if (cond.kind() == Kind.SCALAR) {
      return new Value("(" + cond.text() + " ? " + floats(then) + " : " + floats(otherwise) + ")", Kind.FLOATS, DType.F32);
    }
    // both sides are evaluated in every lane: loads stay inside the row, so that is safe
    return new Value(floats(otherwise) + ".blend(" + floats(then) + ", " + cond.text() + ")", Kind.FLOATS, DType.F32);
  }

  private Value cast(Expr.Cast c) {
    Value a = render(c.x());
    if (c.to() == DType.F32 && a.kind() == Kind.INTS) return new Value("((FloatVector) " + a.text() + ".convert(VectorOperators.I2F, 0))", Kind.FLOATS, DType.F32);
    throw new Unsupported("cast to " + c.to() + " of " + a.kind());
  }

  private static String floats(Value v) {
    if (v.kind() == Kind.FLOATS) return v.text();
    if (v.kind() != Kind.SCALAR) throw new Unsupported(v.kind() + " used as floats");
    if (v.type() != DType.F32) throw new Unsupported("scalar " + v.type() + " used as floats");
    return "FloatVector.broadcast(S, " + v.text() + ")";
  }

  /** An int vector on the left of a lanewise call (a scalar is broadcast). */
  private static String intVector(Value v) {
    if (v.kind() == Kind.SCALAR && v.type() == DType.I32) return "IntVector.broadcast(SI, " + v.text() + ")";
    if (v.kind() != Kind.INTS) throw new Unsupported(v.kind() + " used as ints");
    return v.text();
  }

  private static String ints(Value v) {
    if (v.kind() != Kind.INTS && v.kind() != Kind.SCALAR) throw new Unsupported(v.kind() + " used as ints");
    return v.text();   // IntVector's lanewise methods take a scalar int
  }
}
