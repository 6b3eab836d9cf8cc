// llm.c model checkpoints: version 3 (fp32) and version 5 (bf16), parameters in GptConfig.PARAM_NAMES order.
package kiln.runtime.format;

import java.nio.file.Path;

public final class ModelFile {
  static final int MAGIC = FileKind.GPT2_MODEL.magic;
  static final int FP32 = 3;
  static final int BF16 = 5;

  private ModelFile() {}

  /** params: all 16 tensors concatenated in llm.c order, widened to fp32 for version 5; a NaN or infinity is refused, named. */
  public record Loaded(GptConfig config, int version, float[] params) {}

  public static Loaded read(Path file) {
    try (BinaryReader in = BinaryReader.open(file)) {
      GptConfig config = checkHeader(in);
      int version = in.header(1);
      float[] params = new float[(int) config.paramCount()];
      if (version == FP32) {
        in.floats(params, 0, params.length);
      } else {
        in.bf16(params, 0, params.length);
      }
      Finite.requireFinite(in, params, GptConfig.PARAM_NAMES, config.paramSizes(), version == FP32 ? Float.BYTES : Short.BYTES);
      return new Loaded(config, version, params);
    }
  }

  /** The config, after checking the header and that the payload has exactly the size it implies. */
  public static GptConfig readHeader(Path file) {
    try (BinaryReader in = BinaryReader.open(file)) {
      return checkHeader(in);
    }
  }

  /** version 3 writes fp32; version 5 rounds each value to the nearest bf16 (ties to even). */
  public static void write(Path file, GptConfig c, float[] params, int version) {
    if (version != FP32 && version != BF16) {
      throw FormatException.misuse(file, "version", FP32 + " or " + BF16, version);
    }
    c.requireValid(file);
    if (params.length != c.paramCount()) {
      throw FormatException.misuse(file, "params length", "paramCount (" + c.paramCount() + ")", params.length);
    }
    AtomicFiles.write(file, out -> {
      BinaryWriter w = new BinaryWriter(out);
      w.header(MAGIC, version, c.maxT(), c.vocab(), c.layers(), c.heads(), c.channels(), c.paddedVocab());
      if (version == FP32) {
        w.floats(params);
      } else {
        w.bf16(params);
      }
      w.flush();
    });
  }

  private static GptConfig checkHeader(BinaryReader in) {
    in.expectKind(FileKind.GPT2_MODEL);
    int version = in.header(1);
    if (version != FP32 && version != BF16) {
      throw in.error("header[1] version", FP32 + " or " + BF16, version);
    }
    GptConfig c = new GptConfig(in.header(2), in.header(3), in.header(7), in.header(4), in.header(5), in.header(6));
    GptConfig.Violation v = c.violation();
    if (v != null) {
      throw in.error(v.headerField(), v.expected(), v.found());
    }
    int bytesPer = version == FP32 ? Float.BYTES : Short.BYTES;
    long count = c.paramCount();
    in.expectPayload(count * bytesPer, count + " params x " + bytesPer + " bytes");
    return c;
  }
}
