// The multi-GPU options of `kiln train` / `kiln bench`: --gpus, --nodes, --node-rank, --rendezvous;
// parsed and checked here, with messages that name the option as the user typed it.
package kiln.runtime.multi;

import java.nio.file.Path;
import java.util.Objects;

/**
 * One process per node drives {@code gpus} GPUs (a thread each); {@code nodes} such processes make
 * {@code gpus × nodes} ranks, node n's GPU g being global rank {@code n·gpus + g}. Node 0 makes the
 * NCCL unique id; with more than one node it reaches the others through {@code endpoint} (see
 * {@link UniqueIdExchange}), with one node the threads share it in memory and there is no endpoint.
 */
public record Rendezvous(int gpus, int nodes, int nodeRank, Endpoint endpoint) {
  /** Where node 0 hands out the unique id. */
  public sealed interface Endpoint permits FileEndpoint, TcpEndpoint {}

  /** A directory every node sees (a shared file system); node 0 writes the id there. */
  public record FileEndpoint(Path dir) implements Endpoint {
    public FileEndpoint { Objects.requireNonNull(dir, "dir"); }

    @Override
    public String toString() { return "file:" + dir; }
  }

  /** Node 0's address: it listens on host:port, the others connect. */
  public record TcpEndpoint(String host, int port) implements Endpoint {
    public TcpEndpoint {
      Objects.requireNonNull(host, "host");
      if (port < 1 || port > 65535) throw new IllegalArgumentException("--rendezvous tcp:HOST:PORT: port must be in [1, 65535], got " + port);
    }

    @Override
    public String toString() { return "tcp:" + (host.contains(":") ? "[" + host + "]" : host) + ":" + port; }
  }

  /** A single-GPU run: what the options mean when none is given. */
  public static final Rendezvous SINGLE = new Rendezvous(1, 1, 0, null);

  public Rendezvous {
    if (gpus < 1) throw new IllegalArgumentException("--gpus must be positive, got " + gpus);
    if (nodes < 1) throw new IllegalArgumentException("--nodes must be positive, got " + nodes);
    if (nodeRank < 0 || nodeRank >= nodes) {
      throw new IllegalArgumentException("--node-rank must be in [0, --nodes " + nodes + "), got " + nodeRank);
    }
    if (nodes > 1 && endpoint == null) {
      throw new IllegalArgumentException("--nodes " + nodes + " needs --rendezvous file:DIR (a directory every node sees)"
          + " or tcp:HOST:PORT (node 0's address)");
    }
    if (nodes == 1 && endpoint != null) {
      throw new IllegalArgumentException("--rendezvous is only used with --nodes > 1 (one node shares the NCCL id in memory), got " + endpoint);
    }
    if ((long) gpus * nodes > Integer.MAX_VALUE) {
      throw new IllegalArgumentException("--gpus " + gpus + " × --nodes " + nodes + " ranks is too many");
    }
  }

  /** From the options' values as a command line holds them; rendezvous may be null (not given). */
  public static Rendezvous of(int gpus, int nodes, int nodeRank, String rendezvous) {
    return new Rendezvous(gpus, nodes, nodeRank, rendezvous == null ? null : endpoint(rendezvous));
  }

  /** {@code file:DIR} or {@code tcp:HOST:PORT} (an IPv6 host in brackets: {@code tcp:[::1]:29500}). */
  public static Endpoint endpoint(String spec) {
    Objects.requireNonNull(spec, "spec");
    if (spec.startsWith("file:")) {
      String dir = spec.substring("file:".length());
      if (dir.isBlank()) throw new IllegalArgumentException("--rendezvous file:DIR: the directory is missing");
      return new FileEndpoint(Path.of(dir));
    }
    if (spec.startsWith("tcp:")) {
      String rest = spec.substring("tcp:".length());
      String host, port;
      if (rest.startsWith("[")) {
        int close = rest.indexOf(']');
        if (close < 0 || close + 1 >= rest.length() || rest.charAt(close + 1) != ':') {
          throw new IllegalArgumentException("--rendezvous tcp:HOST:PORT: expected [IPV6]:PORT, got '" + rest + "'");
        }
        host = rest.substring(1, close);
        port = rest.substring(close + 2);
      } else {
        int colon = rest.lastIndexOf(':');
        if (colon < 0) throw new IllegalArgumentException("--rendezvous tcp:HOST:PORT: the port is missing in '" + rest + "'");
        host = rest.substring(0, colon);
        port = rest.substring(colon + 1);
        if (host.contains(":")) {
          throw new IllegalArgumentException("--rendezvous tcp:HOST:PORT: write an IPv6 host in brackets, as tcp:[::1]:29500, got '" + rest + "'");
        }
      }
      if (host.isBlank()) throw new IllegalArgumentException("--rendezvous tcp:HOST:PORT: the host is missing in '" + rest + "'");
      int p = port.matches("[0-9]{1,5}") ? Integer.parseInt(port) : 0;
      if (p < 1 || p > 65535) throw new IllegalArgumentException("--rendezvous tcp:HOST:PORT: port must be in [1, 65535], got '" + port + "'");
      return new TcpEndpoint(host, p);
    }
    throw new IllegalArgumentException("--rendezvous must be file:DIR or tcp:HOST:PORT, got '" + spec + "'");
  }

  /** GPUs in the whole run: NCCL's nranks. */
  public int worldSize() { return gpus * nodes; }

  /** The global rank of this node's GPU localGpu (0-based, < gpus). */
  public int globalRank(int localGpu) {
    if (localGpu < 0 || localGpu >= gpus) throw new IndexOutOfBoundsException("local GPU must be in [0, " + gpus + "), got " + localGpu);
    return nodeRank * gpus + localGpu;
  }
}
