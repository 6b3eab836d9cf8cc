// A model program instantiated for a batch shape on a device (CPU or CUDA): arena layout, compiled
// kernels, and what a trainer or verifier needs (load weights, set a batch, step, read tensors).
package kiln.runtime;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import kiln.codegen.CudaSchedule;
import kiln.dsl.Compute;
import kiln.dsl.Dim;
import kiln.dsl.Tensor;
import kiln.models.Program;
import kiln.runtime.cpu.CpuExecutor;
import kiln.runtime.cuda.Cuda;
import kiln.runtime.cuda.CudaExecutor;

public class Session implements Learner {
  public enum Device {
    CPU, CUDA;

    /** cpu, cuda, or auto (CUDA when a device is present). */
    public static Device parse(String name) {
      return switch (name) {
        case "cpu" -> CPU;
        case "cuda" -> {
          if (!Cuda.available()) {
            throw new IllegalArgumentException("--device cuda: no CUDA device here (" + Cuda.unavailableReason()
                + "); use --device cpu, or auto (CUDA when present)");
          }
          yield CUDA;
        }
        case "auto" -> Cuda.available() ? CUDA : CPU;
        default -> throw new IllegalArgumentException("--device " + name + ": expected cpu, cuda or auto");
      };
    }
  }

  public final int batch, seq;
  public final Device device;
  public final Program program;
  /** The activation-recompute policy the program runs. */
  public final kiln.codegen.Recompute recompute;
  public final Arena arena;
  public final Executor<?> executor;
  private final Cuda cuda;
  private final Zero zero;
  private final float[] hyper = new float[Program.HYPER_SLOTS];
  private int step;

  /**
   * Which part of the optimizer a session runs: ZeRO-1 rank {@code rank} of {@code ranks} (the norm
   * and AdamW over its shard of the flat blocks, m and v shard-sized), or all of it ({@link #NONE}).
   */
  public record Zero(int rank, int ranks) {
    public static final Zero NONE = new Zero(0, 1);

    public Zero {
      if (ranks < 1 || rank < 0 || rank >= ranks) throw new IllegalArgumentException("ZeRO rank " + rank + " of " + ranks);
    }

    /** The shards of a block of params floats. */
    public kiln.runtime.multi.ZeroShards shards(long params) { return kiln.runtime.multi.ZeroShards.of(params, ranks); }
  }

  /**
   * The program bound to sizes (dims -> numbers), on a device; threads for the CPU; the matmul precision (the CPU emulates
   * bf16 storage and otherwise computes in fp32), on CUDA device ordinal gpu (its primary context becomes current on the
   * calling thread), with the norm and AdamW over a ZeRO-1 shard: SHARD and SHARD_START bound to the rank's slice, and the
   * params and grads blocks allocated padded to N equal shards (the padding stays 0). recompute: the policy the program
   * was built with (Models.Shape.open resolves it), which the session reports.
   */
  public Session(Program program, Map<Dim, Integer> sizes, int batch, int seq, Device device, int threads, CudaSchedule.Precision precision,
                 int gpu, Zero zero, kiln.codegen.Recompute recompute) {
    this(plan(program, sizes, device, precision, zero), batch, seq, device, threads, precision, device == Device.CPU ? null : Cuda.open(gpu),
        zero, recompute);
  }

  /** A session over a plan, on cuda (null: the CPU). */
  private Session(Plan plan, int batch, int seq, Device device, int threads, CudaSchedule.Precision precision, Cuda cuda, Zero zero,
                  kiln.codegen.Recompute recompute) {
    this.recompute = recompute;
    this.batch = batch;
    this.seq = seq;
    this.device = device;
    this.zero = zero;
    this.program = plan.program();
    this.bf16Cast = plan.bf16Cast();
    this.copyAfterGather = plan.copyAfterGather();
    this.arena = plan.arena();
    this.cuda = cuda;
    this.executor = cuda == null ? new CpuExecutor(arena, plan.sections(), threads)
        : new CudaExecutor(arena, plan.sections(), cuda, CudaSchedule.fromEnvironment(precision));
    this.joined = plan.sections().containsKey(STEP);
  }

