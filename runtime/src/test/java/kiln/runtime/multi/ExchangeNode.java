// A node of the NCCL id exchange as its own process, for UniqueIdExchangeProcessTest: takes part in
// the exchange through an endpoint given on the command line and prints the id it ended with (hex).
package kiln.runtime.multi;

import java.time.Duration;
import java.util.HexFormat;

final class ExchangeNode {
  private ExchangeNode() {}

  /** args: endpoint (file:DIR or tcp:HOST:PORT), node rank, node count, the id node 0 hands out (hex; used by node 0 only). */
  public static void main(String[] args) {
    int rank = Integer.parseInt(args[1]), nodes = Integer.parseInt(args[2]);
    byte[] id = UniqueIdExchange.exchange(Rendezvous.endpoint(args[0]), DataParallel.RUN, rank, nodes, () -> HexFormat.of().parseHex(args[3]),
        Duration.ofSeconds(30));
    System.out.println(HexFormat.of().formatHex(id));
  }
}
