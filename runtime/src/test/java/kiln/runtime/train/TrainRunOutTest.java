// --out of a run over several processes: node 0 must not take the other nodes' node-R directories (which they may
// make first, in a shared --out) for a previous run's files; anything else still makes the directory "not empty".
package kiln.runtime.train;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import kiln.runtime.multi.Rendezvous;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrainRunOutTest {
  private static Rendezvous node0of(int nodes) { return new Rendezvous(1, nodes, 0, new Rendezvous.FileEndpoint(Path.of("/tmp/kiln-rdv"))); }

  @Test void nodeZeroIgnoresItsPeersDirectories(@TempDir Path out) throws IOException {
    Files.createDirectories(out.resolve("node-1"));
    assertDoesNotThrow(() -> TrainRun.checkOut(out, false, node0of(2)));
    // one process alone, or a node-R beyond the run's nodes, or a file of that name: a previous run's
    var e = assertThrows(IllegalArgumentException.class, () -> TrainRun.checkOut(out, false, Rendezvous.SINGLE));
    assertEquals("--out " + out + " is not empty; pass --force to write into it", e.getMessage());
    Files.createDirectories(out.resolve("node-2"));
    assertThrows(IllegalArgumentException.class, () -> TrainRun.checkOut(out, false, node0of(2)));
    assertDoesNotThrow(() -> TrainRun.checkOut(out, false, node0of(3)));
    Files.writeString(out.resolve("log.csv"), "x");
    assertThrows(IllegalArgumentException.class, () -> TrainRun.checkOut(out, false, node0of(3)));
  }
}
