// UniqueIdExchange for real on this machine: nodes played by threads sharing a temp directory or a
// loopback port hand 128 random bytes around; timeouts, stale files and strangers give exact messages.
package kiln.runtime.multi;

import static kiln.runtime.multi.Fixtures.assertMessage;
import static kiln.runtime.multi.Fixtures.freePort;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class UniqueIdExchangeTest {
  private static final Duration LONG = Duration.ofSeconds(20), SHORT = Duration.ofMillis(300);
  private static final String LOOPBACK = "127.0.0.1";

  @TempDir Path dir;

  private static byte[] randomId(long seed) {
    byte[] id = new byte[128];
    new Random(seed).nextBytes(id);
    return id;
  }

  /** Only node 0 may make the id. */
  private static Supplier<byte[]> maker(int rank, byte[] id) {
    return () -> {
      if (rank != 0) throw new AssertionError("node " + rank + " made an id");
      return id;
    };
  }

  interface Node {
    byte[] exchange(int rank) throws Exception;
  }

  /** Runs nodes ranks-1 .. 0 on their own threads (the others first, so they have to wait for node 0); returns each node's id. */
  private static List<byte[]> runNodes(int ranks, Node node) throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(ranks);
    try {
      List<Future<byte[]>> futures = new ArrayList<>();
      for (int r = ranks - 1; r >= 0; r--) {
        int rank = r;
        futures.addFirst(pool.submit(() -> node.exchange(rank)));
        if (r == 1) Thread.sleep(150);
      }
      List<byte[]> ids = new ArrayList<>();
      for (Future<byte[]> f : futures) ids.add(f.get(60, TimeUnit.SECONDS));
      return ids;
    } finally {
      pool.shutdownNow();
    }
  }

  private List<Path> listing() throws IOException {
    try (Stream<Path> files = Files.list(dir)) {
      return files.toList();
    }
  }

  // ---- file ----

  @Test
  void fileHandsTheIdToEveryNodeAndLeavesNothing() throws Exception {
    byte[] id = randomId(1);
    for (int ranks : new int[] {1, 2, 5}) {
      List<byte[]> got = runNodes(ranks, rank -> UniqueIdExchange.viaFile(dir, "run-a", rank, ranks, maker(rank, id), LONG));
      for (byte[] g : got) assertArrayEquals(id, g);
      assertEquals(List.of(), listing(), ranks + " nodes: the id and the acks are gone");
    }
  }

  @Test
  void throughTheEndpointRecord() throws Exception {
    byte[] id = randomId(2);
    Rendezvous.Endpoint endpoint = Rendezvous.endpoint("file:" + dir);
    for (byte[] g : runNodes(3, rank -> UniqueIdExchange.exchange(endpoint, "r", rank, 3, maker(rank, id), LONG))) {
      assertArrayEquals(id, g);
    }
  }

  @Test
  void fileNodeZeroRefusesStaleFiles() throws IOException {
    Files.write(UniqueIdExchange.idFile(dir, "job1"), new byte[3]);
    assertMessage(IllegalStateException.class, "rendezvous file:" + dir + ": nccl-id-job1.bin already exists: a run named 'job1' is"
        + " starting, or one failed and left it; remove it or choose another run name",
        () -> UniqueIdExchange.viaFile(dir, "job1", 0, 3, () -> randomId(3), LONG));
    Files.write(UniqueIdExchange.ackFile(dir, "job1", 2), new byte[0]);
    assertMessage(IllegalStateException.class, "rendezvous file:" + dir + ": nccl-id-job1.bin, nccl-id-job1.ack-2 already exist: a run"
        + " named 'job1' is starting, or one failed and left them; remove them or choose another run name",
        () -> UniqueIdExchange.viaFile(dir, "job1", 0, 3, () -> randomId(3), LONG));
  }

  @Test
  void fileTimeouts() throws IOException {
    assertMessage(IllegalStateException.class, "rendezvous file:" + dir + ": no NCCL id from node 0 after 0.3 s (waited for"
        + " nccl-id-r.bin; is node 0 running, with the same run name, and is the directory shared by every node?)",
        () -> UniqueIdExchange.viaFile(dir, "r", 2, 3, () -> randomId(4), SHORT));
    assertMessage(IllegalStateException.class, "rendezvous file:" + dir + ": waited 0.3 s for nodes [1, 2] of 3 to read nccl-id-r.bin"
        + " (are they running, with the same run name and directory?)",
        () -> UniqueIdExchange.viaFile(dir, "r", 0, 3, () -> randomId(4), SHORT));
    assertEquals(List.of(), listing(), "node 0 took its id file back");
  }

  @Test
  void fileFromAnotherRunShape() throws IOException {
    Path file = UniqueIdExchange.idFile(dir, "r");
    Files.write(file, "hello".getBytes());
    assertMessage(IllegalStateException.class, "rendezvous file:" + dir + ": nccl-id-r.bin is not a kiln NCCL id file (5 bytes)",
        () -> UniqueIdExchange.viaFile(dir, "r", 1, 2, () -> randomId(5), LONG));
    Files.delete(file);
    // node 0 of a 4-node run writes the file; a node that thinks the run has 2 reads it
    List<Throwable> thrown = new ArrayList<>();
    Thread zero = Thread.ofPlatform().start(() -> {
      try {
        UniqueIdExchange.viaFile(dir, "r", 0, 4, () -> randomId(6), Duration.ofSeconds(2));
      } catch (RuntimeException e) {
        thrown.add(e);
      }
    });
    assertMessage(IllegalStateException.class, "rendezvous file:" + dir + ": nccl-id-r.bin was written by node 0 of a run of 4 nodes,"
        + " this node (1) is in a run of 2", () -> UniqueIdExchange.viaFile(dir, "r", 1, 2, () -> randomId(6), LONG));
    try {
      zero.join();
    } catch (InterruptedException e) {
      throw new AssertionError(e);
    }
    assertEquals(1, thrown.size(), "node 0 gave up waiting");
    assertEquals(List.of(), listing(), "node 0 took its id file back");
  }

  @Test
  void fileMisuse() {
    Path missing = dir.resolve("nope");
    assertMessage(IllegalStateException.class, "rendezvous file:" + missing + ": no such directory (it must be one every node sees)",
        () -> UniqueIdExchange.viaFile(missing, "r", 0, 2, () -> randomId(7), LONG));
    assertMessage(IllegalArgumentException.class, "rendezvous: run name must be 1 to 128 of [A-Za-z0-9._-], not starting with '.',"
        + " got '../etc'", () -> UniqueIdExchange.viaFile(dir, "../etc", 0, 2, () -> randomId(7), LONG));
    assertMessage(IllegalArgumentException.class, "rendezvous: node rank must be in [0, 2), got 2",
        () -> UniqueIdExchange.viaFile(dir, "r", 2, 2, () -> randomId(7), LONG));
    assertMessage(IllegalArgumentException.class, "rendezvous: node count must be positive, got 0",
        () -> UniqueIdExchange.viaFile(dir, "r", 0, 0, () -> randomId(7), LONG));
    assertMessage(IllegalArgumentException.class, "rendezvous: the unique id must be 128 bytes, got 16",
        () -> UniqueIdExchange.viaFile(dir, "r", 0, 2, () -> new byte[16], LONG));
    assertMessage(IllegalArgumentException.class, "rendezvous: timeout must be positive, got PT0S",
        () -> UniqueIdExchange.viaFile(dir, "r", 0, 2, () -> randomId(7), Duration.ZERO));
  }

  // ---- TCP ----

  @Test
  void tcpHandsTheIdToEveryNode() throws Exception {
    byte[] id = randomId(8);
    for (int ranks : new int[] {1, 2, 6}) {
      int port = freePort();
      List<byte[]> got = runNodes(ranks, rank -> UniqueIdExchange.viaTcp(LOOPBACK, port, "run-b", rank, ranks, maker(rank, id), LONG));
      for (byte[] g : got) assertArrayEquals(id, g);
    }
    int port = freePort();
    Rendezvous.Endpoint endpoint = Rendezvous.endpoint("tcp:" + LOOPBACK + ":" + port);
    for (byte[] g : runNodes(3, rank -> UniqueIdExchange.exchange(endpoint, "r", rank, 3, maker(rank, id), LONG))) assertArrayEquals(id, g);
  }

  @Test
  void tcpNodeWithoutNodeZeroGivesUp() {
    int port = freePort();
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> UniqueIdExchange.viaTcp(LOOPBACK, port, "r", 1, 2, () -> randomId(9), SHORT));
    String prefix = "rendezvous tcp:" + LOOPBACK + ":" + port + ": no NCCL id from node 0 within 0.3 s (last error: ";
    assertTrue(e.getMessage().startsWith(prefix), e.getMessage());
    assertTrue(e.getMessage().endsWith("); is node 0 running, with the same run name?"), e.getMessage());
  }

  @Test
  void tcpNodeZeroRefusesStrangersAndKeepsWaiting() throws Exception {
    int port = freePort();
    byte[] id = randomId(10);
    ExecutorService pool = Executors.newFixedThreadPool(2);
    try {
      Future<byte[]> zero = pool.submit(() -> UniqueIdExchange.viaTcp(LOOPBACK, port, "mine", 0, 3, () -> id, LONG));
      String where = "rendezvous tcp:" + LOOPBACK + ":" + port + ": node 0 refused node ";
      assertMessage(IllegalStateException.class, where + "1: node 1 of run 'theirs', this is run 'mine'",
          () -> UniqueIdExchange.viaTcp(LOOPBACK, port, "theirs", 1, 3, () -> randomId(0), LONG));
      assertMessage(IllegalStateException.class, where + "1: node 1 is in a run of 2 nodes, node 0 in one of 3",
          () -> UniqueIdExchange.viaTcp(LOOPBACK, port, "mine", 1, 2, () -> randomId(0), LONG));
      strangerSendsGarbage(port);
      assertArrayEquals(id, UniqueIdExchange.viaTcp(LOOPBACK, port, "mine", 1, 3, () -> randomId(0), LONG));
      assertMessage(IllegalStateException.class, where + "1: node 1 connected twice",
          () -> UniqueIdExchange.viaTcp(LOOPBACK, port, "mine", 1, 3, () -> randomId(0), LONG));
      assertArrayEquals(id, UniqueIdExchange.viaTcp(LOOPBACK, port, "mine", 2, 3, () -> randomId(0), LONG));
      assertArrayEquals(id, zero.get(30, TimeUnit.SECONDS));
    } finally {
      pool.shutdownNow();
    }
  }

  /** A connection that is not a kiln node (a port scanner, say): node 0 drops it and goes on. */
  private static void strangerSendsGarbage(int port) throws IOException {
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress(LOOPBACK, port), 5000);
      s.getOutputStream().write("GET / HTTP/1.0\r\n\r\n".getBytes(StandardCharsets.US_ASCII)); // one write: node 0 may hang up after 8 bytes
      s.getOutputStream().flush();
      int answer;
      try {
        answer = s.getInputStream().read();
      } catch (SocketException reset) {
        answer = -1; // node 0 closed with our bytes unread: a reset instead of an end of stream
      }
      assertEquals(-1, answer, "node 0 hangs up on a stranger");
    }
  }

  @Test
  void tcpNodeZeroTimesOutNamingWhoIsMissing() throws Exception {
    int port = freePort();
    ExecutorService pool = Executors.newSingleThreadExecutor();
    try {
      Future<byte[]> zero = pool.submit(() -> UniqueIdExchange.viaTcp(LOOPBACK, port, "mine", 0, 3, () -> randomId(11), Duration.ofSeconds(2)));
      assertThrows(IllegalStateException.class, () -> UniqueIdExchange.viaTcp(LOOPBACK, port, "other", 2, 3, () -> randomId(0), LONG));
      ExecutionException e = assertThrows(ExecutionException.class, () -> zero.get(30, TimeUnit.SECONDS));
      assertEquals("rendezvous tcp:" + LOOPBACK + ":" + port + ": waited 2.0 s for nodes [1, 2] of 3 to connect; refused: node 2 of run"
          + " 'other', this is run 'mine'", e.getCause().getMessage());
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void tcpNodeZeroCannotListen() throws IOException {
    try (var taken = new java.net.ServerSocket(0, 1, java.net.InetAddress.getByName(LOOPBACK))) {
      int port = taken.getLocalPort();
      java.io.UncheckedIOException e = assertThrows(java.io.UncheckedIOException.class,
          () -> UniqueIdExchange.viaTcp(LOOPBACK, port, "r", 0, 2, () -> randomId(12), SHORT));
      assertTrue(e.getMessage().startsWith("rendezvous tcp:" + LOOPBACK + ":" + port + ": node 0 cannot listen there: "), e.getMessage());
    }
  }
}
