// `kiln sample`: generates text from a model file, a training checkpoint or a random init, on CUDA or the CPU, streaming it.
package kiln.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import kiln.runtime.Models;
import kiln.runtime.Session;
import kiln.runtime.train.Checkpoint;
import kiln.runtime.train.ModelFiles;
import kiln.runtime.train.Sampler;
import kiln.runtime.train.TokenText;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "sample", mixinStandardHelpOptions = true, sortOptions = false,
    description = {
        "Generates text from a GPT-2 or Llama model file or checkpoint (or a registry shape's random init) on CUDA or the"
            + " CPU, streaming it to stdout.",
        "Prints the prompt, then each token as it is drawn; tok/s on stderr at the end.",
        "GPT-2 uses a KV cache: the prompt goes in one position at a time, then each new token costs one position (the"
            + " cache holds maxT positions; a longer context restarts it from its last maxT/2 tokens).",
        "Llama (no KV-cache decoder yet), or GPT-2 with --no-kv-cache, recomputes: every new token runs the forward over the"
            + " whole window (the last --max-seq tokens), so the cost per token grows with the window."},
    footer = {"", "Examples:", "  ./kiln sample --checkpoint runs/20250101-120000 --prompt \"It was\" --tokens 100",
        "  ./kiln sample --model gpt2-d6 --tokens 200 --no-kv-cache     # random weights: for timing"})
public final class SampleCommand implements Callable<Integer> {
  @Option(names = "--checkpoint", paramLabel = "FILE_OR_DIR",
      description = "A model file (llm.c GPT-2 v3/v5 or kiln's Llama file), a checkpoint directory (ckpt_<step>/), or a run"
          + " directory (its latest checkpoint).")
  Path checkpoint;

  @Option(names = "--model", paramLabel = "NAME", completionCandidates = SharedOptions.ModelNames.class,
      description = "Instead of --checkpoint: a seeded random init (--seed) of one of ${COMPLETION-CANDIDATES}, for timing.")
  String model;

  @Option(names = "--prompt", defaultValue = TokenText.EOT_TEXT, paramLabel = "TEXT",
      description = "Text to continue; \"<|endoftext|>\" is the end-of-text token (default: ${DEFAULT-VALUE}, a fresh document).")
  String prompt;

  @Option(names = "--tokens", defaultValue = "64", paramLabel = "N", description = "Tokens to generate (default: ${DEFAULT-VALUE}).")
  int tokens;

  @Option(names = "--temperature", defaultValue = "1.0", paramLabel = "TEMP", description = "Softmax temperature; 0 is greedy (default: ${DEFAULT-VALUE}).")
  double temperature;

  @Option(names = "--top-k", defaultValue = "40", paramLabel = "K",
      description = "Sample among the K likeliest tokens; 0: all (default: ${DEFAULT-VALUE}).")
  int topK;

  @Option(names = "--seed", defaultValue = "1337", paramLabel = "SEED", description = "Random seed (default: ${DEFAULT-VALUE}).")
  long seed;

  @Option(names = "--no-kv-cache", description = "GPT-2: recompute the window's forward per token instead of using the KV cache.")
  boolean noKvCache;

  @Option(names = "--max-seq", paramLabel = "T",
      description = "Recompute only: the window the forward is compiled for (default: prompt + tokens rounded up to 16, at most"
          + " maxT); a longer context keeps its last T tokens.")
  Integer maxSeq;

  @Mixin SharedOptions.AutoDevice device;

  @Spec
  CommandSpec spec;

  @Override
  public Integer call() throws IOException {
    if (tokens < 1) {
      throw new UserError("--tokens must be positive, got " + tokens);
    }
    if (!(temperature >= 0) || Double.isInfinite(temperature)) {
      throw new UserError("--temperature must be >= 0 and finite, got " + temperature);
    }
    if (topK < 0) {
      throw new UserError("--top-k must be >= 0, got " + topK);
    }
    int n = device.threads();
    if ((checkpoint == null) == (model == null)) {
      throw new UserError(checkpoint == null ? "pass --checkpoint FILE_OR_DIR, or --model NAME for a random init"
          : "--checkpoint and --model: pass one (--model samples from a random init)");
    }
    Session.Device dev = device.device();
    Models.Shape shape;
    float[] params;
    String source;
    if (checkpoint != null) {
      Path file = modelFile(checkpoint);
      ModelFiles.Loaded loaded = ModelFiles.read(file);
      shape = loaded.shape();
      params = loaded.params();
      source = file.toString();
    } else {
      shape = Models.get(model);
      params = shape.randomInit(seed);
      source = model + " random init (seed " + seed + ")";
    }
    int[] promptTokens = TokenText.encode(prompt);
    if (promptTokens.length == 0) {
      throw new UserError("--prompt is empty; pass some text, or \"" + TokenText.EOT_TEXT + "\" to start a document");
    }
    boolean cached = !noKvCache && shape.decoder().isPresent();
    if (cached && maxSeq != null) {
      throw new UserError("--max-seq sets the recompute window; the KV cache holds maxT (" + shape.maxT() + ") positions: add"
          + " --no-kv-cache to recompute");
    }
    if (maxSeq != null && (maxSeq < 1 || maxSeq > shape.maxT())) {
      throw new UserError("--max-seq " + maxSeq + ": must be in [1, maxT " + shape.maxT() + "]");
    }
    PrintWriter out = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    String done;
    try (Sampler s = maxSeq != null ? Sampler.recompute(shape, params, maxSeq, dev, n)
        : Sampler.open(shape, params, promptTokens.length + tokens, noKvCache, dev, n)) {
      if (!prompt.equals(TokenText.EOT_TEXT)) {
        out.print(prompt);
        out.flush();
      }
      done = s.stream(promptTokens, tokens, temperature, topK, seed, out);
    }
    err.printf(Locale.ROOT, "sample: %s, %s, %s%n", done, source, dev == Session.Device.CPU ? "cpu " + n + " threads" : "cuda");
    err.flush();
    return 0;
  }

  /** A model file as given, or the model.bin of a checkpoint (or of a run's latest checkpoint). */
  static Path modelFile(Path given) throws IOException {
    if (Files.isRegularFile(given)) {
      return given;
    }
    if (!Files.exists(given)) {
      throw new UserError("--checkpoint " + given + ": no such file or directory");
    }
    return Checkpoint.resolve(given).resolve("model.bin");
  }
}
