// Data-parallel training on N GPUs of one process: a thread, CUDA context, arena and executor per
// GPU, each rank stepping its slice of every batch, gradients summed across ranks with one NCCL
// all-reduce over the contiguous gradient block; to the trainer the N replicas are one Learner.
package kiln.runtime.multi;

import java.util.concurrent.Semaphore;
import java.util.function.Function;
import java.util.function.IntFunction;
import jcuda.driver.CUdeviceptr;
import kiln.codegen.CudaSchedule;
import kiln.dsl.Tensor;
import kiln.models.Program;
import kiln.runtime.Learner;
import kiln.runtime.Models;
import kiln.runtime.Session;
import kiln.runtime.cuda.Cuda;
import kiln.runtime.cuda.CudaException;
import kiln.runtime.cuda.CudaExecutor;

/**
 * N replicas of one model acting as one {@link Learner} over a global batch of N x B sequences.
 *
 * <p><b>The batch.</b> {@link #setBatch} takes the global batch; rank r steps sequences
 * [r·B, (r+1)·B) of it, so the ranks together see exactly the batch one GPU would at N·B.
 *
 * <p><b>The gradient.</b> Each rank's backward leaves the gradient of its own mean loss (over B·T
 * tokens) in its gradient block, one contiguous range of its arena. One in-place NCCL all-reduce
 * (SUM) over that block, queued on the rank's stream right after the backward, leaves every rank
 * holding the same sum. The division by N costs no pass: {@link #gradNorm} divides the norm of the
 * sum by N, and {@link #update} hands the AdamW kernel gradScale / N, a factor it multiplies every
 * gradient by anyway (clipping). For N a power of two both are exact, so each rank then does the
 * arithmetic one GPU does on the mean gradient of the global batch; what differs from one GPU is
 * only the order of the sums over the batch (within a rank, then across ranks).
 *
 * <p><b>The loss</b> is the mean of the ranks' mean losses: with equal token counts per rank, the
 * mean over the global batch.
 *
 * <p><b>Threads.</b> A CUDA context is current per thread, so every call that touches a rank's GPU
 * runs on that rank's thread; the caller hands a prepared task to all ranks and waits (nothing is
 * allocated per step). Rank 0's session is built first, filling the NVRTC disk cache; the others
 * then load the same cubins from it. A rank that fails ends the wait at once with its error:
 * another rank may be blocked in a collective that will never complete, so its (daemon) thread is
 * abandoned rather than waited for, and the replicas are unusable from then on.
 *
 * <p>NCCL's all-reduce gives every rank the same sums and, for a fixed GPU count, the same
 * reduction order every step, so parameters stay identical across ranks and runs are reproducible.
 */
public final class DataParallel implements Learner {
  /** Work a rank thread runs against its replica. */
  private interface Task {
    void run(Rank r);
  }

  private final Rank[] ranks;
  private final Semaphore done;
  private final int n, perGpuBatch, seq;
  private final Program program;
  private final Tensor grads;
  private final boolean onHost;
  private boolean broken, closed;
  /** How long one hand-off (a section, a read) may take once the replicas are open. */
  static final String STEP_TIMEOUT_VARIABLE = "KILN_STEP_TIMEOUT_S";
  long stepTimeoutNanos = java.util.concurrent.TimeUnit.SECONDS.toNanos(stepTimeoutSeconds(System.getenv(STEP_TIMEOUT_VARIABLE)));

  // arguments and results of the step tasks; the hand-off semaphores order them with the rank threads
  private int[] inputs, targets;
  private float lr, weightDecay, gradScale;
  private Tensor tensor;
  private float[] values;
  private double normOfSum;

  private final Task setBatch = r -> {
    int bt = r.x.length; // this rank's B·T
    System.arraycopy(inputs, r.index * bt, r.x, 0, bt);
    System.arraycopy(targets, r.index * bt, r.y, 0, bt);
    r.session.setBatch(r.x, r.y);
  };
  private final Task forward = r -> r.session.forward();
  private final Task backward = r -> {
    r.session.backward();
    if (r.comm != null) r.allReduceGradients();
  };
  private final Task readLoss = r -> r.loss = r.session.loss();
  private final Task gradNorm = r -> normOfSum = r.session.gradNorm();
  private final Task update = r -> r.session.update(lr, weightDecay, gradScale);
  private final Task write = r -> r.session.write(r.own(tensor), values);
  private final Task read = r -> values = r.session.read(r.own(tensor));
  private final Task readCommTime = r -> r.commMs = r.commStart == null ? 0 : r.commStart.elapsedMs(r.commEnd);

