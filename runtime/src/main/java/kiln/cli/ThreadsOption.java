// --threads: default every core the JVM may use, and never more than that.
package kiln.cli;

final class ThreadsOption {
  private ThreadsOption() {}

  /**
   * Refuses more threads than cores rather than accepting them: the CPU executor's workers spin while they wait
   * for the next kernel, so an oversubscribed pool makes each of the step's hundreds of launches wait for the OS
   * to schedule every worker in turn (two tiny steps with 1000 threads on 2 cores took minutes).
   */
  static int resolve(Integer given) {
    int cores = Runtime.getRuntime().availableProcessors();
    if (given == null) {
      return cores;
    }
    if (given < 1) {
      throw new UserError("--threads must be positive, got " + given);
    }
    if (given > cores) {
      throw new UserError("--threads " + given + ": this machine has " + cores + " cores for kiln; the CPU workers spin-wait, so"
          + " more threads than cores only slow every step down: pass at most " + cores + " (or leave --threads out)");
    }
    return given;
  }
}
