// Derived gradients of each differentiable primitive against central finite differences, both
// computed by generated CPU kernels (so a wrong derivative rule in kiln.dsl fails here).
package kiln.runtime;

import static kiln.dsl.Graph.dims;
import static kiln.dsl.Ops.sum;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiFunction;
import kiln.dsl.Compute;
import kiln.dsl.DType;
import kiln.dsl.Dim;
import kiln.dsl.Expr;
import kiln.dsl.Graph;
import kiln.dsl.Ops;
import kiln.dsl.Role;
import kiln.dsl.Tensor;
import kiln.runtime.cpu.CpuExecutor;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class GradientCheckTest {
  static final Dim N = new Dim("N");

  record Case(String name, BiFunction<Expr, Expr, Expr> f) {
    @Override public String toString() { return name; }
  }

  static List<Case> cases() {
    return List.of(
        new Case("exp", (x, y) -> x.exp()), new Case("log", (x, y) -> x.log()), new Case("tanh", (x, y) -> x.tanh()),
        new Case("sqrt", (x, y) -> x.sqrt()), new Case("rsqrt", (x, y) -> x.rsqrt()), new Case("sin", (x, y) -> x.sin()),
        new Case("cos", (x, y) -> x.cos()), new Case("neg", (x, y) -> x.neg()),
        new Case("abs", (x, y) -> new Expr.Unary(Expr.UnOp.ABS, x.sub(1.5))),
        new Case("mul", Expr::mul), new Case("div", Expr::div), new Case("sub", Expr::sub),
        new Case("max", Expr::max), new Case("min", Expr::min), new Case("pow3", (x, y) -> x.pow(Ops.lit(3))),
        new Case("select", (x, y) -> Ops.select(x.lt(y), x.mul(y), x.exp())),
        new Case("chain", (x, y) -> x.mul(y).tanh().mul(x.exp().add(y).log())));
  }

  @ParameterizedTest
  @MethodSource("cases")
  void derivedGradientMatchesFiniteDifferences(Case c) {
    check(c.name(), (g, x, y) -> {
      Tensor out = g.compute("f", dims(N), i -> c.f().apply(x.at(i), y.at(i)));
      return g.compute("loss", dims(), () -> sum(N, i -> out.at(i)));
    });
  }

  /** A recomputed tensor: the backward reads a copy made in the backward, never the forward's. */
  @org.junit.jupiter.api.Test
  void recomputedTensorsGiveTheSameGradients() {
    Graph[] built = new Graph[1];
    Tensor[] kept = new Tensor[2];
    check("recompute", (g, x, y) -> {
      Tensor f = g.recompute(g.compute("f", dims(N), i -> x.at(i).mul(y.at(i)).tanh()));
      built[0] = g;
      kept[0] = f;
      return kept[1] = g.compute("loss", dims(), () -> sum(N, i -> f.at(i).mul(f.at(i)).mul(y.at(i))));
    });
    List<Compute> all = built[0].computes();
    int backward = all.indexOf(built[0].producer(kept[1])) + 1;
    boolean recomputed = false;
    for (Compute c : all.subList(backward, all.size())) {
      recomputed |= c.name().startsWith("recompute/");
      for (Expr.Load l : kiln.dsl.Exprs.loads(c.body())) assertTrue(!l.tensor().equals(kept[0]), c.name() + " reads the kept " + kept[0].name());
    }
    assertTrue(recomputed, "a recompute compute in the backward");
  }

  interface Build {
    Tensor loss(Graph g, Tensor x, Tensor y);
  }

  /** Builds params x, y (N each, adjacent in one block), the loss, its backward; checks dx, dy against central differences. */
  private static void check(String name, Build build) {
    int n = 64;
    Graph g = new Graph();
    var shapes = new LinkedHashMap<String, List<Dim>>();
    shapes.put("x", List.of(N));
    shapes.put("y", List.of(N));
    Map<String, Tensor> p = g.block("params", Role.PARAM, shapes);
    Map<String, Tensor> dp = g.mirrorBlock(p, "grads", Role.GRAD);
    g.gradientsOf(p, dp);
    Tensor x = p.get("x"), y = p.get("y");
    Tensor loss = build.loss(g, x, y);
    int forwardEnd = g.computes().size();
    g.backward(loss);
    List<Compute> all = g.computes();
    Map<String, List<Compute>> sections = new LinkedHashMap<>();
    sections.put("forward", all.subList(0, forwardEnd));
    sections.put("backward", all.subList(forwardEnd, all.size()));
    Arena arena = new Arena(g, Map.of(N, n));
    try (CpuExecutor ex = new CpuExecutor(arena, sections, 2)) {
      int px = arena.offset(x), py = arena.offset(y), lossAt = arena.offset(loss);
      java.util.SplittableRandom rnd = new java.util.SplittableRandom(7);
      for (int i = 0; i < n; i++) {
        arena.f[px + i] = (float) (0.2 + 1.6 * rnd.nextDouble());
        arena.f[py + i] = (float) (0.2 + 1.6 * rnd.nextDouble());
      }
      ex.run("forward");
      ex.run("backward");
      float[] grads = arena.read(dp.get("x").root());
      float h = 1e-2f;
      double worst = 0;
      for (int i = 0; i < 2 * n; i++) {
        float saved = arena.f[px + i];       // x then y: adjacent in the params block
        arena.f[px + i] = saved + h;
        ex.run("forward");
        double up = arena.f[lossAt];
        arena.f[px + i] = saved - h;
        ex.run("forward");
        double down = arena.f[lossAt];
        arena.f[px + i] = saved;
        double numeric = (up - down) / (2 * h);
        double err = Math.abs(numeric - grads[i]) / Math.max(1, Math.abs(numeric));
        worst = Math.max(worst, err);
      }
      assertTrue(worst < 2e-2, name + ": worst relative error " + worst);
      assertTrue(py == px + n, "x and y adjacent in the block");
    }
  }
}
