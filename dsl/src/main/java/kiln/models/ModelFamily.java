// One architecture as one object: its config record, its forward in the DSL, the parameter layout
// (names and shapes in its dims: the only place it is written), random init, file header, CLI presets
// and reference script. The runtime (sessions, files, checkpoints, verify, sampling, the CLI) reads
// everything family-specific from here; a new architecture is one class and one registry line.
package kiln.models;

import java.lang.reflect.RecordComponent;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;
import kiln.dsl.Dim;
import kiln.dsl.Graph;
import kiln.dsl.Tensor;

/**
 * C is the family's config record. Every config has int components {@code maxT}, {@code vocab} and
 * {@code paddedVocab}; the rest are the family's own (layers, heads, ...), read by name where the
 * runtime needs them: the file header, the CLI's shape options (--layers: {@code layers}, --heads:
 * {@code heads}, --channels: {@code channels}, --kv-heads: {@code kvHeads}, --ffn: {@code ffn}) and
 * the one-line description.
 */
public interface ModelFamily<C extends Record> {
  /** "gpt2", "llama": the first word of describe(), the program's name. */
  String name();

  Class<C> configType();

  /** The parameter tensors in file order, each with its shape in the family's dims. */
  LinkedHashMap<String, List<Dim>> parameters();

  /** Every dim of parameters() and forward() except batch and sequence, bound for a config. */
  Map<Dim, Integer> dims(C c);

  Dim batchDim();

  Dim seqDim();

  /** The model itself: tokens (B, T) to logits (B, T, Vp) and the mean cross-entropy loss against targets. */
  Outputs forward(Graph g, Map<String, Tensor> params, Tensor tokens, Tensor targets, C c);

  record Outputs(Tensor logits, Tensor loss) {}

  /** Seeded random init of all parameters, written into dst from base (an arena, or a fresh array). */
  void init(C c, long seed, float[] dst, int base);

  /** Named shapes (`--model NAME`), in the order `--help` lists them. */
  Map<String, C> presets();

  /** The family's model file: magic, the version written, and the config's header fields from int 2 on. */
  FileFormat file();

  /** The PyTorch script under reference/ that writes this family's fixtures (model.bin, state.bin, losses.txt). */
  String reference();

  /** A KV-cached decoder (inputs tokens (B, 1) and pos, output logits), if the family has one. */
  default Optional<Program> decoder(C c) { return Optional.empty(); }

  /** Checks beyond every header int being at least 1 (C a multiple of NH, ...): the first broken one, or null. */
  default Violation constraints(C c) { return null; }

  /**
   * A model file's header: magic at int 0, version at int 1, then one int per field (float fields as
   * their bits). bf16Version, when non-zero, is a version whose payload is bf16 (llm.c's v5).
   */
  record FileFormat(int magic, int version, int bf16Version, String label, List<Field> header) {
    public FileFormat {
      header = List.copyOf(header);
    }
  }

  /** A header field: the config component it holds and its short label in messages (header[6] C). */
  record Field(String component, String label) {}

  /** A broken constraint on a config: the field's label, what was expected and found. */
  record Violation(String field, String expected, String found) {}

  // ---- derived from the above, the same for every family ----

  /** The training program as the DSL defines it (what the CPU runs). */
  default Program build(C c) { return build(c, g -> { }); }

  /**
   * The training program with a backend pass applied to the forward graph before the backward is
   * derived (kiln.codegen.BackendPass: fused attention and recompute on CUDA).
   */
  default Program build(C c, Consumer<Graph> pass) {
    Trainable model = new Trainable(parameters(), batchDim(), seqDim());
    Outputs out = forward(model.g, model.params, model.tokens, model.targets, c);
    pass.accept(model.g);
    return model.finish(name(), out.logits(), out.loss());
  }

  /** Every dim bound: the family's for c, batch and sequence, and the trainer's. */
  default Map<Dim, Integer> bind(C c, int batch, int seq) {
    Violation v = check(c);
    if (v != null) throw new IllegalArgumentException(name() + " config " + v.field() + ": expected " + v.expected() + ", found " + v.found());
    if (seq > maxT(c)) throw new IllegalArgumentException("sequence length " + seq + " exceeds maxT " + maxT(c));
    Map<Dim, Integer> sizes = new LinkedHashMap<>(dims(c));
    sizes.put(batchDim(), batch);
    sizes.put(seqDim(), seq);
    sizes.put(Trainable.HYPER, Program.HYPER_SLOTS);
    return Program.bindShard(sizes, layout(c).count(), 0);   // the optimizer's slice: the whole block
  }

  /** Parameter names and element counts for c, from binding the dims of parameters(). */
  default Layout layout(C c) {
    Map<Dim, Integer> dims = dims(c);
    List<String> names = new ArrayList<>();
    long[] sizes = new long[parameters().size()];
    int i = 0;
    for (var e : parameters().entrySet()) {
      long n = 1;
      for (Dim d : e.getValue()) {
        Integer size = dims.get(d);
        if (size == null) throw new IllegalStateException(name() + ": parameter " + e.getKey() + " has dim " + d + ", which dims() does not bind");
        n = Math.multiplyExact(n, (long) size);
      }
      names.add(e.getKey());
      sizes[i++] = n;
    }
    return new Layout(List.copyOf(names), sizes);
  }

