// The shapes of derived backward computes: gathers for affine maps, a scatter for data-dependent
// indices, zero-fill before partial writes, accumulation after the first contribution.
package kiln.dsl;

import static kiln.dsl.Graph.dims;
import static kiln.dsl.Ops.sum;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class AutodiffTest {
  static final Dim M = new Dim("M"), N = new Dim("N"), K = new Dim("K"), V = new Dim("V");

  private static List<Compute> backward(Graph g, int from) { return g.computes().subList(from, g.computes().size()); }

  @Test void matmulGradientsAreTwoGatherReductions() {
    Graph g = new Graph();
    Tensor w = g.tensor("w", Role.PARAM, DType.F32, N, K);
    g.gradientsOf(Map.of("w", w), Map.of("w", g.tensor("dw", Role.GRAD, DType.F32, N, K)));
    Tensor x = g.input("x", DType.F32, M, K);
    Tensor y = g.compute("y", dims(M, N), (m, n) -> sum(K, k -> x.at(m, k).mul(w.at(n, k))));
    Tensor loss = g.compute("loss", dims(), () -> sum(M, m -> sum(N, n -> y.at(m, n))));
    int before = g.computes().size();
    g.backward(loss);
    List<Compute> back = backward(g, before);
    Compute dw = back.stream().filter(c -> c.out().name().equals("dw")).findFirst().orElseThrow();
    assertTrue(dw.isFullCover());
    assertFalse(dw.accumulate());
    assertEquals(1, dw.rootReductions().size(), "sum over m, the var dw's index does not fix");
    assertEquals(M, dw.rootReductions().getFirst().var().dim());
    // x is an input: no gradient is derived for it
    assertTrue(back.stream().noneMatch(c -> c.out().name().equals("dx")));
  }

  @Test void embeddingGradientIsAScatterAfterAZeroFill() {
    Graph g = new Graph();
    Tensor table = g.tensor("table", Role.PARAM, DType.F32, V, K);
    g.gradientsOf(Map.of("table", table), Map.of("table", g.tensor("dtable", Role.GRAD, DType.F32, V, K)));
    Tensor ids = g.input("ids", DType.I32, M);
    Tensor e = g.compute("e", dims(M, K), (m, k) -> table.at(ids.at(m), k));
    Tensor loss = g.compute("loss", dims(), () -> sum(M, m -> sum(K, k -> e.at(m, k).square())));
    int before = g.computes().size();
    g.backward(loss);
    List<Compute> back = backward(g, before);
    List<Compute> toTable = back.stream().filter(c -> c.out().name().equals("dtable")).toList();
    assertEquals(2, toTable.size());
    assertEquals("zero/dtable", toTable.get(0).name());
    assertTrue(toTable.get(1).accumulate());
    assertTrue(toTable.get(1).outIndex().getFirst() instanceof Expr.Load, "the row index is the loaded id");
  }

  @Test void secondContributionAccumulates() {
    Graph g = new Graph();
    Tensor w = g.tensor("w", Role.PARAM, DType.F32, K);
    g.gradientsOf(Map.of("w", w), Map.of("w", g.tensor("dw", Role.GRAD, DType.F32, K)));
    Tensor a = g.compute("a", dims(K), k -> w.at(k).exp());
    Tensor b = g.compute("b", dims(K), k -> a.at(k).mul(w.at(k)));
    Tensor loss = g.compute("loss", dims(), () -> sum(K, k -> b.at(k)));
    int before = g.computes().size();
    g.backward(loss);
    List<Compute> toW = backward(g, before).stream().filter(c -> c.out().name().equals("dw")).toList();
    assertEquals(2, toW.size());
    assertFalse(toW.get(0).accumulate());
    assertTrue(toW.get(1).accumulate());
  }

  @Test void nestedReductionsAreHoistedToTheirOwnCompute() {
    Graph g = new Graph();
    Tensor x = g.input("x", DType.F32, M, K);
    g.layer("ln");
    g.compute("mean", dims(M), m -> sum(K, k -> x.at(m, k)).div(Ops.sizeF(K)));
    assertEquals(List.of("ln.mean.r1", "ln.mean"), g.computes().stream().map(Compute::name).toList());
    assertTrue(g.computes().get(1).rootReductions().isEmpty());
  }
}
