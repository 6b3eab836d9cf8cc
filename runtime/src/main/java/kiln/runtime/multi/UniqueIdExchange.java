// Hands node 0's 128-byte NCCL unique id to every other node: through a file on a shared file system,
// or over TCP from node 0's listening socket. Knows nothing of NCCL: any 128 bytes travel.
package kiln.runtime.multi;

import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.TreeSet;
import java.util.function.Supplier;
import kiln.runtime.format.AtomicFiles;

/**
 * The participants are the processes of a run, one per node: {@code rank} is the node rank and
 * {@code ranks} the node count (a process that drives several GPUs shares the id with its threads in
 * memory). {@code run} names the run, so that two runs sharing a directory or a port cannot take each
 * other's id; it must be the same on every node.
 *
 * <p>File: node 0 writes {@code DIR/nccl-id-RUN.bin} atomically (temp file, rename), every other node
 * polls for it, reads it and answers with {@code DIR/nccl-id-RUN.ack-R}; once all have answered node 0
 * deletes both, so the directory is left as it was and the next run may reuse the name. Node 0 refuses
 * to start while files of the same run name exist (a run that is still starting, or one that failed
 * half way): otherwise a fast node could take a stale id and wait on a node 0 that is gone.
 *
 * <p>TCP: node 0 listens on HOST:PORT, each other node connects (retrying until node 0 is up), says
 * who it is, and gets the id. A node of another run, a rank said twice or a different node count is
 * refused with a message and node 0 goes on waiting for its own nodes.
 */
public final class UniqueIdExchange {
  private UniqueIdExchange() {}

  public static final int ID_BYTES = Nccl.UNIQUE_ID_BYTES;

  /** Long enough for every node of a cluster job to be scheduled and reach this point. */
  public static final Duration DEFAULT_TIMEOUT = Duration.ofMinutes(5);

  static final long POLL_MILLIS = 50;

  private static final byte[] FILE_MAGIC = {'K', 'I', 'L', 'N', 'N', 'C', 'I', 'D'};
  private static final int FILE_BYTES = FILE_MAGIC.length + 4 + ID_BYTES;
  private static final int TCP_MAGIC = 0x4B494C4E; // "KILN"
  private static final int TCP_VERSION = 1;
  private static final int OK = 0, REFUSED = 1;

  /** Node 0 calls makeId; every node returns the same 128 bytes. */
  public static byte[] exchange(Rendezvous.Endpoint endpoint, String run, int rank, int ranks, Supplier<byte[]> makeId, Duration timeout) {
    return switch (endpoint) {
      case Rendezvous.FileEndpoint f -> viaFile(f.dir(), run, rank, ranks, makeId, timeout);
      case Rendezvous.TcpEndpoint t -> viaTcp(t.host(), t.port(), run, rank, ranks, makeId, timeout);
    };
  }

  // ---- shared file system ----

  public static Path idFile(Path dir, String run) { return dir.resolve("nccl-id-" + checkRun(run) + ".bin"); }

  static Path ackFile(Path dir, String run, int rank) { return dir.resolve("nccl-id-" + checkRun(run) + ".ack-" + rank); }