  /** The parameter tensors of one config: names in file order and their element counts. */
  record Layout(List<String> names, long[] sizes) {
    /** Throws ArithmeticException past a long. */
    public long count() {
      long s = 0;
      for (long n : sizes) s = Math.addExact(s, n);
      return s;
    }
  }

  default long paramCount(C c) { return layout(c).count(); }

  default int maxT(C c) { return (int) component(c, "maxT"); }

  default int vocab(C c) { return (int) component(c, "vocab"); }

  default int paddedVocab(C c) { return (int) component(c, "paddedVocab"); }

  /** Every int header field at least 1, in header order, then constraints(c); null when c is consistent. */
  default Violation check(C c) {
    for (Field f : file().header()) {
      Object v = component(c, f.component());
      if (v instanceof Integer n && n < 1) return new Violation(f.label(), "at least 1", Integer.toString(n));
    }
    return constraints(c);
  }

  /** {@code gpt2 L=2 NH=4 C=128 maxT=256}: the family, its int header fields but V and Vp, then maxT. */
  default String describe(C c) {
    StringBuilder sb = new StringBuilder(name());
    for (Field f : file().header()) {
      if (f.component().equals("maxT") || f.component().equals("vocab") || f.component().equals("paddedVocab")) continue;
      if (component(c, f.component()) instanceof Integer n) sb.append(' ').append(f.label()).append('=').append(n);
    }
    return sb.append(" maxT=").append(maxT(c)).toString();
  }

  /** Every header field as label=value (floats included): the verify line. */
  default String describeAll(C c) {
    StringBuilder sb = new StringBuilder();
    for (Field f : file().header()) sb.append(sb.isEmpty() ? "" : " ").append(f.label()).append('=').append(component(c, f.component()));
    return sb.toString();
  }

  /** The header ints from int 2 on (float fields as Float.floatToIntBits). */
  default int[] header(C c) {
    List<Field> fields = file().header();
    int[] h = new int[fields.size()];
    for (int i = 0; i < h.length; i++) {
      Object v = component(c, fields.get(i).component());
      h[i] = v instanceof Float f ? Float.floatToIntBits(f) : (Integer) v;
    }
    return h;
  }

  /** The config a header holds (ints from int 2 on, as header(c) writes them). */
  default C fromHeader(int[] h) {
    Map<String, Integer> byName = new LinkedHashMap<>();
    List<Field> fields = file().header();
    for (int i = 0; i < fields.size(); i++) byName.put(fields.get(i).component(), h[i]);
    RecordComponent[] rc = configType().getRecordComponents();
    Object[] args = new Object[rc.length];
    for (int i = 0; i < rc.length; i++) {
      Integer bits = byName.get(rc[i].getName());
      if (bits == null) throw new IllegalStateException(name() + ": config component " + rc[i].getName() + " is not in the file header");
      args[i] = rc[i].getType() == float.class ? (Object) Float.intBitsToFloat(bits) : (Object) bits;
    }
    return construct(args);
  }

  /** c with some int components replaced (the CLI's --layers, --heads, ...); names must be components. */
  default C with(C c, Map<String, Integer> overrides) {
    RecordComponent[] rc = configType().getRecordComponents();
    Object[] args = new Object[rc.length];
    for (int i = 0; i < rc.length; i++) {
      Integer o = overrides.get(rc[i].getName());
      args[i] = o != null ? o : component(c, rc[i].getName());
    }
    return construct(args);
  }

  /** Whether the config has an int component of this name (the CLI's shape options apply to it). */
  default boolean hasComponent(String component) {
    for (RecordComponent rc : configType().getRecordComponents()) if (rc.getName().equals(component) && rc.getType() == int.class) return true;
    return false;
  }

  /** A config component by name (Integer or Float). */
  static Object component(Record c, String component) {
    try {
      for (RecordComponent rc : c.getClass().getRecordComponents()) {
        if (rc.getName().equals(component)) return rc.getAccessor().invoke(c);
      }
    } catch (ReflectiveOperationException e) {
      throw new IllegalStateException(e);
    }
    throw new IllegalStateException(c.getClass().getSimpleName() + " has no component " + component);
  }

  private C construct(Object[] args) {
    try {
      RecordComponent[] rc = configType().getRecordComponents();
      Class<?>[] types = new Class<?>[rc.length];
      for (int i = 0; i < rc.length; i++) types[i] = rc[i].getType();
      return configType().getDeclaredConstructor(types).newInstance(args);
    } catch (ReflectiveOperationException e) {
      throw new IllegalStateException(name() + ": cannot construct " + configType().getSimpleName(), e);
    }
  }
}
