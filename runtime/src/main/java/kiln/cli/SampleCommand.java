// `kiln sample`: generates text from a model file or training checkpoint on the CPU, streaming it to stdout.
package kiln.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import kiln.runtime.format.GptConfig;
import kiln.runtime.format.ModelFile;
import kiln.runtime.train.Checkpoint;
import kiln.runtime.train.Sampler;
import kiln.runtime.train.TokenText;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "sample", mixinStandardHelpOptions = true, sortOptions = false,
    description = {
        "Generates text from a GPT-2 model file or checkpoint on the CPU, streaming it to stdout.",
        "Prints the prompt, then each token as it is drawn; tok/s on stderr at the end.",
        "No KV cache yet: every new token recomputes the forward over the whole window (the last --max-seq tokens), so the"
            + " cost per token grows with the window, not with what is cached."},
    footer = {"", "Example:", "  ./kiln sample --checkpoint runs/20250101-120000 --prompt \"It was\" --tokens 100"})
public final class SampleCommand implements Callable<Integer> {
  @Option(names = "--checkpoint", required = true, paramLabel = "FILE_OR_DIR",
      description = "An llm.c model file (v3 or v5), a checkpoint directory (ckpt_<step>/), or a run directory (its latest checkpoint).")
  Path checkpoint;

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

  @Option(names = "--max-seq", paramLabel = "T",
      description = "Window the forward is compiled for (default: prompt + tokens rounded up to 16, at most maxT); a longer"
          + " context keeps its last T tokens.")
  Integer maxSeq;

  @Option(names = "--threads", paramLabel = "N", description = "CPU threads (default: cores).")
  Integer threads;

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
    int n = threads != null ? threads : Runtime.getRuntime().availableProcessors();
    if (n < 1) {
      throw new UserError("--threads must be positive, got " + n);
    }
    Path file = modelFile(checkpoint);
    ModelFile.Loaded model = ModelFile.read(file);
    GptConfig c = model.config();
    int[] promptTokens = TokenText.encode(prompt);
    if (promptTokens.length == 0) {
      throw new UserError("--prompt is empty; pass some text, or \"" + TokenText.EOT_TEXT + "\" to start a document");
    }
    int window = maxSeq != null ? maxSeq : Sampler.window(c, promptTokens.length + tokens);
    if (window < 1 || window > c.maxT()) {
      throw new UserError("--max-seq " + window + ": must be in [1, maxT " + c.maxT() + "]");
    }
    PrintWriter out = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    if (!prompt.equals(TokenText.EOT_TEXT)) {
      out.print(prompt);
      out.flush();
    }
    TokenText.Stream text = new TokenText.Stream();
    long t0;
    try (Sampler s = new Sampler(c, model.params(), window, n)) {
      t0 = System.nanoTime();
      s.generate(promptTokens, tokens, temperature, topK, seed, t -> {
        out.print(text.push(t));
        out.flush();
      });
    }
    double secs = (System.nanoTime() - t0) / 1e9;
    out.println(text.finish());
    out.flush();
    err.printf(Locale.ROOT, "sample: %d tokens in %.2f s (%.1f tok/s), window T=%d, %s, %d threads, no KV cache%n", tokens, secs,
        tokens / secs, window, file, n);
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
