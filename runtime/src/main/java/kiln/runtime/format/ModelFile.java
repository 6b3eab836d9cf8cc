// A model file of any registered family: the 256-int header (magic, version, then the config's fields
// in the order the family's FileFormat lists them) and the parameters in the family's layout order.
// For GPT-2 that is llm.c's checkpoint, version 3 (fp32) or 5 (bf16), byte for byte; for Llama kiln's
// Llama file (reference/README.md). Sizes come from the family's DSL layout, never from here.
package kiln.runtime.format;

import java.nio.file.Path;
import kiln.models.ModelFamily;
import kiln.runtime.Models;

public final class ModelFile {
  /** Largest float[] the JVM reliably allocates; every tensor set must fit one array. */
  public static final int MAX_ARRAY = Integer.MAX_VALUE - 8;

  private ModelFile() {}

  /** params: every tensor concatenated in the family's order, widened to fp32 from bf16; no NaN or infinity. */
  public record Loaded(Models.Shape shape, int version, float[] params) {
    /** The family's config record (Gpt2.Config, Llama.Config, ...), typed at the call site. */
    @SuppressWarnings("unchecked")
    public <C extends Record> C config() { return (C) shape.config(); }
  }

  /** A model of whichever registered family its magic names; an unknown magic is refused listing the known ones. */
  public static Loaded read(Path file) {
    try (BinaryReader in = BinaryReader.open(file)) {
      return read(in, familyOf(in));
    }
  }

  /** A model that must be of this family (its magic and header checked as the family states them). */
  public static Loaded read(Path file, ModelFamily<?> family) {
    try (BinaryReader in = BinaryReader.open(file)) {
      return read(in, family);
    }
  }

  /** A config of any registered family, in the family's default version. */
  public static void write(Path file, Record config, float[] params) { write(file, Models.of(config), params); }

  /** A config of any registered family, in the given version. */
  public static void write(Path file, Record config, float[] params, int version) { write(file, Models.of(config), params, version); }

  /** In the family's default version (fp32). */
  public static void write(Path file, Models.Shape shape, float[] params) { write(file, shape, params, shape.family().file().version()); }

  /** version: the family's, or its bf16 version (llm.c's 5), which rounds each value to the nearest bf16 (ties to even). */
  public static void write(Path file, Models.Shape shape, float[] params, int version) {
    ModelFamily.FileFormat f = shape.family().file();
    if (version != f.version() && (f.bf16Version() == 0 || version != f.bf16Version())) {
      throw FormatException.misuse(file, "version", versions(f), version);
    }
    Violation v = violation(shape);
    if (v != null) throw FormatException.misuse(file, v.configField(), v.expected(), v.found());
    long count = shape.paramCount();
    if (params.length != count) throw FormatException.misuse(file, "params length", "paramCount (" + count + ")", params.length);
    int[] fields = shape.header();
    int[] header = new int[2 + fields.length];
    header[0] = f.magic();
    header[1] = version;
    System.arraycopy(fields, 0, header, 2, fields.length);
    boolean bf16 = version == f.bf16Version();
    // a finite fp32 past bf16's largest finite value (3.39e38) would round to infinity, which no reader takes back
    for (int i = 0; bf16 && i < params.length; i++) {
      if (Float.isFinite(params[i]) && Float.isInfinite(Bf16.round(params[i]))) {
        var layout = shape.layout();
        throw FormatException.misuse(file, Finite.where(layout.names(), layout.sizes(), i), "a value bf16 holds (|x| < 3.39e38)", params[i]);
      }
    }
    AtomicFiles.write(file, out -> {
      BinaryWriter w = new BinaryWriter(out);
      w.header(header);
      if (bf16) w.bf16(params);
      else w.floats(params);
      w.flush();
    });
  }

  private static ModelFamily<?> familyOf(BinaryReader in) {
    FileKind kind = FileKind.of(in.headerInts(), in.size());
    ModelFamily<?> family = kind == FileKind.KILN_STATE ? null : Models.byMagic(in.header(0));
    if (family == null) {
      String expected = String.join(" or ", Models.FAMILIES.stream().map(f -> f.file().magic() + " (" + f.file().label() + ")").toList());
      throw in.error("header[0] magic", expected, FileKind.describe(in.headerInts(), in.size()));
    }
    return family;
  }

  /** The header checked as the family states it, the payload's length, then the parameters (finite). */
  private static Loaded read(BinaryReader in, ModelFamily<?> family) {
    ModelFamily.FileFormat f = family.file();
    FileKind kind = FileKind.of(in.headerInts(), in.size());
    if (in.header(0) != f.magic() || kind == FileKind.KILN_STATE) {
      throw in.error("header[0] magic", f.magic() + " (" + f.label() + ")", FileKind.describe(in.headerInts(), in.size()));
    }
    int version = in.header(1);
    if (version != f.version() && (f.bf16Version() == 0 || version != f.bf16Version())) {
      throw in.error("header[1] version", versions(f), version);
    }
    int[] fields = new int[f.header().size()];
    for (int i = 0; i < fields.length; i++) fields[i] = in.header(2 + i);
    Models.Shape shape = new Models.Shape(family, family.fromHeader(fields));
    Violation v = violation(shape);
    if (v != null) throw in.error(v.headerField(), v.expected(), v.found());
    boolean bf16 = version == f.bf16Version() && version != f.version();
    int bytesPer = bf16 ? Short.BYTES : Float.BYTES;
    long count = shape.paramCount();
    in.expectPayload(count * bytesPer, count + " params x " + bytesPer + " bytes");
    var layout = shape.layout();
    float[] params = new float[(int) layout.count()];
    if (bf16) in.bf16(params, 0, params.length);
    else in.floats(params, 0, params.length);
    Finite.requireFinite(in, params, layout.names(), layout.sizes(), bytesPer);
    return new Loaded(shape, version, params);
  }

  private static String versions(ModelFamily.FileFormat f) {
    return f.bf16Version() == 0 ? Integer.toString(f.version()) : f.version() + " or " + f.bf16Version();
  }

  /** A broken header constraint; slot is the header index, or -1 for a derived quantity. */
  record Violation(int slot, String name, String expected, String found) {
    String headerField() { return slot >= 0 ? "header[" + slot + "] " + name : name; }

    String configField() { return "config " + name; }
  }

  /** The first constraint the shape breaks, in header order, then the parameter count; null when consistent. */
  static Violation violation(Models.Shape shape) {
    ModelFamily.Violation v = shape.check();
    if (v != null) {
      var header = shape.family().file().header();
      int slot = -1;
      for (int i = 0; i < header.size(); i++) if (header.get(i).label().equals(v.field())) slot = 2 + i;
      return new Violation(slot, v.field(), v.expected(), v.found());
    }
    String most = "at most " + MAX_ARRAY;
    long count;
    try {
      count = shape.paramCount();
    } catch (ArithmeticException e) {
      return new Violation(-1, "parameter count", most, "more than " + Long.MAX_VALUE);
    }
    if (count > MAX_ARRAY) return new Violation(-1, "parameter count", most, Long.toString(count));
    return null;
  }
}