  /** What a session lays out before it touches a device: its program (bf16: narrowed), its sections and its arena. */
  private record Plan(Program program, List<Compute> bf16Cast, Tensor copyAfterGather, Map<String, List<Compute>> sections, Arena arena) {}

  private static Plan plan(Program program, Map<Dim, Integer> sizes, Device device, CudaSchedule.Precision precision, Zero zero) {
    // bf16: the same graph with its storage narrowed (codegen's precision pass), on either device (the CPU emulates it)
    // on CUDA the attention externs take bf16 tensors (FlashBf16) where it takes the head size; KILN_ATTN_BF16=0 keeps
    // them fp32 (the fp32 kernels)
    Map<Dim, Integer> bound = sizes;
    boolean bf16Attention = device == Device.CUDA && !"0".equals(System.getenv("KILN_ATTN_BF16"))
        && kiln.codegen.FlashBf16.takes(program, d -> bound.getOrDefault(d, 0));
    kiln.codegen.Bf16Storage.Stored stored = precision == CudaSchedule.Precision.BF16 ? kiln.codegen.Bf16Storage.apply(program, bf16Attention, kiln.codegen.Bf16Storage.Residual.fromEnvironment()) : null;
    if (stored != null) program = stored.program();
    List<Compute> bf16Cast = stored == null ? null : stored.cast();
    // ZeRO-1: a rank's AdamW updates only its shard of the master, whose other shards arrive with the all-gather after the
    // update; so the update section leaves the bf16 copy alone and the "cast" section makes it, whole, before the next
    // forward (the same rounding, seed = the step count t: the copy one GPU's update makes)
    Tensor copyAfterGather = stored != null && zero.ranks() > 1 ? stored.copy() : null;
    // the loss is read after a whole step; the logits only after a forward (the backward may write
    // dlogits over them in place)
    Set<Tensor> pinned = new java.util.HashSet<>();
    if (program.hasOutput(Program.LOSS)) pinned.add(program.loss());
    else if (program.hasOutput(Program.LOGITS)) pinned.add(program.logits());
    Map<Tensor, Long> storage = Map.of();
    if (zero.ranks() > 1) {
      var shards = zero.shards(sizes.get(Program.SHARD));   // the default binding: the whole block
      sizes = Program.bindShard(sizes, shards.shardSize(), shards.start(zero.rank()));
      storage = Map.of(program.paramsBlock(), shards.paddedSize(), program.grads().values().iterator().next().root(), shards.paddedSize());
    }
    // on CUDA a matmul and its epilogue run as one launch, and in the order the lowering runs them: lifetimes over those launches
    // on the CPU the statements of a fused loop run interleaved, one time step; likewise a CUDA launch
    // on CUDA a training step may run forward and backward as one section, STEP (RowFusion.joined): the arena holds for both orders
    Map<String, List<Compute>> sections = device == Device.CPU ? sections(program, bf16Cast, copyAfterGather)
        : cudaSections(program, bf16Cast, copyAfterGather);
    Arena arena = device == Device.CPU ? new Arena(program.graph(), sizes, pinned, launches(sections, kiln.codegen.Fuse::groups), true, storage)
        : new Arena(program.graph(), sizes, pinned, launches(sections, kiln.codegen.Epilogue::groups), false, storage);
    return new Plan(program, bf16Cast, copyAfterGather, sections, arena);
  }

  /**
   * A CUDA session of program at sizes, as the public constructor opens it, where its arena, as planned, fits nine tenths of
   * device gpu's memory (the rest for the context and the split-K and transpose workspace); null where it does not, with
   * nothing allocated. The device's total, not what is free now, so every rank of identical GPUs decides alike
   * (Models.Shape.open's default policy). The plan is made once, for the check and the session.
   */
  public static Session ifFits(Program program, Map<Dim, Integer> sizes, int batch, int seq, CudaSchedule.Precision precision, int gpu,
                               Zero zero, kiln.codegen.Recompute recompute) {
    Plan plan = plan(program, sizes, Device.CUDA, precision, zero);
    Cuda cuda = Cuda.open(gpu);
    if (plan.arena().bytes() > cuda.totalBytes() / 10 * 9) {
      cuda.close();
      return null;
    }
    return new Session(plan, batch, seq, Device.CUDA, 1, precision, cuda, zero, recompute);
  }

