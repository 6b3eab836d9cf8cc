// Ctrl-C (SIGINT) or SIGTERM during `kiln train`: finish the step in progress, checkpoint it, say where, exit 128 + signal.
package kiln.runtime.train;

import java.io.PrintWriter;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import sun.misc.Signal;
import sun.misc.SignalHandler;

/**
 * Installed around {@link Trainer#run} only. The handler (on the JVM's signal thread) just asks the trainer to stop;
 * the training thread finishes its step and writes the checkpoint, so weights, AdamW state and data position all
 * belong to one step. A shutdown hook could not do that: the JVM would exit under the training thread. A second
 * signal exits at once without a checkpoint (the last complete one stays: checkpoints are renamed into place whole).
 * sun.misc.Signal is the JDK's supported (jdk.unsupported) way to catch a signal; where the JVM keeps one for itself
 * (-Xrs) it is left alone and the signal ends the run as before.
 */
public final class SignalStop implements AutoCloseable {
  /** Each signal handled here, with the handler it had before. */
  private final Map<Signal, SignalHandler> previous = new LinkedHashMap<>();
  private volatile Signal caught;

  public SignalStop(Trainer trainer, PrintWriter err) {
    for (String name : List.of("INT", "TERM")) {
      try {
        Signal signal = new Signal(name);
        previous.put(signal, Signal.handle(signal, s -> {
          if (caught != null) {
            err.printf("%ntrain: SIG%s again: exiting now, without a checkpoint of the step in progress%n", s.getName());
            err.flush();
            Runtime.getRuntime().halt(128 + s.getNumber());
          }
          caught = s;
          trainer.requestStop();
          err.printf("%ntrain: SIG%s: finishing the current step, then writing a checkpoint (send it again to quit at once)%n",
              s.getName());
          err.flush();
        }));
      } catch (IllegalArgumentException | UnsupportedOperationException e) {
        // the JVM or the OS keeps this signal: it keeps its default effect
      }
    }
  }

  /** The signal that stopped the run, or null. */
  public Signal caught() {
    return caught;
  }

  @Override
  public void close() {
    previous.forEach(Signal::handle);
  }
}
