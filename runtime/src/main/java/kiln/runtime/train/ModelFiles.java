// A trained model on disk in its family's format (format.ModelFile: llm.c v3/v5 for GPT-2, kiln's
// Llama file for Llama, ...), with the checkpoint's CRC32C checked first.
package kiln.runtime.train;

import java.nio.file.Path;
import kiln.runtime.Models;
import kiln.runtime.format.ModelFile;

/** Reading detects the family from the file's magic (writing is ModelFile.write, which picks the format from the shape's family). */
public final class ModelFiles {
  private ModelFiles() {}

  /** A model read back: its shape and its parameters in the family's order. */
  public record Loaded(Models.Shape shape, float[] params) {}

  /**
   * Any registered family by its magic; NaN or infinite values are refused with the tensor named. A model.bin inside
   * a checkpoint is first checked against the CRC32C its train.txt records ({@link Checkpoint#verifyRecorded}).
   */
  public static Loaded read(Path file) {
    Checkpoint.verifyRecorded(file);
    ModelFile.Loaded m = ModelFile.read(file);
    return new Loaded(m.shape(), m.params());
  }
}
