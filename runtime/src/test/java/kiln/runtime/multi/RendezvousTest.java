// Rendezvous: the values of --gpus/--nodes/--node-rank/--rendezvous made into ranks and an endpoint;
// every misuse has its exact message.
package kiln.runtime.multi;

import static kiln.runtime.multi.Fixtures.assertMessage;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class RendezvousTest {
  private static void misuse(String message, int gpus, int nodes, int nodeRank, String rendezvous) {
    assertMessage(IllegalArgumentException.class, message, () -> Rendezvous.of(gpus, nodes, nodeRank, rendezvous));
  }

  /** A two-node run over the given --rendezvous value. */
  private static void misuse(String message, String rendezvous) { misuse(message, 1, 2, 0, rendezvous); }

  @Test
  void noOptionsIsOneGpu() {
    Rendezvous r = Rendezvous.of(1, 1, 0, null);
    assertEquals(Rendezvous.SINGLE, r);
    assertEquals(1, r.worldSize());
    assertNull(r.endpoint());
  }

  @Test
  void oneNodeManyGpus() {
    Rendezvous r = Rendezvous.of(8, 1, 0, null);
    assertEquals(new Rendezvous(8, 1, 0, null), r);
    assertEquals(8, r.worldSize());
    assertEquals(5, r.globalRank(5));
  }

  @Test
  void nodesThroughASharedDirectory() {
    Rendezvous r = Rendezvous.of(4, 2, 1, "file:/shared/run7");
    assertEquals(new Rendezvous(4, 2, 1, new Rendezvous.FileEndpoint(Path.of("/shared/run7"))), r);
    assertEquals(8, r.worldSize());
    assertEquals(4, r.globalRank(0));
    assertEquals(7, r.globalRank(3));
    assertEquals("file:/shared/run7", r.endpoint().toString());
  }

  @Test
  void nodesOverTcp() {
    Rendezvous r = Rendezvous.of(2, 3, 0, "tcp:node0.cluster:29500");
    assertEquals(new Rendezvous.TcpEndpoint("node0.cluster", 29500), r.endpoint());
    assertEquals(6, r.worldSize());
    assertEquals(new Rendezvous.TcpEndpoint("10.0.0.1", 1), Rendezvous.endpoint("tcp:10.0.0.1:1"));
    Rendezvous.Endpoint v6 = Rendezvous.endpoint("tcp:[::1]:65535");
    assertEquals(new Rendezvous.TcpEndpoint("::1", 65535), v6);
    assertEquals("tcp:[::1]:65535", v6.toString());
  }

  @Test
  void countsAndRanks() {
    misuse("--gpus must be positive, got 0", 0, 1, 0, null);
    misuse("--nodes must be positive, got -1", 1, -1, 0, null);
    misuse("--node-rank must be in [0, --nodes 2), got 2", 1, 2, 2, "file:/s");
    misuse("--node-rank must be in [0, --nodes 1), got 1", 1, 1, 1, null);
    misuse("--gpus 65536 × --nodes 65536 ranks is too many", 65536, 65536, 0, "file:/s");
    assertMessage(IndexOutOfBoundsException.class, "local GPU must be in [0, 2), got 2", () -> Rendezvous.of(2, 1, 0, null).globalRank(2));
  }

  @Test
  void rendezvousNeededExactlyWithSeveralNodes() {
    misuse("--nodes 2 needs --rendezvous file:DIR (a directory every node sees) or tcp:HOST:PORT (node 0's address)", 1, 2, 0, null);
    misuse("--rendezvous is only used with --nodes > 1 (one node shares the NCCL id in memory), got tcp:h:1", 2, 1, 0, "tcp:h:1");
  }

  @Test
  void endpointSpellings() {
    misuse("--rendezvous must be file:DIR or tcp:HOST:PORT, got 'nfs:/x'", "nfs:/x");
    misuse("--rendezvous file:DIR: the directory is missing", "file:");
    misuse("--rendezvous tcp:HOST:PORT: the port is missing in 'node0'", "tcp:node0");
    misuse("--rendezvous tcp:HOST:PORT: the host is missing in ':29500'", "tcp::29500");
    misuse("--rendezvous tcp:HOST:PORT: port must be in [1, 65535], got '0'", "tcp:h:0");
    misuse("--rendezvous tcp:HOST:PORT: port must be in [1, 65535], got '65536'", "tcp:h:65536");
    misuse("--rendezvous tcp:HOST:PORT: port must be in [1, 65535], got 'http'", "tcp:h:http");
    misuse("--rendezvous tcp:HOST:PORT: write an IPv6 host in brackets, as tcp:[::1]:29500, got '::1:29500'", "tcp:::1:29500");
    misuse("--rendezvous tcp:HOST:PORT: expected [IPV6]:PORT, got '[::1]29500'", "tcp:[::1]29500");
  }
}
