// The model registry: every architecture kiln knows (one ModelFamily each) and every `--model` name
// (the families' presets). Adding an architecture adds one line to FAMILIES.
package kiln.runtime;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import kiln.codegen.BackendPass;
import kiln.codegen.CudaSchedule;
import kiln.codegen.Recompute;
import kiln.dsl.Graph;
import kiln.models.Gpt2;
import kiln.models.Llama;
import kiln.models.ModelFamily;
import kiln.models.Program;

public final class Models {
  private Models() {}

  /** Every architecture, in the order `--help` lists their presets. */
  public static final List<ModelFamily<?>> FAMILIES = List.of(new ModelFamily<?>[] {
      Gpt2.FAMILY,
      Llama.FAMILY,
      kiln.models.Gemma.FAMILY,
  });

  /** A model's shape: its family and a config of that family. Opens sessions, writes a seeded init. */
  public record Shape(ModelFamily<?> family, Record config) {
    public Shape {
      if (!family.configType().isInstance(config)) {
        throw new IllegalArgumentException(family.name() + " takes a " + family.configType().getSimpleName() + ", not " + config);
      }
    }

    @SuppressWarnings("unchecked")
    private <C extends Record> ModelFamily<C> f() { return (ModelFamily<C>) family; }

    @SuppressWarnings("unchecked")
    private <C extends Record> C c() { return (C) config; }

    public int maxT() { return f().maxT(c()); }

    public int vocab() { return f().vocab(c()); }

    public int paddedVocab() { return f().paddedVocab(c()); }

    public long paramCount() { return f().paramCount(c()); }

    /** Parameter names and element counts, in the family's file order. */
    public ModelFamily.Layout layout() { return f().layout(c()); }

    /** {@code gpt2 L=2 NH=4 C=128 maxT=256}. */
    public String describe() { return f().describe(c()); }

    /** Every header field, floats included. */
    public String describeAll() { return f().describeAll(c()); }

    /** The header ints from int 2 on. */
    public int[] header() { return f().header(c()); }

    /** The first broken constraint, or null. */
    public ModelFamily.Violation check() { return f().check(c()); }

    /** This shape with some int config components replaced (--layers, --heads, ...). */
    public Shape with(Map<String, Integer> overrides) { return new Shape(family, f().with(c(), overrides)); }

    /** The training program a device runs: the DSL definition, with the backend's pass on CUDA; the device's recompute policy. */
    public Program program(Session.Device device) { return program(device, CudaSchedule.Precision.FP32, null); }

    /**
     * The program of a precision's kernels (the attention's backward differs at TF32 with one key/value head) with a recompute
     * policy (null: the device's default, {@link #recompute}); a policy that finds nothing to recompute in this model is refused
     * (IllegalArgumentException, one line naming --recompute).
     */
    public Program program(Session.Device device, CudaSchedule.Precision precision, Recompute recompute) {
      return build(device, precision, recompute).program();
    }

    /** A program and the recompute policy it was built with. */
    private record Built(Program program, Recompute recompute) {}

    private Built build(Session.Device device, CudaSchedule.Precision precision, Recompute requested) {
      Recompute[] policy = new Recompute[1];
      Program p = f().build(c(), g -> {
        policy[0] = resolve(requested, device, g);
        (device == Session.Device.CUDA ? BackendPass.cuda(f().dims(c()), precision, policy[0]) : BackendPass.cpu(policy[0])).accept(g);
      });
      return new Built(p, policy[0]);
    }

    /**
     * requested, or where that is null the device's default (CUDA: gelu where the model has a GELU, as before the policy
     * existed, unless open finds that keeping every activation fits the device (Session.ifFits); the CPU: none). A policy that finds nothing to recompute in this model is refused in one line naming
     * --recompute (IllegalArgumentException).
     */
    private Recompute resolve(Recompute requested, Session.Device device, Graph forward) {
      if (requested == null) return device == Session.Device.CUDA && Recompute.GELU.count(forward) > 0 ? Recompute.GELU : Recompute.NONE;
      if (requested != Recompute.NONE && requested.count(forward) == 0) {
        throw new IllegalArgumentException("--recompute " + requested.flag() + ": a " + family.name() + " model has no "
            + String.join("/", requested.regions()) + " activation to recompute; expected none for it (accepted: "
            + String.join(", ", Recompute.names()) + ")");
      }
      return requested;
    }

    /** The family's KV-cached decoder, if it has one. */
    public Optional<Program> decoder() { return f().decoder(c()); }

    public Map<kiln.dsl.Dim, Integer> bind(int batch, int seq) { return f().bind(c(), batch, seq); }

    /**
     * A session on CUDA device ordinal gpu (0 on the CPU), the optimizer over a ZeRO-1 shard (Session.Zero.NONE: all of it),
     * recompute the activation-recompute policy (null: the device's default; the session says which it runs).
     */
    public Session open(int batch, int seq, Session.Device device, int threads, CudaSchedule.Precision precision, int gpu, Session.Zero zero,
                        Recompute recompute) {
      if (recompute == null && device == Session.Device.CUDA) {
        // CUDA's default: keep every activation where the arena fits the device (recomputing costs time: GPT-2 124M bf16 at
        // B=32, 2.4 ms a step), else the device's default policy
        Session keep = Session.ifFits(build(device, precision, Recompute.NONE).program(), bind(batch, seq), batch, seq, precision, gpu, zero,
            Recompute.NONE);
        if (keep != null) return keep;
      }
      Built built = build(device, precision, recompute);
      return new Session(built.program(), bind(batch, seq), batch, seq, device, threads, precision, gpu, zero, built.recompute());
    }

    /** As above with the device's recompute policy. */
    public Session open(int batch, int seq, Session.Device device, int threads, CudaSchedule.Precision precision, int gpu, Session.Zero zero) {
      return open(batch, seq, device, threads, precision, gpu, zero, null);
    }

    /** An fp32 session on the CPU or CUDA device 0 with the device's recompute policy. */
    public Session open(int batch, int seq, Session.Device device, int threads) {
      return open(batch, seq, device, threads, CudaSchedule.Precision.FP32, 0, Session.Zero.NONE);
    }

    /** Seeded init written into dst at base (an arena, or a fresh array). */
    public void randomInit(long seed, float[] dst, int base) { f().init(c(), seed, dst, base); }

    /** A fresh array holding the seeded init. */
    public float[] randomInit(long seed) {
      float[] p = new float[Math.toIntExact(paramCount())];
      randomInit(seed, p, 0);
      return p;
    }
  }

  /** The shape of a config of any registered family (a shape is its own). */
  public static Shape of(Record config) {
    if (config instanceof Shape s) return s;
    for (ModelFamily<?> f : FAMILIES) if (f.configType().isInstance(config)) return new Shape(f, config);
    throw new IllegalArgumentException("no registered family takes a " + config.getClass().getSimpleName());
  }

  /** The family whose model files start with this magic, or null. */
  public static ModelFamily<?> byMagic(int magic) {
    for (ModelFamily<?> f : FAMILIES) if (f.file().magic() == magic) return f;
    return null;
  }

  public static final Map<String, Shape> ALL = new LinkedHashMap<>();
  static {
    for (ModelFamily<?> f : FAMILIES) f.presets().forEach((name, c) -> ALL.put(name, new Shape(f, c)));
  }

  public static Shape get(String name) {
    Shape s = ALL.get(name);
    if (s == null) throw new IllegalArgumentException("--model " + name + ": unknown; expected one of " + ALL.keySet());
    return s;
  }
}
