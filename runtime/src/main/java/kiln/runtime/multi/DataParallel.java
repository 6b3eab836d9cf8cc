// Data-parallel training on N GPUs: a thread, CUDA context, arena and executor per GPU of this
// process (other processes may hold more ranks: --nodes), each rank stepping its slice of every
// batch, gradients summed across ranks by NCCL in buckets while the backward runs (all-reduced, or
// under ZeRO-1 reduced onto the rank whose shard holds them), each rank updating its shard,
// parameters all-gathered; to the trainer the ranks are one Learner.
package kiln.runtime.multi;

import java.util.List;
import java.util.concurrent.Semaphore;
import java.util.function.Function;
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
 * tokens) in its gradient block, one contiguous range of its arena. The block is reduced in
 * {@link GradientBuckets}: as soon as the backward's launch that last touches a bucket's ranges is
 * queued, an event on the compute stream lets the rank's communication stream all-reduce (SUM) them
 * in place, one NCCL group per bucket, while the rest of the backward runs; the compute stream waits
 * for the last bucket after the backward. Every rank then holds the same sum (KILN_BUCKET_MB=0: one
 * bucket, the whole block, reduced once its last launch is queued). The division by N costs no pass: {@link #gradNorm} divides the norm of the
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
 *
 * <p><b>ZeRO-1</b> ({@code zero}): each rank's session runs the norm and AdamW over its shard of the
 * flat blocks only ({@link Session.Zero}: the program's SHARD / SHARD_START dims bound to the rank's
 * slice, m and v shard-sized, params and grads allocated padded to N equal shards). A step: backward,
 * each bucket's ranges reduced in place onto the rank whose shard holds them (ncclReduce per shard
 * part: the rank's slice holds the sum, as after a reduce-scatter); the norm's sum of
 * squares over the slice, all-reduced as one float; AdamW on the slice with gradScale / N; in-place
 * all-gather of the parameter block. {@link #read} of AdamW's m and v (and of the gradient block)
 * gathers the shards, so a checkpoint holds the whole state; {@link #write} gives each rank its slice.
 * With bf16 storage the fp32 master is what is gathered; each rank's session then rounds the whole
 * gathered master into its bf16 copy before the next forward (seed = t, the copy one GPU's update makes).
 *
 * <p><b>Several processes</b> ({@link Rendezvous} with nodes > 1): this process drives local GPUs
 * 0..gpus-1 as global ranks nodeRank·gpus + g; node 0's NCCL id reaches the others through
 * {@link UniqueIdExchange}. Every process reads the same global batch and steps its ranks' slices;
 * the loss (and under ZeRO the norm) are all-reduced through NCCL, so every process logs the same
 * numbers. Only node 0 writes files ({@link #writesFiles}).
 */
public final class DataParallel implements Learner {
  /** Work a rank thread runs against its replica. */
  private interface Task {
    void run(Rank r);
  }

  private final Rank[] ranks;
  private final Semaphore done;
  /** Ranks of this process, of the whole run, and this process's node (0 without --nodes). */
  private final int n, world, nodeRank, perGpuBatch, seq;
  private final Program program;
  private final Tensor grads;
  private final boolean onHost;
  /** The ZeRO-1 shards over every rank's flat blocks, null for plain data parallelism. */
  private final ZeroShards zero;
  /** The gradient buckets reduced while the backward runs, every rank the same plan (KILN_BUCKET_MB=0: one, the whole block). */
  private final GradientBuckets buckets;
  /** CPU replicas: where the rank threads meet at each bucket cut, the last to arrive reducing the buckets closed there. */
  private final java.util.concurrent.CyclicBarrier cutBarrier;
  private volatile int cutAt;
  private boolean broken, closed;
  /**
   * KILN_COMM_PRIORITY=high: the communication stream at the greatest stream priority (NCCL's kernels
   * start as soon as SMs free up instead of queueing behind the backward's blocks). Off by default:
   * not measured yet (docs/multi-gpu.md, "Overlap as measured").
   */
  static final boolean HIGH_PRIORITY_COMM = "high".equals(System.getenv("KILN_COMM_PRIORITY"));
  /** How long one hand-off (a section, a read) may take once the replicas are open. */
  static final String STEP_TIMEOUT_VARIABLE = "KILN_STEP_TIMEOUT_S";
  long stepTimeoutNanos = java.util.concurrent.TimeUnit.SECONDS.toNanos(stepTimeoutSeconds(System.getenv(STEP_TIMEOUT_VARIABLE)));

  // arguments of the step tasks, made once (nothing is allocated per step); the hand-off semaphores order them with the rank threads
  private int[] inputs, targets;
  private float lr, weightDecay, gradScale;

  private final Task setBatch = r -> {
    int bt = r.x.length; // this rank's B·T
    System.arraycopy(inputs, r.global * bt, r.x, 0, bt);
    System.arraycopy(targets, r.global * bt, r.y, 0, bt);
    r.session.setBatch(r.x, r.y);
  };
  private final Task forward = r -> r.session.forward();
  private final Task backward = r -> {
    GradientBuckets plan = buckets();   // assigned in the constructor, after this initializer
    if (r.comm != null) r.backwardWithBuckets(plan);
    else r.session.executor.run("backward", plan.cuts(), this::meetAtCut);
  };
  /** GPUs: the ranks' mean losses summed through NCCL (every process sees the sum); CPU replicas: each its own. */
  private final Task readLoss = r -> r.loss = r.comm != null ? r.sumOverRanks(r.lossPointer, 0) : r.session.loss();
  /**
   * The gradient's sum of squares over the rank's part: without ZeRO-1 all of the summed block (every
   * rank holds it); under ZeRO-1 the rank's slice, summed over ranks through NCCL on GPUs (CPU replicas: by the caller).
   */
  private final Task gradNormSquared = r -> {
    if (r.comm == null || r.zero == null) {
      r.squares = r.session.gradNormSquared();
    } else {
      r.session.executor.run("norm");
      r.squares = r.sumOverRanks(r.normPointer, 1);
    }
  };
  private final Task update = r -> {
    r.session.update(lr, weightDecay, gradScale);
    if (r.comm != null && r.zero != null) r.allGatherParams();
  };

  private DataParallel(Rank[] ranks, Semaphore done, int perGpuBatch, int seq, boolean onHost, Rendezvous rendezvous, ZeroShards zero,
                       long bucketFloats) {
    this.ranks = ranks;
    this.done = done;
    this.n = ranks.length;
    this.world = rendezvous.worldSize();
    this.nodeRank = rendezvous.nodeRank();
    this.perGpuBatch = perGpuBatch;
    this.seq = seq;
    this.onHost = onHost;
    this.zero = zero;
    this.program = ranks[0].session.program;
    this.grads = program.grads().values().iterator().next().root();
    Session s = ranks[0].session;
    long block = zero != null ? zero.paddedSize() : s.arena.elements(grads);
    // the backward's launches as the executor runs them (what its cuts count), each the computes it runs
    this.buckets = GradientBuckets.plan(s.executor.launchComputes("backward"), s.arena, grads, block, bucketFloats > 0 ? bucketFloats : Long.MAX_VALUE);
    int[][] closed = buckets.closedAfter();
    this.cutBarrier = onHost ? new java.util.concurrent.CyclicBarrier(n, () -> reduceOnHost(closed[cutAt])) : null;
  }

  /** The buckets' plan (KILN_BUCKET_MB=0: one bucket, closed by the backward's last launch that touches the gradients). */
  public GradientBuckets buckets() { return buckets; }

  /** CPU replicas, on each rank thread at cut launch: wait for every replica to get there; the last one reduces the buckets closed. */
  private void meetAtCut(int launch) {
    cutAt = launch;
    try {
      cutBarrier.await(stepTimeoutNanos, java.util.concurrent.TimeUnit.NANOSECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted at a gradient bucket", e);
    } catch (java.util.concurrent.BrokenBarrierException | java.util.concurrent.TimeoutException e) {
      throw new IllegalStateException("a replica did not reach gradient bucket launch " + launch + " (another replica failed or hung)", e);
    }
  }

  /**
   * CPU replicas: each range of the given buckets summed over the replicas in rank order and written to
   * every replica, as an all-reduce leaves it. Under ZeRO-1 NCCL leaves the sum on the shard's owner
   * only; no later step reads a replica's gradient outside its own slice, so the copies elsewhere change nothing.
   */
  private void reduceOnHost(int[] bucketIndices) {
    float[][] f = new float[n][];
    long[] base = new long[n];
    for (int q = 0; q < n; q++) {
      kiln.runtime.Arena a = ((kiln.runtime.cpu.CpuExecutor) ranks[q].session.executor).arena();
      f[q] = a.f;
      base[q] = a.offsetLong(ranks[q].own(grads));
    }
    for (int b : bucketIndices) {
      for (GradientBuckets.Range range : buckets.buckets().get(b).ranges()) {
        for (long i = range.start(); i < range.end(); i++) {
          float sum = 0;
          for (int k = 0; k < n; k++) sum += f[k][(int) (base[k] + i)];
          for (int k = 0; k < n; k++) f[k][(int) (base[k] + i)] = sum;
        }
      }
    }
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
   * shape on the local GPUs of one node of a run of rendezvous.nodes() processes (CUDA devices 0 ..
   * gpus-1), perGpuBatch sequences of seq tokens per GPU, gradients summed through NCCL, ZeRO-1 when
   * zero, recompute the activation-recompute policy (null: CUDA's default). Node 0 makes the NCCL id
   * and hands it out through the rendezvous endpoint (run name {@value #RUN}). Needs
   * NCCL_NVLS_ENABLE=0 exported ({@link Nccl#init} says why).
   */
  public static DataParallel open(Models.Shape shape, int perGpuBatch, int seq, CudaSchedule.Precision precision,
                                  kiln.codegen.Recompute recompute, Rendezvous rendezvous, boolean zero) {
    check(rendezvous.gpus(), Cuda.deviceCount());
    Nccl nccl = Nccl.get();
    Nccl.requireNvlsDisabled(System.getenv());
    long bucketFloats = GradientBuckets.bucketFloats(System.getenv(GradientBuckets.BUCKET_VARIABLE));
    return build(rendezvous, perGpuBatch, seq, zero, (local, z) -> shape.open(perGpuBatch, seq, Session.Device.CUDA, 1, precision, local, z, recompute),
        nccl, () -> rendezvous.nodes() == 1 ? nccl.uniqueId()
            : UniqueIdExchange.exchange(rendezvous.endpoint(), RUN, rendezvous.nodeRank(), rendezvous.nodes(), nccl::uniqueId,
                UniqueIdExchange.DEFAULT_TIMEOUT), bucketFloats);
  }

  /** The run name of the NCCL id exchange (its file names, its TCP greeting): one run per rendezvous endpoint at a time. */
  public static final String RUN = "kiln";

  /**
   * replicas CPU sessions whose gradients are summed on the host in rank order: the batch slicing,
   * loss averaging and gradient scaling of the GPU path, for tests on machines without GPUs.
   */
  public static DataParallel onCpu(Models.Shape shape, int perGpuBatch, int seq, int replicas, int threads) {
    return onCpu(shape, perGpuBatch, seq, replicas, threads, false);
  }

  /** As above, ZeRO-1 when zero: the host plays the reduce onto each shard's owner, the scalar all-reduce and all-gather in rank order. */
  public static DataParallel onCpu(Models.Shape shape, int perGpuBatch, int seq, int replicas, int threads, boolean zero) {
    return onCpu(shape, perGpuBatch, seq, replicas, threads, zero, GradientBuckets.bucketFloats(System.getenv(GradientBuckets.BUCKET_VARIABLE)),
        CudaSchedule.Precision.FP32);
  }

  /**
   * As above with buckets of bucketFloats floats (0: one bucket, the whole block), at a precision:
   * BF16 runs the bf16 program (emulated on the CPU), anything else fp32.
   */
  public static DataParallel onCpu(Models.Shape shape, int perGpuBatch, int seq, int replicas, int threads, boolean zero, long bucketFloats,
                                   CudaSchedule.Precision precision) {
    if (replicas < 1) throw new IllegalArgumentException("replicas must be positive, got " + replicas);
    return build(new Rendezvous(replicas, 1, 0, null), perGpuBatch, seq, zero,
        (local, z) -> shape.open(perGpuBatch, seq, Session.Device.CPU, threads, precision, 0, z), null, null, bucketFloats);
  }

  /**
   * What a run over rendezvous needs before anything is built, each refusal one line: with more than
   * one GPU in this process or in the run, the CUDA device, that many devices, libnccl and
   * NCCL_NVLS_ENABLE=0 exported, named after --gpus (or after --nodes with one GPU per process).
   */
  public static void checkOptions(Rendezvous rendezvous, Session.Device device) {
    if (rendezvous.gpus() > 1) checkNccl("--gpus " + rendezvous.gpus(), device, rendezvous.gpus());
    else if (rendezvous.worldSize() > 1) checkNccl("--nodes " + rendezvous.nodes(), device, 1);
  }

  private static void checkNccl(String option, Session.Device device, int gpus) {
    if (device != Session.Device.CUDA) {
      throw new IllegalArgumentException(option + " needs --device cuda: data parallelism runs over GPUs through NCCL (the device"
          + " here is " + device.name().toLowerCase(java.util.Locale.ROOT) + ")");
    }
    check(gpus, Cuda.deviceCount());
    if (!Nccl.available()) throw new IllegalArgumentException(option + ": NCCL is not available: " + Nccl.unavailableReason());
    try {
      Nccl.requireNvlsDisabled(System.getenv());
    } catch (CudaException e) {
      throw new IllegalArgumentException(option + ": " + e.getMessage(), e);
    }
  }

  /** The one-line refusal of a GPU count (positive: Rendezvous checked it) above what the machine has. */
  public static void check(int gpus, int present) {
    if (gpus > present) {
      throw new IllegalArgumentException("--gpus " + gpus + ": this machine has " + present + " CUDA device" + (present == 1 ? "" : "s")
          + (present == 0 ? " (" + Cuda.unavailableReason() + ")" : ""));
    }
  }

  /** Opens local rank's session (its device ordinal), the optimizer over the given ZeRO-1 shard. */
  private interface Opener {
    Session open(int local, Session.Zero zero);
  }

  private static DataParallel build(Rendezvous rv, int perGpuBatch, int seq, boolean zero, Opener open, Nccl nccl,
                                    java.util.function.Supplier<byte[]> uniqueId, long bucketFloats) {
    Semaphore done = new Semaphore(0);
    int n = rv.gpus(), world = rv.worldSize();
    Rank[] ranks = new Rank[n];
    for (int r = 0; r < n; r++) ranks[r] = new Rank(r, rv.globalRank(r), world, perGpuBatch * seq, done, nccl == null);
    try {
      Task opening = rk -> rk.session = open.open(rk.index, zero ? new Session.Zero(rk.global, world) : Session.Zero.NONE);
      // rank 0 first: it compiles every kernel into the NVRTC disk cache the others then read
      dispatch(ranks, done, 0, 1, opening, Long.MAX_VALUE);
      dispatch(ranks, done, 1, n, opening, Long.MAX_VALUE);
      ZeroShards shards = zero ? ZeroShards.of(ranks[0].session.arena.elements(ranks[0].session.paramsTensor()), world) : null;
      for (Rank rk : ranks) rk.zero = shards;
      DataParallel dp = new DataParallel(ranks, done, perGpuBatch, seq, nccl == null, rv, shards, bucketFloats);
      if (nccl != null) {
        byte[] id = uniqueId.get();
        // ncclCommInitRank returns once every rank has called it: all ranks at once, each on its thread
        dispatch(ranks, done, 0, n, rk -> {
          // bounded: a rank that never joins ends the wait after the step timeout (non-blocking init, polled)
          rk.comm = nccl.init(world, id, rk.global, dp.stepTimeoutNanos);
          rk.nccl = nccl;
          CudaExecutor ex = rk.executor();
          rk.gradsPointer = ex.pointer(rk.own(dp.grads));
          rk.paramsPointer = ex.pointer(rk.session.paramsTensor());
          rk.lossPointer = ex.pointer(rk.session.program.loss());
          rk.normPointer = ex.pointer(rk.session.program.gradNormSquared());
          rk.stream = ex.cuda().stream();
          rk.scratch = ex.cuda().allocate(64);
          rk.openBuckets(dp.buckets);
        }, Long.MAX_VALUE);
      }
      return dp;
    } catch (RuntimeException | Error e) {
      boolean stuck = false;
      for (Rank rk : ranks) stuck |= rk.failure != null;
      if (!stuck) {
        try {
          dispatch(ranks, done, 0, n, Rank::release, Long.MAX_VALUE);
        } catch (RuntimeException | Error ignored) {
          // the first failure is the one to report
        }
      }
      for (Rank rk : ranks) rk.stop();
      throw e;
    }
  }

  // ---- handing work to the rank threads ----

  /**
   * Runs task on ranks [from, to) and waits; the first rank to fail ends the wait with its error. While
   * waiting: every second, each rank's communicator is asked for an
   * asynchronous error (ncclCommGetAsyncError, safe from another thread), and past timeoutNanos the
   * ranks still busy are named in the error. The replicas are unusable after either.
   */
  private static void dispatch(Rank[] ranks, Semaphore done, int from, int to, Task task, long timeoutNanos) {
    long start = System.nanoTime();
    for (int r = from; r < to; r++) ranks[r].start(task);
    for (int finished = from; finished < to; ) {
      boolean one = acquire(done);
      for (int r = from; r < to; r++) {
        if (ranks[r].failure != null) throw ranks[r].failed();
      }
      if (one) {
        finished++;
        continue;
      }
      for (int r = from; r < to; r++) {
        if (ranks[r].comm != null) ranks[r].comm.checkAsyncError();
      }
      if (System.nanoTime() - start > timeoutNanos) throw timedOut(ranks, from, to, timeoutNanos);
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
      if (ranks[r].busy) busy.append(busy.isEmpty() ? "" : ", ").append(ranks[r].global);
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
      abortCommunicators();
      if (e instanceof CudaException c) throw new RankFailure(c.getMessage(), c);
      throw e;
    }
  }

  /**
   * A rank failed on its device, an NCCL communicator reported an asynchronous error, or a rank did
   * not finish within the step timeout (a peer process that died leaves the others waiting in a
   * collective): the communicators are aborted and the run ends with this one message.
   */
  public static final class RankFailure extends CudaException {
    RankFailure(String message, Throwable cause) { super(message, cause); }
  }

  /**
   * After a failure or a timeout: ncclCommAbort on every local communicator, from this thread, so a
   * rank thread spinning in a collective on a peer that is gone returns and nothing waits on it at
   * exit. The replicas are unusable afterwards.
   */
  private void abortCommunicators() {
    for (Rank r : ranks) {
      if (r.comm != null) r.comm.abort();
    }
  }

  // ---- Learner ----

  /** Only node 0 writes checkpoints and model files (every node holds the same state). */
  @Override public boolean writesFiles() { return nodeRank == 0; }

  @Override public Program program() { return program; }

  /** The global batch: every rank's sequences, over every process. */
  @Override public int batch() { return world * perGpuBatch; }

  @Override public int seq() { return seq; }

  @Override public Tensor paramsTensor() { return ranks[0].session.paramsTensor(); }

  @Override public void loadParams(float[] params) { write(paramsTensor(), params); }

  @Override public void setBatch(int[] inputs, int[] targets) {
    int expected = world * perGpuBatch * seq;
    if (inputs.length != expected || targets.length != expected) {
      throw new IllegalArgumentException("data-parallel batch: expected " + expected + " inputs and targets (" + world + " x " + perGpuBatch
          + " sequences of " + seq + "), found " + inputs.length + " and " + targets.length);
    }
    this.inputs = inputs;
    this.targets = targets;
    all(setBatch);
  }

  @Override public void forward() { all(forward); }

  @Override public void backward() { all(backward); }

  /**
   * The mean over ranks of each rank's mean loss (its B·T tokens): the mean over the global batch.
   * GPUs: the sum comes from an NCCL all-reduce of the loss scalars (fp32), the same on every
   * process; CPU replicas: summed on the host.
   */
  @Override public float loss() {
    all(readLoss);
    if (!onHost) return ranks[0].loss / world;
    double sum = 0;
    for (Rank r : ranks) sum += r.loss;
    return (float) (sum / n);
  }

  /**
   * The norm of the mean gradient: rank 0's norm of the all-reduced sum, over N; under ZeRO-1 the
   * square root of the ranks' sums of squares over their slices (all-reduced), over N.
   */
  @Override public double gradNorm() {
    if (zero == null) run(0, 1, gradNormSquared);
    else all(gradNormSquared);
    float total = ranks[0].squares;
    if (zero != null && onHost) {
      for (int r = 1; r < n; r++) total += ranks[r].squares;
    }
    return Math.sqrt(total) / world;
  }

  /**
   * Every rank runs AdamW with gradScale / N (the sum becomes the mean inside the update kernel);
   * under ZeRO-1 over its slice, then the parameter block is all-gathered.
   */
  @Override public void update(float lr, float weightDecay, float gradScale) {
    this.lr = lr;
    this.weightDecay = weightDecay;
    this.gradScale = gradScale / world;
    all(update);
    if (onHost && zero != null) {
      // the all-gather on CPU replicas: every rank's parameter block becomes the ranks' updated slices, written straight into
      // each arena as NCCL writes device memory (not through Session.write, so a bf16 session remakes its copy because its
      // update said so, as on the GPUs)
      float[] whole = gatherShards(paramsTensor());
      all(r -> r.session.executor.write(r.own(paramsTensor()), whole));
    }
  }

  @Override public int stepCount() { return ranks[0].session.stepCount(); }

  @Override public void setStepCount(int t) {
    for (Rank r : ranks) r.session.setStepCount(t);
  }

  /**
   * Rank 0's copy (every rank holds the same parameters and AdamW state). Under ZeRO-1 AdamW's m and
   * v, and the gradient block, are gathered from the ranks' slices: the whole-block array one GPU would hold.
   */
  @Override public float[] read(Tensor t) {
    if (zero != null && (t.role() == kiln.dsl.Role.STATE || t.equals(grads))) return gatherShards(t);
    return read(0, t);
  }

  /**
   * ZeRO-1: the ranks' slices of root t (params, grads, m or v) in rank order, cut to the block's real
   * size. GPUs: every rank all-gathers the shards through NCCL into its gather block (the ranks of every
   * process take part), local rank 0 copies it out; CPU replicas: each rank's shard read to the host.
   */
  private float[] gatherShards(Tensor t) {
    int params = Math.toIntExact(zero.params());
    if (!onHost) {
      float[][] whole = new float[1][];
      all(r -> {
        if (r.gathered == null) r.gathered = r.cuda().allocate(4 * zero.paddedSize());
        r.comm.allGather(r.executor().pointer(r.shardOf(t)), r.gathered.pointer(0), zero.shardSize(), Nccl.DataType.FLOAT32, r.stream);
        if (r.index == 0) whole[0] = r.gathered.downloadFloats(0, params);
      });
      return whole[0];
    }
    float[] whole = new float[params];
    all(r -> {
      int from = (int) zero.start(r.global);
      System.arraycopy(r.session.read(r.shardOf(t)), 0, whole, from, (int) Math.max(0, Math.min(zero.shardSize(), params - from)));
    });
    return whole;
  }

  /** A copy of tensor t on one rank (tests check the replicas agree). */
  public float[] read(int rank, Tensor t) { return on(rank, r -> r.session.read(r.own(t))); }

  /** To every rank; under ZeRO-1, m and v (whole-block arrays, as a checkpoint holds them) by slice. */
  @Override public void write(Tensor t, float[] v) {
    if (zero == null || t.role() != kiln.dsl.Role.STATE) {
      all(r -> r.session.write(r.own(t), v));
      return;
    }
    if (v.length != zero.params()) throw new IllegalArgumentException(t.name() + ": expected " + zero.params() + " values, found " + v.length);
    all(r -> {
      float[] slice = new float[Math.toIntExact(zero.shardSize())];
      long from = zero.start(r.global), to = Math.min(zero.end(r.global), v.length);
      if (to > from) System.arraycopy(v, (int) from, slice, 0, (int) (to - from));
      r.session.write(r.own(t), slice);
    });
  }

  /** f applied to rank's session on the rank's thread (its CUDA context is current there); not for the step loop. */
  public <T> T onRank(int rank, Function<Session, T> f) { return on(rank, r -> f.apply(r.session)); }

  private <T> T on(int rank, Function<Rank, T> f) {
    Object[] result = new Object[1];
    run(rank, rank + 1, r -> result[0] = f.apply(r));
    @SuppressWarnings("unchecked") T t = (T) result[0];
    return t;
  }

  /**
   * From now on every rank records CUDA events around its collectives ({@link #lastCommMs}): each
   * bucket's on the communication stream, the end of the backward and the point where the compute
   * stream has waited for the last bucket, and the ZeRO-1 all-gather.
   */
  public void enableCommTiming() {
    if (!onHost) all(Rank::enableTiming);
  }

  /**
   * One rank's NCCL time in its last step: inNccl, the milliseconds its gradient collectives (and
   * the ZeRO-1 all-gather) ran; exposed, the part the compute stream waited for (the time from the
   * backward's last kernel to the last bucket's end, plus the all-gather, which nothing overlaps).
   */
  public record CommTime(double inNccl, double exposed) {}

  /** Per rank: its last step's {@link CommTime} (waits for it); zeros without timing. */
  public CommTime[] lastCommMs() {
    CommTime[] out = new CommTime[n];
    all(r -> out[r.index] = r.commTime());
    return out;
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
    return n + (onHost ? " CPU replicas" : " GPUs") + (world != n ? " of " + world : "") + " x B=" + perGpuBatch + " (global batch "
        + batch() + "), T=" + seq + (zero != null ? ", ZeRO-1" : "");
  }

  // ---- one rank ----

  /** A rank's thread and what lives on it: session (context, arena, executor), communicator, batch slice. */
  private static final class Rank {
    /** The local GPU ordinal, the global rank, the ranks of the run. */
    final int index, global, of;
    final boolean host;
    final int[] x, y;
    final Semaphore go = new Semaphore(0);
    final Semaphore done;
    final Thread thread;
    volatile Task task;
    volatile boolean busy;
    Throwable failure;
    Session session;
    Nccl nccl;
    Nccl.Communicator comm;
    ZeroShards zero;
    CUdeviceptr gradsPointer, paramsPointer, lossPointer, normPointer;
    jcuda.driver.CUstream stream;
    /** 16 floats of device memory: the results of the scalar all-reduces (loss, norm). */
    kiln.runtime.cuda.DeviceArena scratch;
    /** ZeRO-1: the padded block the shards of params, grads, m or v are all-gathered into to be read; made at the first read, kept. */
    kiln.runtime.cuda.DeviceArena gathered;
    private final float[] scalar = new float[1];
    float loss, squares;
    /** The bucketed backward: the communication stream, an event per cut and the collectives each cut queues. */
    jcuda.driver.CUstream commStream;
    Cuda.Event[] cutEvents;
    Cuda.Event commDone;
    Collective[][] collectives;
    int[] cutIndex;
    /** With comm timing (null until enableTiming): around each cut's collectives, the backward's end, the join, the all-gather. */
    Cuda.Event[] bucketStart, bucketEnd;
    Cuda.Event backwardEnd, joined, gatherStart, gatherEnd;
    /** Every event made on this rank, closed with it. */
    private final List<Cuda.Event> events = new java.util.ArrayList<>();
    /** Rank 0's tensors (what callers hold) to this rank's own: every session builds its own program. */
    private final java.util.Map<Tensor, Tensor> own = new java.util.HashMap<>();
    private static final Task STOP = r -> { };

    Rank(int index, int global, int of, int tokens, Semaphore done, boolean host) {
      this.index = index;
      this.global = global;
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

    /** ZeRO-1, after the update: the in-place all-gather of the parameter block from every rank's slice. */
    void allGatherParams() {
      if (gatherStart != null) gatherStart.record();
      comm.allGather(paramsPointer.withByteOffset(zero.startBytes(global)), paramsPointer, zero.shardSize(), Nccl.DataType.FLOAT32, stream);
      if (gatherEnd != null) gatherEnd.record();
    }

    /**
     * The communication stream, an event per cut and each cut's collectives, made once: per range of
     * the buckets it closes, an in-place all-reduce, or under ZeRO-1 an in-place reduce of each part
     * of the range that lies in a rank's shard onto that rank (the sum lands where reduce-scatter
     * would put it, at reduce-scatter's traffic, without cutting the shards into per-bucket pieces).
     */
    void openBuckets(GradientBuckets plan) {
      commStream = cuda().sideStream(HIGH_PRIORITY_COMM);
      int[] cuts = plan.cuts();
      int[][] closed = plan.closedAfter();
      cutEvents = new Cuda.Event[cuts.length];
      collectives = new Collective[cuts.length][];
      cutIndex = new int[plan.launches()];
      for (int i = 0; i < cuts.length; i++) {
        cutEvents[i] = event(false);
        cutIndex[cuts[i]] = i;
        List<Collective> list = new java.util.ArrayList<>();
        for (int b : closed[cuts[i]]) {
          for (GradientBuckets.Range range : plan.buckets().get(b).ranges()) {
            if (zero == null) {
              list.add(new Collective(gradsPointer.withByteOffset(4 * range.start()), range.count(), -1));
              continue;
            }
            for (int q = 0; q < of; q++) {
              long lo = Math.max(range.start(), zero.start(q)), hi = Math.min(range.end(), zero.end(q));
              if (hi > lo) list.add(new Collective(gradsPointer.withByteOffset(4 * lo), hi - lo, q));
            }
          }
        }
        collectives[i] = list.toArray(Collective[]::new);
      }
      commDone = event(false);
    }

    /** One in-place collective of a bucket: all-reduce (root -1) or reduce onto root. */
    record Collective(CUdeviceptr at, long count, int root) {}

    /**
     * The backward with each bucket's collectives queued on the communication stream as soon as the
     * launch that closes it is queued on the compute stream (an event between them), then the compute
     * stream waits for the last bucket before anything reads the gradients.
     */
    void backwardWithBuckets(GradientBuckets plan) {
      session.executor.run("backward", plan.cuts(), this::reduceBucketsAt);
      if (backwardEnd != null) backwardEnd.record();
      commDone.record(commStream);
      cuda().waitFor(commDone);
      if (joined != null) joined.record();
    }

    /** After launch: the buckets it closes, as one NCCL group on the communication stream once the compute stream has passed it. */
    private void reduceBucketsAt(int launch) {
      int cut = cutIndex[launch];
      cutEvents[cut].record();
      cuda().waitFor(commStream, cutEvents[cut]);
      if (bucketStart != null) bucketStart[cut].record(commStream);
      nccl.groupStart();
      try {
        for (Collective c : collectives[cut]) {
          if (c.root() < 0) comm.allReduce(c.at(), c.at(), c.count(), Nccl.DataType.FLOAT32, Nccl.Op.SUM, commStream);
          else comm.reduce(c.at(), c.at(), c.count(), Nccl.DataType.FLOAT32, Nccl.Op.SUM, c.root(), commStream);
        }
      } finally {
        nccl.groupEnd(comm);
      }
      if (bucketEnd != null) bucketEnd[cut].record(commStream);
    }

    /** A CUDA event of this rank's context, closed with the rank; timing: with a timestamp, else for ordering only. */
    private Cuda.Event event(boolean timing) {
      Cuda.Event e = timing ? cuda().event() : cuda().marker();
      events.add(e);
      return e;
    }

    void enableTiming() {
      bucketStart = new Cuda.Event[cutEvents.length];
      bucketEnd = new Cuda.Event[cutEvents.length];
      for (int i = 0; i < bucketStart.length; i++) {
        bucketStart[i] = event(true);
        bucketEnd[i] = event(true);
      }
      backwardEnd = event(true);
      joined = event(true);
      if (zero != null) {
        gatherStart = event(true);
        gatherEnd = event(true);
      }
    }

    /** This step's NCCL time: in the collectives, and the part the compute stream waited for; zeros without timing. */
    CommTime commTime() {
      if (bucketStart == null) return new CommTime(0, 0);
      double gather = gatherStart == null ? 0 : gatherStart.elapsedMs(gatherEnd), sum = gather;
      for (int i = 0; i < bucketStart.length; i++) sum += bucketStart[i].elapsedMs(bucketEnd[i]);
      return new CommTime(sum, backwardEnd.elapsedMs(joined) + gather);
    }

    /** The sum over every rank of the float at value, through NCCL into scratch slot (waits for it). */
    float sumOverRanks(CUdeviceptr value, int slot) {
      comm.allReduce(value, scratch.pointer(4L * slot), 1, Nccl.DataType.FLOAT32, Nccl.Op.SUM, stream);
      scratch.download(4L * slot, scalar, 0, 1);
      return scalar[0];
    }

    CudaExecutor executor() { return (CudaExecutor) session.executor; }

    Cuda cuda() { return executor().cuda(); }

    /** The part of root t (rank 0's) this rank's optimizer owns: its slice of the grads or params block, or its m or v. */
    Tensor shardOf(Tensor t) {
      Tensor mine = own(t);
      if (mine.role() == kiln.dsl.Role.STATE) return mine;
      String name = mine.role() == kiln.dsl.Role.GRAD ? "grads.shard" : "params.shard";
      for (kiln.dsl.Compute c : session.program.graph().computes()) {
        if (c.out().name().equals(name)) return c.out();
        for (kiln.dsl.Expr.Load l : kiln.dsl.Exprs.loads(c.body())) if (l.tensor().name().equals(name)) return l.tensor();
      }
      throw new IllegalStateException("the " + session.program.model() + " program has no " + name + " view");
    }

    /** Frees what lives on this rank: events, communicator (after its queued work), session and context. */
    void release() {
      try {
        for (Cuda.Event e : events) e.close();
        if (scratch != null) scratch.close();
        if (gathered != null) gathered.close();
        if (comm != null) comm.close();
      } finally {
        if (session != null) session.close();
        session = null;
      }
    }

    /** This rank's tensor of the name of rank 0's root tensor t (parameters, gradients, AdamW state). */
    Tensor own(Tensor t) {
      if (index == 0) return t;
      return own.computeIfAbsent(t, x -> session.program.graph().roots().stream().filter(root -> root.name().equals(t.name())).findFirst()
          .orElseThrow(() -> new IllegalArgumentException("data-parallel replicas move whole root tensors; " + t.name() + " is not one")));
    }

    /** This rank's failure as the exception to throw, naming the rank. */
    RuntimeException failed() {
      String where = (host ? "replica " : "GPU ") + global + " of " + of + ": ";
      String message = failure.getMessage() != null ? failure.getMessage() : failure.toString();
      if (failure instanceof IllegalArgumentException) return new IllegalArgumentException(where + message, failure);
      if (failure instanceof IllegalStateException) return new IllegalStateException(where + message, failure);
      return new CudaException(where + message, failure);
    }
  }
}