  /** The "cast" section of a bf16 session (the params' bf16 copy rounded from the master), or null. */
  private final List<Compute> bf16Cast;

  /** A bf16 ZeRO-1 session's params copy (params_bf16), which its update section does not write; null otherwise. */
  private final Tensor copyAfterGather;

  /** sections(p), plus the bf16 "cast" section where there is one. */
  static Map<String, List<Compute>> sections(Program p, List<Compute> cast) { return sections(p, cast, null); }

  /** As above; with copy (bf16 under ZeRO-1) the update section without the compute that writes copy (the cast makes it). */
  static Map<String, List<Compute>> sections(Program p, List<Compute> cast, Tensor copy) {
    Map<String, List<Compute>> sections = sections(p);
    if (cast != null) sections.put("cast", cast);
    if (copy != null) sections.put("update", sections.get("update").stream().filter(c -> c.out().root() != copy).toList());
    return sections;
  }

  /**
   * The section a training step runs instead of "forward" then "backward" where the two join (CUDA sessions): their computes
   * in the order kiln.codegen.RowFusion.joined gives, the forward's last row group and the backward's first as one row kernel
   * (the classifier: the logits read once for the loss and dlogits). A forward alone (validation, verify, sampling) still runs
   * "forward", with the same numbers: the joined kernel's forward stages are the forward's row kernel's.
   */
  public static final String STEP = "step";

  /** A CUDA session's sections: sections(p, cast, copy), and STEP where the forward and backward join (RowFusion.joined). */
  public static Map<String, List<Compute>> cudaSections(Program p, List<Compute> cast, Tensor copy) {
    Map<String, List<Compute>> sections = sections(p, cast, copy);
    List<Compute> joined = kiln.codegen.CudaLowering.rows() ? kiln.codegen.RowFusion.joined(sections.get("forward"), sections.get("backward")) : null;
    if (joined != null) sections.put(STEP, joined);
    return sections;
  }

  /** The computes of a CUDA step as CudaLowering groups them into launches (kiln.codegen.Epilogue.groups per section), in order. */
  public static Arena.Launches cudaLaunches(Program p) { return cudaLaunches(p, null); }

  /** As above, with a bf16 session's "cast" section (null: none). */
  static Arena.Launches cudaLaunches(Program p, List<Compute> cast) { return launches(cudaSections(p, cast, null), kiln.codegen.Epilogue::groups); }

  /**
   * Each section's computes grouped into launches as a backend's lowering groups them, sections in order; where there is a
   * STEP section, the launches with STEP in place of "forward" and "backward" are the arena's alternative order.
   */
  private static Arena.Launches launches(Map<String, List<Compute>> sections,
                                         java.util.function.Function<List<Compute>, List<List<Compute>>> groups) {
    List<List<Compute>> launches = new java.util.ArrayList<>(), joined = new java.util.ArrayList<>();
    for (var e : sections.entrySet()) {
      if (e.getKey().equals(STEP)) continue;
      List<List<Compute>> g = groups.apply(e.getValue());
      launches.addAll(g);
      if (e.getKey().equals("forward")) joined.addAll(sections.containsKey(STEP) ? groups.apply(sections.get(STEP)) : g);
      else if (!e.getKey().equals("backward") || !sections.containsKey(STEP)) joined.addAll(g);
    }
    return new Arena.Launches(launches, sections.containsKey(STEP) ? List.of(joined) : List.of());
  }

  /** A program split into the sections a trainer runs: forward, backward, update. */
  public static Map<String, List<Compute>> sections(Program p) {
    List<Compute> all = p.graph().computes();
    Map<String, List<Compute>> sections = new LinkedHashMap<>();
    sections.put("forward", all.subList(0, p.forwardEnd()));
    sections.put("backward", all.subList(p.forwardEnd(), p.backwardEnd()));
    sections.put("norm", all.subList(p.backwardEnd(), p.normEnd()));
    sections.put("update", all.subList(p.normEnd(), all.size()));
    return sections;
  }

