// kiln's Llama checkpoint (version 1, fp32), parameters in LlamaConfig.PARAM_NAMES order; reference/README.md.
package kiln.runtime.format;

import java.nio.file.Path;

public final class LlamaModelFile {
  public static final int MAGIC = FileKind.LLAMA_MODEL.magic;
  static final int VERSION = 1;

  private LlamaModelFile() {}

  /** params: all 12 tensors concatenated in file order; a NaN or infinity is refused, named. */
  public record Loaded(LlamaConfig config, float[] params) {}

  public static Loaded read(Path file) {
    try (BinaryReader in = BinaryReader.open(file)) {
      LlamaConfig config = checkHeader(in);
      float[] params = new float[(int) config.paramCount()];
      in.floats(params, 0, params.length);
      Finite.requireFinite(in, params, LlamaConfig.PARAM_NAMES, config.paramSizes(), Float.BYTES);
      return new Loaded(config, params);
    }
  }

  /** The config, after checking the header and that the payload has exactly the size it implies. */
  public static LlamaConfig readHeader(Path file) {
    try (BinaryReader in = BinaryReader.open(file)) {
      return checkHeader(in);
    }
  }

  public static void write(Path file, LlamaConfig c, float[] params) {
    c.requireValid(file);
    if (params.length != c.paramCount()) {
      throw FormatException.misuse(file, "params length", "paramCount (" + c.paramCount() + ")", params.length);
    }
    AtomicFiles.write(file, out -> {
      BinaryWriter w = new BinaryWriter(out);
      w.header(MAGIC, VERSION, c.maxT(), c.vocab(), c.layers(), c.heads(), c.kvHeads(), c.channels(), c.ffn(),
          c.paddedVocab(), Float.floatToIntBits(c.theta()), Float.floatToIntBits(c.eps()));
      w.floats(params);
      w.flush();
    });
  }

  /**
   * Whether the file starts with this format's magic and is not a checkpoint's state.bin (which shares it); false on
   * any error (missing, unreadable, under 16 bytes).
   */
  public static boolean isLlama(Path file) {
    return FileKind.of(file) == FileKind.LLAMA_MODEL;
  }

  private static LlamaConfig checkHeader(BinaryReader in) {
    in.expectKind(FileKind.LLAMA_MODEL);
    in.expect(1, "version", VERSION);
    LlamaConfig c = new LlamaConfig(in.header(2), in.header(3), in.header(9), in.header(4), in.header(5),
        in.header(6), in.header(7), in.header(8), Float.intBitsToFloat(in.header(10)),
        Float.intBitsToFloat(in.header(11)));
    GptConfig.Violation v = c.violation();
    if (v != null) {
      throw in.error(v.headerField(), v.expected(), v.found());
    }
    long count = c.paramCount();
    in.expectPayload(count * Float.BYTES, count + " params x " + Float.BYTES + " bytes");
    return c;
  }
}
