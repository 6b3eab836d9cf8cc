// A mistake the user can fix (bad path, bad value): Main prints "kiln: <message>" and exits 1, no stack trace.
package kiln.cli;

public final class UserError extends RuntimeException {
  public UserError(String message) {
    super(message);
  }
}
