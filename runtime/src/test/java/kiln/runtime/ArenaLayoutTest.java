// The arena's layout as a pure plan, without memory: a chain of 10^10-element tensors (40 GB, far past
// any Java array) gets its lifetimes, in-place pair and offsets, while the host Arena refuses it.
package kiln.runtime;

import static kiln.dsl.Graph.dims;
import static kiln.dsl.Ops.sum;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import java.util.Set;
import kiln.dsl.DType;
import kiln.dsl.Dim;
import kiln.dsl.Graph;
import kiln.dsl.Tensor;
import org.junit.jupiter.api.Test;

class ArenaLayoutTest {
  static final Dim R = new Dim("R"), N = new Dim("N");
  static final int ROWS = 100_000, COLS = 100_000;   // 10^10 elements a tensor

  final Graph g = new Graph();
  final Tensor x = g.input("x", DType.F32, R, N);
  final Tensor a = g.compute("a", dims(R, N), (r, n) -> x.at(r, n).mul(2));                  // launch 0
  final Tensor b = g.compute("b", dims(R, N), (r, n) -> a.at(r, n).add(1));                  // 1: a's last read, b's first write
  final Tensor s = g.compute("s", dims(R), r -> sum(N, n -> b.at(r, n)));                    // 2: b's last read
  final Tensor d = g.compute("d", dims(R, N), (r, n) -> x.at(r, n).mul(s.at(r)));           // 3: after a and b are dead
  final Tensor e = g.compute("e", dims(R, N), (r, n) -> d.at(r, n).add(x.at(r, n)));        // 4: pinned, read after the step
  final Map<Dim, Integer> sizes = Map.of(R, ROWS, N, COLS);

  private ArenaLayout plan() {
    return new ArenaLayout(g, sizes, Set.of(e), ArenaLayout.Launches.each(g.computes()), false, Map.of());
  }

  @Test void lifetimesInPlaceAndOffsetsArePlannedWithoutMemory() {
    ArenaLayout p = plan();
    long big = (long) ROWS * COLS;
    assertEquals(big, p.elements(a));
    assertEquals(p.offsetLong(a), p.offsetLong(b), "b is written over a, element by element, where a is read for the last time");
    assertEquals(p.offsetLong(a), p.offsetLong(d), "d starts after a and b are dead: it takes their space");
    assertNotEquals(p.offsetLong(s), p.offsetLong(b), "s and b are live in the same launch");
    // x (input) and e (pinned) own their space; a, b, d share one region of one tensor, and s its own
    assertTrue(p.offsetLong(x) != p.offsetLong(e) && p.offsetLong(e) != p.offsetLong(a), "x, e and the shared region are apart");
    assertEquals(4 * (big + ROWS), p.sharedBytes(), "the shared region: one big tensor (a, b, then d) and s");
    assertEquals(4 * (3 * big + ROWS), p.bytes(), "x, e, the shared region (a, b, d) and s");
  }

  @Test void withoutLaunchesEveryTensorHasItsOwnSpace() {
    ArenaLayout p = new ArenaLayout(g, sizes, Set.of(), null, false, Map.of());
    assertEquals(0, p.sharedBytes());
    assertEquals(4 * (5 * (long) ROWS * COLS + ROWS), p.bytes());
  }

  @Test void theHostArenaRefusesWhatAJavaArrayCannotHold() {
    var ex = assertThrows(IllegalArgumentException.class,
        () -> new Arena(g, sizes, Set.of(e), ArenaLayout.Launches.each(g.computes()), true, Map.of()));
    assertEquals("arena needs " + plan().floatCount() + " floats; Java arrays hold at most " + (Integer.MAX_VALUE - 16), ex.getMessage());
  }
}
