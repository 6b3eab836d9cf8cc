// `kiln train`: trains a GPT-2 or a Llama on CUDA or the CPU (default: corpus, gpt2-tiny, a few minutes), with log, plot, checkpoints,
// sample. The options and their defaults; train.TrainRun resolves and runs the run.
package kiln.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import kiln.runtime.Session;
import kiln.runtime.data.DefaultCorpus;
import kiln.runtime.multi.Rendezvous;
import kiln.runtime.train.ShapeOverrides;
import kiln.runtime.train.TrainOptions;
import kiln.runtime.train.TrainRun;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParseResult;
import picocli.CommandLine.Spec;

@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
    description = {
        "Trains a GPT-2 or a Llama on CUDA or the CPU, with a log, a loss plot, checkpoints and a sample at the end.",
        "With no options: prepares the bundled Dickens + Shakespeare corpus (once, into ~/.cache/kiln/data/default-v2),"
            + " trains gpt2-tiny for 800 steps (about 4 minutes on 2 cores), writes runs/<timestamp>/ and prints a sample.",
        "Writes OUT/log.csv (one row per step), OUT/loss.png (at the end) and OUT/ckpt_<step>/ (model.bin: an llm.c v3"
            + " model file for GPT-2 (`kiln export --dtype bf16` makes a v5), kiln's Llama file for Llama; state.bin: AdamW's m, v and t; train.txt: options, data"
            + " position, guardrail state).",
        "The end-of-training sample uses the KV cache for GPT-2 and recomputes the window for Llama (see `kiln sample`).",
        "A step whose loss is NaN/Inf or whose gradient norm exceeds 100x its running median is skipped (one line"
            + " says why); 3 skips in a row stop the run with an error."},
    footer = {"", "Examples:", "  ./kiln train",
        "  ./kiln train --model gpt2-d6 --batch 4 --seq 256 --steps 2000 --out runs/d6",
        "  ./kiln train --model llama-tiny --steps 100 --out runs/llama",
        "  ./kiln train --resume runs/d6     # its latest checkpoint; bit-exact",
        "  ./kiln sample --checkpoint runs/d6 --prompt \"It was\" --tokens 100"})
public final class TrainCommand implements Callable<Integer> {
  @Option(names = "--model", defaultValue = "gpt2-tiny", paramLabel = "NAME",
      description = "Shape to train from scratch: one of ${COMPLETION-CANDIDATES} (default: ${DEFAULT-VALUE}).",
      completionCandidates = SharedOptions.ModelNames.class)
  String model;

  @Option(names = "--layers", paramLabel = "L", description = "Override the preset's layer count.")
  Integer layers;

  @Option(names = "--heads", paramLabel = "NH", description = "Override the preset's (query) head count.")
  Integer heads;

  @Option(names = "--channels", paramLabel = "C", description = "Override the preset's channels (a multiple of the heads).")
  Integer channels;

  @Option(names = "--kv-heads", paramLabel = "NKV", description = "Models with key/value head groups (llama, gemma): override the key/value head count (a divisor of the heads).")
  Integer kvHeads;

  @Option(names = "--ffn", paramLabel = "FF", description = "Models with an ffn width (llama, gemma): override the gated MLP's hidden size.")
  Integer ffn;

  @Option(names = "--init", paramLabel = "FILE",
      description = "Start from a model file: llm.c GPT-2 (v3 or v5) or kiln's Llama file; its shape overrides --model.")
  Path init;

  @Mixin SharedOptions.AutoDevice device;
  @Mixin SharedOptions.TrainPrecision precision;
  @Mixin SharedOptions.Recompute recompute;
  @Mixin SharedOptions.Gpus gpus;

  @Option(names = "--data", paramLabel = "DIR",
      description = "llm.c token shards (*train*.bin, *val*.bin; see `kiln prepare`). Default: the bundled corpus, prepared on first use.")
  Path data;

  @Option(names = "--out", paramLabel = "DIR", description = "Output directory (default: runs/<timestamp>; with --resume, the run's own).")
  Path out;

  @Option(names = "--force", description = "Write into a non-empty --out: first removes the previous run's checkpoints (every"
      + " ckpt_<step>/), log.csv and loss.png from it; other files stay.")
  boolean force;

  @Option(names = "--resume", paramLabel = "DIR",
      description = "Continue a run from a checkpoint directory, or from the latest ckpt_<step> of a run directory. Options come"
          + " from its train.txt; only --steps, --device, --precision, --recompute, --threads, --val-every, --val-batches, --checkpoint-every, --keep,"
          + " --sample-tokens, --gpus, --zero, --nodes, --node-rank, --rendezvous and --out may change. With the same --steps"
          + " (and device and --precision: train.txt does not record it, and on CUDA it defaults to bf16) the losses equal an uninterrupted"
          + " run's, bit for bit.")
  Path resume;

