// A fixed pool of threads (one per core, the caller included) that splits a kernel's work items
// into contiguous chunks. Nothing is allocated per launch: workers spin briefly, then park.
package kiln.runtime.cpu;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import kiln.codegen.CpuKernel;

public final class WorkerPool implements AutoCloseable {
  private static final int SPINS = 20_000;
  private final Thread[] workers;
  private final float[][] scratch;
  private final AtomicInteger remaining = new AtomicInteger();
  private final Thread caller;
  private volatile int generation;
  private volatile boolean closed;
  private CpuKernel kernel;
  private float[] f;
  private int[] ints;
  private int[] args;
  private int items;
  private volatile Throwable failure;

  public WorkerPool(int threads, int scratchFloats) {
    this.caller = Thread.currentThread();
    this.scratch = new float[threads][scratchFloats];
    this.workers = new Thread[threads - 1];
    for (int w = 0; w < workers.length; w++) {
      final int index = w + 1;
      workers[w] = Thread.ofPlatform().daemon().name("kiln-worker-" + index).start(() -> loop(index));
    }
  }

  public int threads() { return workers.length + 1; }

  public Thread[] workerThreads() { return workers; }

  /** Runs items [0, n) of the kernel across the pool; returns when all are done. */
  public void run(CpuKernel k, float[] f, int[] ints, int[] a, int n) {
    int threads = threads();
    if (threads == 1 || n < 2) {
      k.run(f, ints, a, 0, n, scratch[0]);
      return;
    }
    this.kernel = k;
    this.f = f;
    this.ints = ints;
    this.args = a;
    this.items = n;
    remaining.set(workers.length);
    generation++;
    for (Thread w : workers) LockSupport.unpark(w);
    chunk(0);
    int spins = 0;
    while (remaining.get() != 0) {
      if (++spins < SPINS) Thread.onSpinWait(); else LockSupport.park(this);
    }
    Throwable t = failure;
    if (t != null) {
      failure = null;
      throw new IllegalStateException("kernel " + k.getClass().getSimpleName() + " failed on a worker: " + t, t);
    }
  }

  private void chunk(int index) {
    int threads = threads();
    long lo = (long) items * index / threads, hi = (long) items * (index + 1) / threads;
    if (lo < hi) kernel.run(f, ints, args, (int) lo, (int) hi, scratch[index]);
  }

  private void loop(int index) {
    int seen = 0;
    while (!closed) {
      int spins = 0;
      while (generation == seen && !closed) {
        if (++spins < SPINS) Thread.onSpinWait(); else LockSupport.park(this);
      }
      if (closed) return;
      seen = generation;
      try {
        chunk(index);
      } catch (Throwable t) {
        failure = t;
      }
      if (remaining.decrementAndGet() == 0) LockSupport.unpark(caller);
    }
  }

  @Override public void close() {
    closed = true;
    for (Thread w : workers) LockSupport.unpark(w);
  }
}
