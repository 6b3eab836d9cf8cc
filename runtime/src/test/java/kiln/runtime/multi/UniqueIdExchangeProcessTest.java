// The NCCL id exchange between real processes, as `--nodes 2 --rendezvous ...` runs it: two JVMs
// (node 1 started first, so it has to wait) meet through a directory or a loopback port and end
// with node 0's 128 bytes; the parse of --rendezvous is the CLI's.
package kiln.runtime.multi;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class UniqueIdExchangeProcessTest {
  @TempDir Path dir;

  private static Process node(String endpoint, int rank, String id) throws IOException {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    return new ProcessBuilder(List.of(java, "-cp", System.getProperty("java.class.path"), ExchangeNode.class.getName(), endpoint,
        Integer.toString(rank), "2", rank == 0 ? id : "")).redirectErrorStream(true).start();
  }

  private static String output(Process p) throws Exception {
    if (!p.waitFor(60, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new AssertionError("an exchange node did not finish within 60 s");
    }
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
    assertEquals(0, p.exitValue(), out);
    return out;
  }

  private void twoProcessesAgree(String endpoint) throws Exception {
    byte[] id = new byte[128];
    new Random(endpoint.hashCode()).nextBytes(id);
    String hex = HexFormat.of().formatHex(id);
    Process one = node(endpoint, 1, hex);
    Thread.sleep(300);   // node 1 waits for node 0 (retrying the connection, or polling for the file)
    Process zero = node(endpoint, 0, hex);
    assertEquals(hex, output(zero), "node 0");
    assertEquals(hex, output(one), "node 1 got node 0's id");
  }

  @Test
  void throughADirectory() throws Exception {
    twoProcessesAgree("file:" + dir);
    assertEquals(List.of(), java.nio.file.Files.list(dir).toList(), "node 0 removes the id and the acknowledgements");
  }

  @Test
  void throughALoopbackPort() throws Exception {
    twoProcessesAgree("tcp:127.0.0.1:" + Fixtures.freePort());
  }
}
