// `kiln export`: writes a model file or a training checkpoint's model as a model file of its family, fp32 (llm.c v3 for
// GPT-2) or bf16 (llm.c v5), atomically: the target is replaced whole or left as it was.
package kiln.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import kiln.models.ModelFamily;
import kiln.runtime.format.ModelFile;
import kiln.runtime.train.ModelFiles;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "export", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"Writes a model file or a checkpoint's model as a model file of its family: fp32 (llm.c's version 3 for GPT-2)"
        + " or bf16 (llm.c's version 5, each value rounded to the nearest bf16, ties to even), as llm.c's trainers load them.",
        "The file is written beside --out and renamed over it: an error leaves no half-written file."},
    footer = {"", "Examples:", "  ./kiln export --checkpoint runs/d6 --out gpt2_d6_bf16.bin --dtype bf16",
        "  ./kiln export --checkpoint runs/d6/ckpt_2000 --out gpt2_d6.bin"})
public final class ExportCommand implements Callable<Integer> {
  @Option(names = "--checkpoint", required = true, paramLabel = "FILE_OR_DIR",
      description = "A model file (llm.c GPT-2 v3/v5, kiln's Llama or Gemma file), a checkpoint directory (ckpt_<step>/), or a run"
          + " directory (its latest checkpoint).")
  Path checkpoint;

  @Option(names = "--out", required = true, paramLabel = "FILE", description = "The model file to write.")
  Path out;

  @Option(names = "--dtype", defaultValue = "fp32", paramLabel = "fp32|bf16",
      description = "fp32 (llm.c v3 for GPT-2) or bf16 (llm.c v5; GPT-2 only: kiln's Llama and Gemma files are fp32) (default: ${DEFAULT-VALUE}).")
  String dtype;

  @Option(names = "--force", description = "Replace --out if it exists.")
  boolean force;

  @Spec
  CommandSpec spec;

  @Override
  public Integer call() throws IOException {
    if (!dtype.equals("fp32") && !dtype.equals("bf16")) throw new UserError("--dtype " + dtype + ": expected fp32 or bf16");
    if (Files.isDirectory(out)) throw new UserError("--out " + out + ": is a directory; expected a file to write");
    if (Files.exists(out) && !force) throw new UserError("--out " + out + ": exists; pass --force to replace it");
    Path file = SampleCommand.modelFile(checkpoint);
    ModelFiles.Loaded model = ModelFiles.read(file);
    ModelFamily.FileFormat format = model.shape().family().file();
    boolean bf16 = dtype.equals("bf16");
    if (bf16 && format.bf16Version() == 0) {
      throw new UserError("--dtype bf16: " + format.label() + " has no bf16 version (only version " + format.version()
          + ", fp32); expected --dtype fp32 for " + file);
    }
    int version = bf16 ? format.bf16Version() : format.version();
    ModelFile.write(out, model.shape(), model.params(), version);
    PrintWriter o = spec.commandLine().getOut();
    o.printf(Locale.ROOT, "export: %s (%s, %,d parameters) -> %s: %s, version %d (%s), %,d bytes%n", file, model.shape().describe(),
        model.shape().paramCount(), out, format.label(), version, dtype, Files.size(out));
    o.flush();
    return 0;
  }
}