  @Override public Program program() { return program; }

  @Override public int batch() { return batch; }

  @Override public int seq() { return seq; }

  public Tensor paramsTensor() { return program.paramsBlock(); }

  /** The part of the optimizer this session runs (ZeRO-1), NONE for all of it. */
  public Zero zero() { return zero; }

  public void loadParams(float[] params) { write(paramsTensor(), params); }

  public void setBatch(int[] inputs, int[] targets) {
    executor.write(program.tokens(), inputs);
    executor.write(program.targets(), targets);
  }

  public void forward() {
    castIfStale();
    executor.run("forward");
  }

  /**
   * forward() then backward(), as one section where the session has one (STEP: the classifier's forward and backward in one
   * row kernel); the logits are not readable afterwards (dlogits took their place), the loss is.
   */
  @Override public void forwardBackward() {
    if (!joined) {
      forward();
      backward();
      return;
    }
    castIfStale();
    executor.run(STEP);
  }

  /** Whether this session has a STEP section. */
  private final boolean joined;

  /** Makes the params' bf16 copy where it is stale (before a forward). */
  private void castIfStale() {
    if (copyStale) {
      // the params' bf16 copy from the master, rounded as the update at this step count rounded it (Bf16Storage)
      // (after a ZeRO-1 update the device's hyper already holds this step: no second upload)
      if (!hyperUploaded || hyper[Program.STEP] != step) {
        hyper[Program.STEP] = step;
        executor.write(program.hyper(), hyper);
        hyperUploaded = true;
      }
      executor.run("cast");
      copyStale = false;
    }
  }

  /** A bf16 session's params were written since the copy was last made from them. */
  private boolean copyStale;

  /** The device's hyper block holds this session's hyper array. */
  private boolean hyperUploaded;

  public float loss() { return executor.readScalar(program.loss()); }

  public void backward() { executor.run("backward"); }

  /** One AdamW update with the gradients in the arena (t counts from 1). */
  public void update(float lr, float weightDecay) { update(lr, weightDecay, 1f); }

  /** One AdamW update with the gradients scaled by gradScale first (global-norm clipping). */
  public void update(float lr, float weightDecay, float gradScale) {
    step++;
    hyper[Program.LR] = lr;
    hyper[Program.BIAS1] = (float) (1 - Math.pow(0.9, step));
    hyper[Program.BIAS2] = (float) (1 - Math.pow(0.999, step));
    hyper[Program.WEIGHT_DECAY] = weightDecay;
    hyper[Program.GRAD_SCALE] = gradScale;
    hyper[Program.STEP] = step;
    executor.write(program.hyper(), hyper);
    hyperUploaded = true;
    executor.run("update");
    // ZeRO-1: the master is whole only after the all-gather that follows; the next forward rounds it into the copy
    if (copyAfterGather != null) copyStale = true;
  }

  /** The global gradient norm of the last backward, computed on the device. */
  public double gradNorm() {
    return Math.sqrt(gradNormSquared());
  }

  /** Σ g² over the session's shard of the gradient block (all of it without ZeRO). */
  public float gradNormSquared() {
    executor.run("norm");
    return executor.readScalar(program.gradNormSquared());
  }

  public int stepCount() { return step; }

  /** Sets the AdamW step counter (resuming from a checkpoint). */
  public void setStepCount(int t) { step = t; }

  public float[] read(Tensor t) { return executor.read(t); }

  /** Writes a float tensor; after a write into the params (the master) a bf16 session remakes their bf16 copy before the next forward. */
  @Override public void write(Tensor t, float[] values) {
    executor.write(t, values);
    if (bf16Cast != null && t.root() == paramsTensor()) copyStale = true;
  }

  @Override public void close() {
    executor.close();
    if (cuda != null) cuda.close();
  }
}