  private DataParallel(Rank[] ranks, Semaphore done, int perGpuBatch, int seq, boolean onHost) {
    this.ranks = ranks;
    this.done = done;
    this.n = ranks.length;
    this.perGpuBatch = perGpuBatch;
    this.seq = seq;
    this.onHost = onHost;
    this.program = ranks[0].session.program;
    this.grads = program.grads().values().iterator().next().root();
  }

  /** KILN_STEP_TIMEOUT_S's value: whole seconds, default 300 (opening, which compiles, is not timed; a step taking minutes has hung). */
  static long stepTimeoutSeconds(String value) {
    if (value == null || value.isBlank()) return 300;
    try {
      long s = Long.parseLong(value.strip());
      if (s > 0) return s;
    } catch (NumberFormatException e) {
      // fall through to the refusal
    }
    throw new IllegalArgumentException(STEP_TIMEOUT_VARIABLE + "=" + value + ": expected a positive number of seconds");
  }

  // ---- opening ----

  /**
   * shape on CUDA devices 0 .. gpus-1, perGpuBatch sequences of seq tokens per GPU, gradients summed
   * through NCCL. Needs NCCL_NVLS_ENABLE=0 exported ({@link Nccl#init} says why).
   */
  public static DataParallel open(Models.Shape shape, int perGpuBatch, int seq, CudaSchedule.Precision precision, int gpus) {
    check(gpus, Cuda.deviceCount());
    Nccl nccl = Nccl.get();
    Nccl.requireNvlsDisabled(System.getenv());
    return build(gpus, perGpuBatch, seq, rank -> shape.open(perGpuBatch, seq, Session.Device.CUDA, 1, precision, rank), nccl);
  }

  /**
   * replicas CPU sessions whose gradients are summed on the host in rank order: the batch slicing,
   * loss averaging and gradient scaling of the GPU path, for tests on machines without GPUs.
   */
  public static DataParallel onCpu(Models.Shape shape, int perGpuBatch, int seq, int replicas, int threads) {
    if (replicas < 1) throw new IllegalArgumentException("replicas must be positive, got " + replicas);
    return build(replicas, perGpuBatch, seq, rank -> shape.open(perGpuBatch, seq, Session.Device.CPU, threads), null);
  }

  /**
   * What `--gpus N` needs before anything is built, each refusal one line: a positive count, the
   * CUDA device for N > 1, that many devices, libnccl, NCCL_NVLS_ENABLE=0 exported.
   */
  public static void checkOptions(int gpus, Session.Device device) {
    if (gpus < 1) throw new IllegalArgumentException("--gpus must be positive, got " + gpus);
    if (gpus == 1) return;
    if (device != Session.Device.CUDA) {
      throw new IllegalArgumentException("--gpus " + gpus + " needs --device cuda: data parallelism runs over GPUs through NCCL (the device"
          + " here is " + device.name().toLowerCase(java.util.Locale.ROOT) + ")");
    }
    check(gpus, Cuda.deviceCount());
    if (!Nccl.available()) throw new IllegalArgumentException("--gpus " + gpus + ": NCCL is not available: " + Nccl.unavailableReason());
    try {
      Nccl.requireNvlsDisabled(System.getenv());
    } catch (CudaException e) {
      throw new IllegalArgumentException("--gpus " + gpus + ": " + e.getMessage(), e);
    }
  }

  /** The one-line refusals of a GPU count: not positive, or more than the machine has. */
  public static void check(int gpus, int present) {
    if (gpus < 1) throw new IllegalArgumentException("--gpus must be positive, got " + gpus);
    if (gpus > present) {
      throw new IllegalArgumentException("--gpus " + gpus + ": this machine has " + present + " CUDA device" + (present == 1 ? "" : "s")
          + (present == 0 ? " (" + Cuda.unavailableReason() + ")" : ""));
    }
  }

