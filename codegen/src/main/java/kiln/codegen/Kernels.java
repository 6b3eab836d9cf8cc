// What the Java and CUDA renderers share beyond the expression walk: the sizes, strides and batch offsets of a
// matmul's var groups as source text (through either dialect's ExprRenderer), and the hash that names a kernel.
package kiln.codegen;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.function.Function;
import kiln.dsl.Dim;
import kiln.dsl.Expr;
import kiln.dsl.Tensor;
import kiln.dsl.Var;

final class Kernels {
  private Kernels() {}

  static List<Dim> dims(List<Var> vars) { return vars.stream().map(Var::dim).toList(); }

  static String product(ExprRenderer r, List<Var> group) { return product(dims(group), r::dim, ""); }

  /** The product of dims as a C or Java expression, each factor after cast ("" or "(long long) "), dims spelled by name; "1" for none. */
  static String product(List<Dim> dims, Function<Dim, String> name, String cast) {
    if (dims.isEmpty()) return "1";
    return cast + String.join(" * " + cast, dims.stream().map(name).toList());
  }

  /** Stride of a contiguous var group in a tensor: the stride of its innermost var. */
  static String groupStride(ExprRenderer r, Tensor t, List<Expr> index, List<Var> group) {
    if (group.isEmpty()) return "0";
    return r.stride(t, index.indexOf(group.getLast()));
  }

  /** Offset contributed by batch vars and constant indices. */
  static String base(ExprRenderer r, Tensor t, List<Expr> index, List<Var> batch) {
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < index.size(); i++) {
      Expr e = index.get(i);
      if (e instanceof Var v && batch.contains(v)) b.append(" + ").append(r.var(v)).append(" * ").append(r.stride(t, i));
      else if (e instanceof Expr.Const k && k.value() != 0) b.append(" + ").append((int) k.value()).append(" * ").append(r.stride(t, i));
    }
    return b.toString();
  }

  static String hash(String text) {
    try {
      byte[] h = MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8));
      return HexFormat.of().formatHex(h, 0, 5);
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