  @Option(names = "--batch", defaultValue = "8", paramLabel = "B", description = "Sequences per step (default: ${DEFAULT-VALUE}).")
  int batch;

  @Option(names = "--seq", defaultValue = "64", paramLabel = "T", description = "Tokens per sequence, at most maxT (default: ${DEFAULT-VALUE}).")
  int seq;

  @Option(names = "--steps", defaultValue = "800", paramLabel = "N", description = "Training steps in all (default: ${DEFAULT-VALUE}).")
  int steps;

  @Option(names = "--lr", defaultValue = "3e-3", paramLabel = "LR", description = "Peak learning rate (default: ${DEFAULT-VALUE}).")
  double lr;

  @Option(names = "--warmup", defaultValue = "20", paramLabel = "N", description = "Linear warmup steps (default: ${DEFAULT-VALUE}).")
  int warmup;

  @Option(names = "--min-lr-frac", defaultValue = "0.1", paramLabel = "F",
      description = "Cosine decay ends at this fraction of --lr (default: ${DEFAULT-VALUE}).")
  double minLrFrac;

  @Option(names = "--weight-decay", defaultValue = "0", paramLabel = "WD",
      description = "AdamW decoupled weight decay. Applies to ALL parameters, biases and layernorms included: the update"
          + " is one fused kernel over the parameter block (default: ${DEFAULT-VALUE}).")
  double weightDecay;

  @Option(names = "--grad-clip", defaultValue = "1.0", paramLabel = "NORM",
      description = "Clip the global gradient norm to this; 0 turns clipping off (default: ${DEFAULT-VALUE}).")
  double gradClip;

  @Option(names = "--val-every", defaultValue = "50", paramLabel = "N",
      description = "Validation loss every N steps and at the end; 0: only at the end (default: ${DEFAULT-VALUE}).")
  int valEvery;

  @Option(names = "--val-batches", defaultValue = "8", paramLabel = "N",
      description = "Batches from the start of the val split per validation (default: ${DEFAULT-VALUE}).")
  int valBatches;

  @Option(names = "--checkpoint-every", defaultValue = "100", paramLabel = "N",
      description = "Checkpoint every N steps and at the end; 0: only at the end (default: ${DEFAULT-VALUE}).")
  int checkpointEvery;

  @Option(names = "--keep", defaultValue = "3", paramLabel = "K", description = "Keep the last K checkpoints (default: ${DEFAULT-VALUE}).")
  int keep;

  @Option(names = "--seed", defaultValue = "1337", paramLabel = "SEED", description = "Seed of the random init and of the final sample (default: ${DEFAULT-VALUE}).")
  long seed;

  @Option(names = "--sample-tokens", defaultValue = "64", paramLabel = "N",
      description = "Tokens to sample from <|endoftext|> at the end; 0: none (default: ${DEFAULT-VALUE}).")
  int sampleTokens;

  @Spec
  CommandSpec spec;

  @Override
  public Integer call() throws IOException {
    PrintWriter err = spec.commandLine().getErr();
    int threads = device.threads();
    Session.Device dev = device.device();
    Rendezvous rv = gpus.check(dev);
    var matmulPrecision = precision.on(dev);
    var recomputePolicy = recompute.requested();
    TrainRun run;
    if (resume != null) {
      Map<String, Object> given = new LinkedHashMap<>();
      ParseResult pr = spec.commandLine().getParseResult();
      if (pr != null) pr.matchedOptions().forEach(option -> given.put(option.longestName(), option.getValue()));
      run = TrainRun.resume(resume, given, out, force, rv, err);
    } else {
      var start = TrainRun.start(model, matched("--model"), new ShapeOverrides(layers, heads, channels, kvHeads, ffn), init, err);
      int warm = warmup;
      if (warmup > steps && steps > 0 && !matched("--warmup")) {
        // a short run with the default warmup: clamp it (a --warmup the user typed past --steps is still an error)
        warm = steps;
        err.printf("train: note: the default warmup %d is longer than --steps %d: warming up over all %d steps%n", warmup, steps, warm);
      }
      Path dataDir = data != null ? data.toAbsolutePath() : DefaultCorpus.defaultDir();
      var opts = new TrainOptions(start.name(), dataDir, batch * rv.worldSize(), seq, steps, lr, warm, minLrFrac, weightDecay, gradClip,
          valEvery, valBatches, checkpointEvery, keep, seed, sampleTokens);
      run = TrainRun.fresh(start, opts, out, force, rv);
    }
    return run.run(dev, threads, matmulPrecision, recomputePolicy, gpus.zero == 1, spec.commandLine().getOut(), err);
  }

  private boolean matched(String option) {
    ParseResult pr = spec.commandLine().getParseResult();
    return pr != null && pr.hasMatchedOption(option);
  }
}