  private static DataParallel build(int n, int perGpuBatch, int seq, IntFunction<Session> open, Nccl nccl) {
    Semaphore done = new Semaphore(0);
    Rank[] ranks = new Rank[n];
    for (int r = 0; r < n; r++) ranks[r] = new Rank(r, n, perGpuBatch * seq, done, nccl == null);
    try {
      Task opening = rk -> rk.session = open.apply(rk.index);
      // rank 0 first: it compiles every kernel into the NVRTC disk cache the others then read
      dispatch(ranks, done, 0, 1, opening);
      dispatch(ranks, done, 1, n, opening);
      DataParallel dp = new DataParallel(ranks, done, perGpuBatch, seq, nccl == null);
      if (nccl != null) {
        byte[] id = nccl.uniqueId();
        // ncclCommInitRank returns once every rank has called it: all ranks at once, each on its thread
        dispatch(ranks, done, 0, n, rk -> {
          rk.comm = nccl.init(n, id, rk.index);
          Tensor grads = rk.own(dp.grads);
          rk.gradsPointer = ((CudaExecutor) rk.session.executor).pointer(grads);
          rk.gradCount = rk.session.arena.elements(grads);
          rk.stream = ((CudaExecutor) rk.session.executor).cuda().stream();
        });
      }
      return dp;
    } catch (RuntimeException | Error e) {
      boolean stuck = false;
      for (Rank rk : ranks) stuck |= rk.failure != null;
      if (!stuck) {
        try {
          dispatch(ranks, done, 0, n, Rank::release);
        } catch (RuntimeException | Error ignored) {
          // the first failure is the one to report
        }
      }
      for (Rank rk : ranks) rk.stop();
      throw e;
    }
  }

  // ---- handing work to the rank threads ----

  /** Runs task on ranks [from, to) and waits; the first rank to fail ends the wait with its error. */
  private static void dispatch(Rank[] ranks, Semaphore done, int from, int to, Task task) {
    dispatch(ranks, done, from, to, task, Long.MAX_VALUE);
  }

  /**
   * As above, and while waiting: every second, each rank's communicator is asked for an
   * asynchronous error (ncclCommGetAsyncError, safe from another thread), and past timeoutNanos the
   * ranks still busy are named in the error. The replicas are unusable after either.
   */
  private static void dispatch(Rank[] ranks, Semaphore done, int from, int to, Task task, long timeoutNanos) {
    long start = System.nanoTime();
    for (int r = from; r < to; r++) ranks[r].start(task);
    for (int k = from; k < to; k++) {
      while (!acquire(done)) {
        for (int r = from; r < to; r++) {
          if (ranks[r].failure != null) throw ranks[r].failed();
        }
        for (int r = from; r < to; r++) {
          if (ranks[r].comm != null) ranks[r].comm.checkAsyncError();
        }
        if (System.nanoTime() - start > timeoutNanos) throw timedOut(ranks, from, to, timeoutNanos);
      }
      for (int r = from; r < to; r++) {
        if (ranks[r].failure != null) throw ranks[r].failed();
      }
    }
  }

