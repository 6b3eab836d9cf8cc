// Rendezvous: --gpus/--nodes/--node-rank/--rendezvous parsed into ranks and an endpoint; every misuse
// has its exact message.
package kiln.runtime.multi;

import static kiln.runtime.multi.Fixtures.assertMessage;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

class RendezvousTest {
  private static Rendezvous parse(String... args) { return Rendezvous.parse(List.of(args)); }

  private static void misuse(String message, String... args) {
    assertMessage(IllegalArgumentException.class, message, () -> parse(args));
  }

  @Test
  void noOptionsIsOneGpu() {
    Rendezvous r = parse();
    assertEquals(Rendezvous.SINGLE, r);
    assertEquals(1, r.worldSize());
    assertFalse(r.distributed());
    assertNull(r.endpoint());
  }

  @Test
  void oneNodeManyGpus() {
    Rendezvous r = parse("--gpus", "8");
    assertEquals(new Rendezvous(8, 1, 0, null), r);
    assertEquals(8, r.worldSize());
    assertTrue(r.distributed());
    assertEquals(5, r.globalRank(5));
  }

  @Test
  void nodesThroughASharedDirectory() {
    Rendezvous r = parse("--gpus=4", "--nodes", "2", "--node-rank=1", "--rendezvous", "file:/shared/run7");
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
    misuse("--gpus must be positive, got 0", "--gpus", "0");
    misuse("--nodes must be positive, got -1", "--nodes", "-1");
    misuse("--node-rank must be in [0, --nodes 2), got 2", "--nodes", "2", "--node-rank", "2", "--rendezvous", "file:/s");
    misuse("--node-rank must be in [0, --nodes 1), got 1", "--node-rank", "1");
    misuse("--gpus must be an integer, got 'four'", "--gpus", "four");
    misuse("--gpus 65536 × --nodes 65536 ranks is too many", "--gpus", "65536", "--nodes", "65536", "--rendezvous", "file:/s");
    assertMessage(IndexOutOfBoundsException.class, "local GPU must be in [0, 2), got 2", () -> parse("--gpus", "2").globalRank(2));
  }

  @Test
  void rendezvousNeededExactlyWithSeveralNodes() {
    misuse("--nodes 2 needs --rendezvous file:DIR (a directory every node sees) or tcp:HOST:PORT (node 0's address)", "--nodes", "2");
    misuse("--rendezvous is only used with --nodes > 1 (one node shares the NCCL id in memory), got tcp:h:1",
        "--gpus", "2", "--rendezvous", "tcp:h:1");
  }

  @Test
  void endpointSpellings() {
    misuse("--rendezvous must be file:DIR or tcp:HOST:PORT, got 'nfs:/x'", "--nodes", "2", "--rendezvous", "nfs:/x");
    misuse("--rendezvous file:DIR: the directory is missing", "--nodes", "2", "--rendezvous", "file:");
    misuse("--rendezvous tcp:HOST:PORT: the port is missing in 'node0'", "--nodes", "2", "--rendezvous", "tcp:node0");
    misuse("--rendezvous tcp:HOST:PORT: the host is missing in ':29500'", "--nodes", "2", "--rendezvous", "tcp::29500");
    misuse("--rendezvous tcp:HOST:PORT: port must be in [1, 65535], got '0'", "--nodes", "2", "--rendezvous", "tcp:h:0");
    misuse("--rendezvous tcp:HOST:PORT: port must be in [1, 65535], got '65536'", "--nodes", "2", "--rendezvous", "tcp:h:65536");
    misuse("--rendezvous tcp:HOST:PORT: port must be in [1, 65535], got 'http'", "--nodes", "2", "--rendezvous", "tcp:h:http");
    misuse("--rendezvous tcp:HOST:PORT: write an IPv6 host in brackets, as tcp:[::1]:29500, got '::1:29500'",
        "--nodes", "2", "--rendezvous", "tcp:::1:29500");
    misuse("--rendezvous tcp:HOST:PORT: expected [IPV6]:PORT, got '[::1]29500'", "--nodes", "2", "--rendezvous", "tcp:[::1]29500");
  }

  @Test
  void argumentList() {
    misuse("unknown option '--gpu' (expected --gpus, --nodes, --node-rank or --rendezvous)", "--gpu", "2");
    misuse("unknown option '--batch=8' (expected --gpus, --nodes, --node-rank or --rendezvous)", "--batch=8");
    misuse("--nodes needs a value", "--gpus", "2", "--nodes");
    misuse("--gpus given twice", "--gpus", "2", "--gpus=4");
  }
}
