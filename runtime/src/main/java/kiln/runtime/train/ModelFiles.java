// A trained model on disk in its family's format: llm.c v3/v5 for GPT-2, kiln's Llama file for Llama.
package kiln.runtime.train;

import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import kiln.runtime.Models;
import kiln.runtime.format.FileKind;
import kiln.runtime.format.FormatException;
import kiln.runtime.format.GptConfig;
import kiln.runtime.format.LlamaConfig;
import kiln.runtime.format.LlamaModelFile;
import kiln.runtime.format.ModelFile;

/** Reading detects the family from the file's magic; writing picks the format from the shape. */
public final class ModelFiles {
  private ModelFiles() {}

  /** A model read back: its shape (a registry record) and its parameters in the family's order. */
  public record Loaded(Models.Shape shape, float[] params) {}

  /**
   * Either family by its magic; NaN or infinite values are refused with the tensor named. A model.bin inside a
   * checkpoint is first checked against the CRC32C its train.txt records ({@link Checkpoint#verifyRecorded}).
   */
  public static Loaded read(Path file) {
    Checkpoint.verifyRecorded(file);
    FileKind kind = FileKind.of(file);
    if (kind == FileKind.LLAMA_MODEL) {
      LlamaModelFile.Loaded m = LlamaModelFile.read(file);
      return new Loaded(new Models.LlamaShape(m.config()), m.params());
    }
    if (kind != null && kind != FileKind.GPT2_MODEL) {
      throw new FormatException(file, "header[0] magic", FileKind.GPT2_MODEL.label() + " or " + FileKind.LLAMA_MODEL.label(), kind.label());
    }
    ModelFile.Loaded m = ModelFile.read(file);
    return new Loaded(new Models.Gpt2Shape(m.config()), m.params());
  }

  /** The parameter tensors' names, in the family's file order. */
  public static List<String> paramNames(Models.Shape shape) {
    return switch (shape) {
      case Models.Gpt2Shape g -> GptConfig.PARAM_NAMES;
      case Models.LlamaShape l -> LlamaConfig.PARAM_NAMES;
      default -> throw new IllegalArgumentException("no parameter layout for a " + shape.family() + " model");
    };
  }

  /** The parameter tensors' element counts, in the family's file order. */
  public static long[] paramSizes(Models.Shape shape) {
    return switch (shape) {
      case Models.Gpt2Shape g -> g.config().paramSizes();
      case Models.LlamaShape l -> l.config().paramSizes();
      default -> throw new IllegalArgumentException("no parameter layout for a " + shape.family() + " model");
    };
  }

  /** GPT-2 as an llm.c version 3 (fp32) file, Llama as our Llama file (fp32). */
  public static void write(Path file, Models.Shape shape, float[] params) {
    switch (shape) {
      case Models.Gpt2Shape g -> ModelFile.write(file, g.config(), params, 3);
      case Models.LlamaShape l -> LlamaModelFile.write(file, l.config(), params);
      default -> throw new IllegalArgumentException(file + ": no file format for a " + shape.family() + " model");
    }
  }

  /** The real (unpadded) vocabulary size: the sampler never draws a padding id. */
  public static int vocab(Models.Shape shape) {
    return switch (shape) {
      case Models.Gpt2Shape g -> g.config().vocab();
      case Models.LlamaShape l -> l.config().vocab();
      default -> throw new IllegalArgumentException("no vocabulary size for a " + shape.family() + " model");
    };
  }

  /** One line: family and every dimension, e.g. {@code gpt2 L=2 NH=4 C=128 maxT=256}. */
  public static String describe(Models.Shape shape) {
    return switch (shape) {
      case Models.Gpt2Shape(GptConfig c) -> String.format(Locale.ROOT, "gpt2 L=%d NH=%d C=%d maxT=%d", c.layers(), c.heads(),
          c.channels(), c.maxT());
      case Models.LlamaShape(LlamaConfig c) -> String.format(Locale.ROOT, "llama L=%d NH=%d NKV=%d C=%d FF=%d maxT=%d",
          c.layers(), c.heads(), c.kvHeads(), c.channels(), c.ffn(), c.maxT());
      default -> shape.family();
    };
  }
}