  private static boolean acquire(Semaphore done) {
    try {
      return done.tryAcquire(1, java.util.concurrent.TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while waiting for the data-parallel ranks", e);
    }
  }

  private static CudaException timedOut(Rank[] ranks, int from, int to, long timeoutNanos) {
    StringBuilder busy = new StringBuilder();
    for (int r = from; r < to; r++) {
      if (ranks[r].busy) busy.append(busy.isEmpty() ? "" : ", ").append(ranks[r].index);
    }
    Rank any = ranks[from];
    return new CudaException((any.host ? "replica" : "GPU") + (busy.indexOf(",") >= 0 ? "s " : " ") + busy + " of " + any.of
        + " did not finish within " + timeoutNanos / 1_000_000_000L + " s (a hung kernel, or a collective waiting for a rank that is"
        + " gone); " + STEP_TIMEOUT_VARIABLE + " sets the limit");
  }

  private void all(Task task) { run(0, n, task); }

  private void run(int from, int to, Task task) {
    if (closed) throw new IllegalStateException("data-parallel replicas used after close");
    if (broken) throw new IllegalStateException("data-parallel replicas used after a rank failed");
    try {
      dispatch(ranks, done, from, to, task, stepTimeoutNanos);
    } catch (RuntimeException | Error e) {
      broken = true;
      throw e;
    }
  }

  // ---- Learner ----

  /** GPUs (or CPU replicas) in use. */
  public int ranks() { return n; }

  /** Sequences per rank per step. */
  public int perGpuBatch() { return perGpuBatch; }

  @Override public Program program() { return program; }

  @Override public int batch() { return n * perGpuBatch; }

  @Override public int seq() { return seq; }

  @Override public Tensor paramsTensor() { return ranks[0].session.paramsTensor(); }

  @Override public void loadParams(float[] params) { write(paramsTensor(), params); }

  @Override public void setBatch(int[] inputs, int[] targets) {
    int expected = n * perGpuBatch * seq;
    if (inputs.length != expected || targets.length != expected) {
      throw new IllegalArgumentException("data-parallel batch: expected " + expected + " inputs and targets (" + n + " x " + perGpuBatch
          + " sequences of " + seq + "), found " + inputs.length + " and " + targets.length);
    }
    this.inputs = inputs;
    this.targets = targets;
    all(setBatch);
  }

  @Override public void forward() { all(forward); }

  @Override public void backward() {
    all(backward);
    if (onHost) sumOnHost();
  }

  /** CPU replicas: every rank's gradient block becomes the sum over ranks, added in rank order. */
  private void sumOnHost() {
    float[] sum = ranks[0].session.read(grads);
    for (int r = 1; r < n; r++) {
      float[] g = ranks[r].session.read(ranks[r].own(grads));
      for (int i = 0; i < sum.length; i++) sum[i] += g[i];
    }
    tensor = grads;
    values = sum;
    all(write);
  }

  /** The mean over ranks of each rank's mean loss (its B·T tokens): the mean over the global batch. */
  @Override public float loss() {
    all(readLoss);
    double sum = 0;
    for (Rank r : ranks) sum += r.loss;
    return (float) (sum / n);
  }

  /** The norm of the mean gradient: rank 0's norm of the all-reduced sum, over N. */
  @Override public double gradNorm() {
    run(0, 1, gradNorm);
    return normOfSum / n;
  }

  /** Every rank runs AdamW with gradScale / N (the sum becomes the mean inside the update kernel). */
  @Override public void update(float lr, float weightDecay, float gradScale) {
    this.lr = lr;
    this.weightDecay = weightDecay;
    this.gradScale = gradScale / n;
    all(update);
  }

  @Override public int stepCount() { return ranks[0].session.stepCount(); }

  @Override public void setStepCount(int t) {
    for (Rank r : ranks) r.session.setStepCount(t);
  }

  /** Rank 0's copy (every rank holds the same parameters and AdamW state). */
  @Override public float[] read(Tensor t) {
    tensor = t;
    run(0, 1, read);
    float[] out = values;
    values = null;
    return out;
  }

  /** A copy of tensor t on one rank (tests check the replicas agree). */
  public float[] read(int rank, Tensor t) {
    tensor = t;
    run(rank, rank + 1, read);
    float[] out = values;
    values = null;
    return out;
  }

  @Override public void write(Tensor t, float[] v) {
    tensor = t;
    values = v;
    all(write);
    values = null;
  }

  /** f applied to rank's session on the rank's thread (its CUDA context is current there); not for the step loop. */
  public <T> T onRank(int rank, Function<Session, T> f) {
    Object[] result = new Object[1];
    run(rank, rank + 1, r -> result[0] = f.apply(r.session));
    @SuppressWarnings("unchecked") T t = (T) result[0];
    return t;
  }

  /** From now on every rank records CUDA events around its all-reduce ({@link #lastCommMs}). */
  public void enableCommTiming() {
    if (onHost) return;
    all(r -> {
      Cuda cuda = ((CudaExecutor) r.session.executor).cuda();
      r.commStart = cuda.event();
      r.commEnd = cuda.event();
    });
  }

  /** Per rank: milliseconds its last all-reduce took on its stream (waits for it); zeros without timing. */
  public double[] lastCommMs() {
    all(readCommTime);
    double[] ms = new double[n];
    for (int r = 0; r < n; r++) ms[r] = ranks[r].commMs;
    return ms;
  }

  /** Destroys the communicators, then each rank's session and context; after a failure, only stops the threads. */
  @Override public void close() {
    if (closed) return;
    try {
      if (!broken) all(Rank::release);
    } finally {
      closed = true;
      for (Rank r : ranks) r.stop();
    }
  }

  @Override public String toString() {
    return n + (onHost ? " CPU replicas" : " GPUs") + " x B=" + perGpuBatch + " (global batch " + batch() + "), T=" + seq;
  }

  // ---- one rank ----

  /** A rank's thread and what lives on it: session (context, arena, executor), communicator, batch slice. */
  private static final class Rank {
    final int index, of;
    final boolean host;
    final int[] x, y;
    final Semaphore go = new Semaphore(0);
    final Semaphore done;
    final Thread thread;
    volatile Task task;
    volatile boolean busy;
    Throwable failure;
    Session session;
    Nccl.Communicator comm;
    CUdeviceptr gradsPointer;
    jcuda.driver.CUstream stream;
    long gradCount;
    float loss;
    Cuda.Event commStart, commEnd;
    double commMs;
    /** Rank 0's tensors (what callers hold) to this rank's own: every session builds its own program. */
    private final java.util.Map<Tensor, Tensor> own = new java.util.HashMap<>();
    private static final Task STOP = r -> { };

    Rank(int index, int of, int tokens, Semaphore done, boolean host) {
      this.index = index;
      this.of = of;
      this.host = host;
      this.x = new int[tokens];
      this.y = new int[tokens];
      this.done = done;
      this.thread = Thread.ofPlatform().daemon().name((host ? "kiln-replica-" : "kiln-gpu-") + index).start(this::loop);
    }

    private void loop() {
      while (true) {
        go.acquireUninterruptibly();
        Task t = task;
        if (t == STOP) return;
        try {
          t.run(this);
        } catch (Throwable e) {
          failure = e;
        }
        busy = false;
        done.release();
      }
    }

    void start(Task t) {
      busy = true;
      task = t;
      go.release();
    }

    void stop() {
      task = STOP;
      go.release();
    }

    /** The in-place all-reduce (SUM) of the gradient block, queued on the rank's stream after the backward. */
    void allReduceGradients() {
      if (commStart != null) commStart.record();
      comm.allReduce(gradsPointer, gradsPointer, gradCount, Nccl.DataType.FLOAT32, Nccl.Op.SUM, stream);
      if (commEnd != null) commEnd.record();
    }

    /** Frees what lives on this rank: events, communicator (after its queued work), session and context. */
    void release() {
      try {
        if (commStart != null) commStart.close();
        if (commEnd != null) commEnd.close();
        if (comm != null) comm.close();
      } finally {
        if (session != null) session.close();
        session = null;
      }
    }

    /** This rank's tensor of the name of rank 0's root tensor t (parameters, gradients, AdamW state). */
    Tensor own(Tensor t) {
      if (index == 0) return t;
      Tensor mine = own.get(t);
      if (mine == null) {
        mine = session.program.graph().roots().stream().filter(x -> x.name().equals(t.name())).findFirst()
            .orElseThrow(() -> new IllegalArgumentException("data-parallel replicas move whole root tensors; " + t.name() + " is not one"));
        own.put(t, mine);
      }
      return mine;
    }

    /** This rank's failure as the exception to throw, naming the rank. */
    RuntimeException failed() {
      String where = (host ? "replica " : "GPU ") + index + " of " + of + ": ";
      String message = failure.getMessage() != null ? failure.getMessage() : failure.toString();
      if (failure instanceof IllegalArgumentException) return new IllegalArgumentException(where + message, failure);
      if (failure instanceof IllegalStateException) return new IllegalStateException(where + message, failure);
      return new CudaException(where + message, failure);
    }
  }
}
