// Test helpers of the multi-GPU package: exact-message assertions, a free loopback port.
package kiln.runtime.multi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import org.junit.jupiter.api.function.Executable;

final class Fixtures {
  private Fixtures() {}

  static <T extends Throwable> T assertMessage(Class<T> type, String message, Executable call) {
    T thrown = assertThrows(type, call);
    assertEquals(message, thrown.getMessage());
    return thrown;
  }

  /** A port nothing listens on right now (another process could take it before the test does; rare on loopback). */
  static int freePort() {
    try (ServerSocket probe = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return probe.getLocalPort();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
