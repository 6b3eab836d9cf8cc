// Every error a layer definition can raise, with its exact message (STYLE rule 9).
package kiln.dsl;

import static kiln.dsl.Graph.dims;
import static kiln.dsl.Ops.lit;
import static kiln.dsl.Ops.sum;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class DslErrorsTest {
  static final Dim B = new Dim("B"), T = new Dim("T"), C = new Dim("C");

  private static String error(Runnable r) { return assertThrows(DslException.class, r::run).getMessage(); }

  @Test void wrongNumberOfIndices() {
    Graph g = new Graph();
    Tensor x = g.input("x", DType.F32, B, T);
    g.layer("ln");
    assertEquals("layer ln, compute mean: tensor x[B, T] indexed with 1 indices [b], expected 2",
        error(() -> g.compute("mean", dims(B), b -> x.at(b))));
  }

  @Test void varOverTheWrongDim() {
    Graph g = new Graph();
    Tensor x = g.input("x", DType.F32, B, T);
    g.layer("attn");
    assertEquals("layer attn, compute swap: tensor x[B, T]: index 0 is a var over T, but dim 0 is B",
        error(() -> g.compute("swap", dims(T, B), (t, b) -> x.at(t, b))));
  }

  @Test void floatIndex() {
    Graph g = new Graph();
    Tensor x = g.input("x", DType.F32, B);
    Tensor ids = g.input("ids", DType.F32, B);
    g.layer("enc");
    assertEquals("layer enc, compute gather: tensor x: index 0 (ids[b]) is F32, expected I32",
        error(() -> g.compute("gather", dims(B), b -> x.at(ids.at(b)))));
  }

  @Test void mixedTypes() {
    Graph g = new Graph();
    Tensor x = g.input("x", DType.F32, B);
    g.layer("mlp");
    assertEquals("layer mlp, compute bad: operands of add differ in type: x[b] is F32, b is I32",
        error(() -> g.compute("bad", dims(B), b -> x.at(b).add(b))));
  }

  @Test void selectNeedsABoolean() {
    Graph g = new Graph();
    Tensor x = g.input("x", DType.F32, B);
    g.layer("mask");
    assertEquals("layer mask, compute m: select condition x[b] is F32, expected BOOL",
        error(() -> g.compute("m", dims(B), b -> Ops.select(x.at(b), lit(1), lit(0)))));
  }

  @Test void booleanBody() {
    Graph g = new Graph();
    Tensor x = g.input("x", DType.F32, B);
    g.layer("cmp");
    assertEquals("layer cmp, compute c: body is BOOL, expected F32 or I32",
        error(() -> g.compute("c", dims(B), b -> x.at(b).gt(lit(0)))));
  }

  @Test void lossMustBeAScalar() {
    Graph g = new Graph();
    Tensor x = g.tensor("x", Role.PARAM, DType.F32, B);
    Tensor y = g.compute("y", dims(B), b -> x.at(b).square());
    assertEquals("backward: loss model.y[B] must be an F32 scalar (no dims)", error(() -> g.backward(y)));
  }

  @Test void maxReductionMustBeDetached() {
    Graph g = new Graph();
    Tensor x = g.tensor("x", Role.PARAM, DType.F32, B, C);
    g.gradientsOf(java.util.Map.of("x", x), java.util.Map.of("x", g.tensor("dx", Role.GRAD, DType.F32, B, C)));
    g.layer("softmax");
    Tensor m = g.compute("max", dims(B), b -> Ops.max(C, c -> x.at(b, c)));
    Tensor loss = g.compute("loss", dims(), () -> sum(B, b -> m.at(b)));
    assertEquals("layer softmax, compute softmax.max: gradient of a MAX reduction is not derived; detach it (it is a constant shift, as in softmax)",
        error(() -> g.backward(loss)));
  }

  @Test void paramWithoutGradientStorage() {
    Graph g = new Graph();
    Tensor x = g.tensor("x", Role.PARAM, DType.F32, B);
    Tensor loss = g.compute("loss", dims(), () -> sum(B, b -> x.at(b).square()));
    assertEquals("backward: param x has no gradient storage bound", error(() -> g.backward(loss)));
  }

  @Test void sliceOfAScalar() {
    Graph g = new Graph();
    Tensor s = g.input("s", DType.F32);
    assertEquals("tensor s has no dims to slice", error(() -> s.slice(0)));
  }
}