  public static byte[] viaFile(Path dir, String run, int rank, int ranks, Supplier<byte[]> makeId, Duration timeout) {
    checkParticipants(rank, ranks);
    Path file = idFile(dir, run);
    String where = "rendezvous file:" + dir;
    if (!Files.isDirectory(dir)) throw new IllegalStateException(where + ": no such directory (it must be one every node sees)");
    long deadline = deadline(timeout);
    if (ranks == 1) return checkedId(makeId);
    if (rank == 0) {
      List<Path> stale = new ArrayList<>();
      if (Files.exists(file)) stale.add(file);
      for (int r = 1; r < ranks; r++) if (Files.exists(ackFile(dir, run, r))) stale.add(ackFile(dir, run, r));
      if (!stale.isEmpty()) {
        String names = String.join(", ", stale.stream().map(f -> f.getFileName().toString()).toList());
        throw new IllegalStateException(where + ": " + names + " already exist"
            + (stale.size() == 1 ? "s" : "") + ": a run named '" + run + "' is starting, or one failed and left "
            + (stale.size() == 1 ? "it" : "them") + "; remove " + (stale.size() == 1 ? "it" : "them") + " or choose another run name");
      }
      byte[] id = checkedId(makeId);
      ByteBuffer content = ByteBuffer.allocate(FILE_BYTES).put(FILE_MAGIC).putInt(ranks).put(id);
      AtomicFiles.write(file, out -> out.write(content.array()));
      try {
        TreeSet<Integer> waiting = new TreeSet<>();
        for (int r = 1; r < ranks; r++) waiting.add(r);
        while (true) {
          waiting.removeIf(r -> Files.exists(ackFile(dir, run, r)));
          if (waiting.isEmpty()) break;
          if (System.nanoTime() - deadline >= 0) {
            throw new IllegalStateException(where + ": waited " + seconds(timeout) + " for node" + (waiting.size() == 1 ? " " : "s ")
                + waiting + " of " + ranks + " to read " + file.getFileName() + " (are they running, with the same run name and directory?)");
          }
          sleep(where);
        }
      } finally {
        deleteQuietly(file);
        for (int r = 1; r < ranks; r++) deleteQuietly(ackFile(dir, run, r));
      }
      return id;
    }
    while (true) {
      byte[] bytes = readIfComplete(file);
      if (bytes != null) {
        ByteBuffer in = ByteBuffer.wrap(bytes);
        if (bytes.length != FILE_BYTES || !Arrays.equals(bytes, 0, FILE_MAGIC.length, FILE_MAGIC, 0, FILE_MAGIC.length)) {
          throw new IllegalStateException(where + ": " + file.getFileName() + " is not a kiln NCCL id file (" + bytes.length + " bytes)");
        }
        int written = in.position(FILE_MAGIC.length).getInt();
        if (written != ranks) {
          throw new IllegalStateException(where + ": " + file.getFileName() + " was written by node 0 of a run of " + written
              + " nodes, this node (" + rank + ") is in a run of " + ranks);
        }
        byte[] id = new byte[ID_BYTES];
        in.get(id);
        AtomicFiles.write(ackFile(dir, run, rank), out -> out.write(new byte[0]));
        return id;
      }
      if (System.nanoTime() - deadline >= 0) {
        throw new IllegalStateException(where + ": no NCCL id from node 0 after " + seconds(timeout) + " (waited for " + file.getFileName()
            + "; is node 0 running, with the same run name, and is the directory shared by every node?)");
      }
      sleep(where);
    }
  }

  /** The file's bytes, or null while it does not exist (node 0 renames it into place whole). */
  private static byte[] readIfComplete(Path file) {
    try {
      return Files.readAllBytes(file);
    } catch (NoSuchFileException e) {
      return null;
    } catch (IOException e) {
      throw new UncheckedIOException(file + ": cannot read the NCCL id: " + e, e);
    }
  }

  private static void deleteQuietly(Path file) {
    try {
      Files.deleteIfExists(file);
    } catch (IOException ignored) {
      // the run goes on; a leftover is reported by the next run that uses the name
    }
  }

  // ---- TCP ----

  public static byte[] viaTcp(String host, int port, String run, int rank, int ranks, Supplier<byte[]> makeId, Duration timeout) {
    checkParticipants(rank, ranks);
    checkRun(run);
    String where = "rendezvous " + new Rendezvous.TcpEndpoint(host, port);
    if (ranks == 1) return checkedId(makeId);
    return rank == 0 ? serve(host, port, run, ranks, checkedId(makeId), timeout, where) : fetch(host, port, run, rank, ranks, timeout, where);
  }

