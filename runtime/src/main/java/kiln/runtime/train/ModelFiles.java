// A trained model on disk in its family's format: llm.c v3/v5 for GPT-2, kiln's Llama file for Llama.
package kiln.runtime.train;

import java.nio.file.Path;
import java.util.Locale;
import kiln.runtime.Models;
import kiln.runtime.format.GptConfig;
import kiln.runtime.format.LlamaConfig;
import kiln.runtime.format.LlamaModelFile;
import kiln.runtime.format.ModelFile;

/** Reading detects the family from the file's magic; writing picks the format from the shape. */
public final class ModelFiles {
  private ModelFiles() {}

  /** A model read back: its shape (a registry record) and its parameters in the family's order. */
  public record Loaded(Models.Shape shape, float[] params) {}

  public static Loaded read(Path file) {
    if (LlamaModelFile.isLlama(file)) {
      LlamaModelFile.Loaded m = LlamaModelFile.read(file);
      return new Loaded(new Models.LlamaShape(m.config()), m.params());
    }
    ModelFile.Loaded m = ModelFile.read(file);
    return new Loaded(new Models.Gpt2Shape(m.config()), m.params());
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