  private static byte[] serve(String host, int port, String run, int ranks, byte[] id, Duration timeout, String where) {
    long deadline = deadline(timeout);
    TreeSet<Integer> waiting = new TreeSet<>();
    for (int r = 1; r < ranks; r++) waiting.add(r);
    List<String> refused = new ArrayList<>();
    try (ServerSocket server = new ServerSocket()) {
      server.setReuseAddress(true);
      try {
        server.bind(new InetSocketAddress(host, port), ranks);
      } catch (IOException e) {
        throw new UncheckedIOException(where + ": node 0 cannot listen there: " + e.getMessage(), e);
      }
      while (!waiting.isEmpty()) {
        long left = remainingMillis(deadline);
        if (left <= 0) {
          throw new IllegalStateException(where + ": waited " + seconds(timeout) + " for node" + (waiting.size() == 1 ? " " : "s ") + waiting
              + " of " + ranks + " to connect" + (refused.isEmpty() ? "" : "; refused: " + String.join("; ", refused)));
        }
        server.setSoTimeout((int) Math.min(left, Integer.MAX_VALUE));
        Socket socket;
        try {
          socket = server.accept();
        } catch (SocketTimeoutException e) {
          continue;
        }
        try (socket) {
          socket.setSoTimeout((int) Math.clamp(remainingMillis(deadline), 1, 10_000));
          DataInputStream in = new DataInputStream(socket.getInputStream());
          DataOutputStream out = new DataOutputStream(socket.getOutputStream());
          if (in.readInt() != TCP_MAGIC || in.readInt() != TCP_VERSION) continue; // not a kiln node: drop it
          int theirRanks = in.readInt(), theirRank = in.readInt();
          String theirRun = in.readUTF();
          String refusal = null;
          if (!theirRun.equals(run)) refusal = "node " + theirRank + " of run '" + theirRun + "', this is run '" + run + "'";
          else if (theirRanks != ranks) refusal = "node " + theirRank + " is in a run of " + theirRanks + " nodes, node 0 in one of " + ranks;
          else if (theirRank < 1 || theirRank >= ranks) refusal = "node rank " + theirRank + " is not in [1, " + ranks + ")";
          else if (!waiting.contains(theirRank)) refusal = "node " + theirRank + " connected twice";
          if (refusal != null) {
            refused.add(refusal);
            out.writeInt(REFUSED);
            out.writeUTF(refusal);
          } else {
            out.writeInt(OK);
            out.write(id);
          }
          out.flush();
          if (refusal == null) waiting.remove(theirRank);
        } catch (IOException e) {
          // a node that hung up or sent garbage; it retries if it is one of ours
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException(where + ": " + e.getMessage(), e);
    }
    return id;
  }

  private static byte[] fetch(String host, int port, String run, int rank, int ranks, Duration timeout, String where) {
    long deadline = deadline(timeout);
    IOException last = null;
    while (true) {
      long left = remainingMillis(deadline);
      if (left <= 0) {
        throw new IllegalStateException(where + ": no NCCL id from node 0 within " + seconds(timeout)
            + (last == null ? "" : " (last error: " + last.getMessage() + ")") + "; is node 0 running, with the same run name?");
      }
      try (Socket socket = new Socket()) {
        socket.connect(new InetSocketAddress(host, port), (int) Math.clamp(left, 1, 2_000));
        socket.setSoTimeout((int) Math.clamp(remainingMillis(deadline), 1, Integer.MAX_VALUE));
        // the greeting in one write: buffered, then flushed
        DataOutputStream out = new DataOutputStream(new BufferedOutputStream(socket.getOutputStream()));
        out.writeInt(TCP_MAGIC);
        out.writeInt(TCP_VERSION);
        out.writeInt(ranks);
        out.writeInt(rank);
        out.writeUTF(run);
        out.flush();
        DataInputStream in = new DataInputStream(socket.getInputStream());
        int status = in.readInt();
        if (status == REFUSED) throw new IllegalStateException(where + ": node 0 refused node " + rank + ": " + in.readUTF());
        if (status != OK) throw new IllegalStateException(where + ": node 0 answered with unknown status " + status);
        byte[] id = new byte[ID_BYTES];
        in.readFully(id);
        return id;
      } catch (EOFException e) {
        last = new IOException("node 0 closed the connection", e);
      } catch (IOException e) {
        last = e;
      }
      sleep(where);
    }
  }

  // ---- shared ----

  private static void checkParticipants(int rank, int ranks) {
    if (ranks < 1) throw new IllegalArgumentException("rendezvous: node count must be positive, got " + ranks);
    if (rank < 0 || rank >= ranks) throw new IllegalArgumentException("rendezvous: node rank must be in [0, " + ranks + "), got " + rank);
  }

  /** Run names become file names: letters, digits, '.', '_' and '-', not starting with '.'. */
  static String checkRun(String run) {
    Objects.requireNonNull(run, "run");
    if (!run.matches("[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}")) {
      throw new IllegalArgumentException("rendezvous: run name must be 1 to 128 of [A-Za-z0-9._-], not starting with '.', got '" + run + "'");
    }
    return run;
  }

  private static byte[] checkedId(Supplier<byte[]> makeId) {
    byte[] id = makeId.get();
    if (id == null || id.length != ID_BYTES) {
      throw new IllegalArgumentException("rendezvous: the unique id must be " + ID_BYTES + " bytes, got " + (id == null ? "null" : id.length));
    }
    return id.clone();
  }

  private static long deadline(Duration timeout) {
    if (timeout.isNegative() || timeout.isZero()) throw new IllegalArgumentException("rendezvous: timeout must be positive, got " + timeout);
    return System.nanoTime() + timeout.toNanos();
  }

  private static long remainingMillis(long deadline) { return (deadline - System.nanoTime()) / 1_000_000; }

  static String seconds(Duration d) { return String.format(Locale.ROOT, "%.1f s", d.toMillis() / 1000.0); }

  private static void sleep(String where) {
    try {
      Thread.sleep(POLL_MILLIS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(where + ": interrupted while waiting", e);
    }
  }
}
