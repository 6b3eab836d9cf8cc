// `kiln train`: trains a GPT-2 or a Llama on CUDA or the CPU (default: corpus, gpt2-tiny, a few minutes), with log, plot, checkpoints, sample.
package kiln.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import kiln.runtime.Models;
import kiln.runtime.Session;
import kiln.runtime.data.DataLoader;
import kiln.runtime.data.DefaultCorpus;
import kiln.runtime.multi.Rendezvous;
import kiln.runtime.train.Checkpoint;
import kiln.runtime.train.LossPlot;
import kiln.runtime.train.ModelFiles;
import kiln.runtime.train.Progress;
import kiln.runtime.train.Sampler;
import kiln.runtime.train.TokenText;
import kiln.runtime.train.TrainLog;
import kiln.runtime.train.TrainOptions;
import kiln.runtime.train.Trainer;
import picocli.CommandLine.Command;
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
            + " model file for GPT-2, kiln's Llama file for Llama; state.bin: AdamW's m, v and t; train.txt: options, data"
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
  /** What a run writes besides its checkpoints: --force removes these (and every ckpt_<step>/) from a reused --out. */
  static final List<String> RUN_FILES = List.of("log.csv", "loss.png");
  /** Options a resumed run may change; every other one comes from the checkpoint's train.txt. */
  static final List<String> RESUMABLE = List.of("--steps", "--device", "--precision", "--threads", "--val-every", "--val-batches", "--checkpoint-every",
      "--keep", "--sample-tokens", "--out", "--force", "--resume", "--gpus", "--zero", "--nodes", "--node-rank", "--rendezvous");

  @Option(names = "--model", defaultValue = "gpt2-tiny", paramLabel = "NAME",
      description = "Shape to train from scratch: one of ${COMPLETION-CANDIDATES} (default: ${DEFAULT-VALUE}).",
      completionCandidates = BenchCommand.Models.class)
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

  @Option(names = "--device", defaultValue = "auto", paramLabel = "DEV",
      description = "cpu, cuda, or auto: CUDA when a device is present (default: ${DEFAULT-VALUE}).")
  String device;

  @Option(names = "--precision", defaultValue = "fp32", paramLabel = "P", description = PrecisionOption.DESCRIPTION)
  String precision;

  @Option(names = "--gpus", defaultValue = "1", paramLabel = "N", description = MultiGpu.DESCRIPTION)
  int gpus;

  @Option(names = "--zero", defaultValue = "0", paramLabel = "0|1", description = MultiGpu.ZERO)
  int zero;

  @Option(names = "--nodes", defaultValue = "1", paramLabel = "M", description = MultiGpu.NODES)
  int nodes;

  @Option(names = "--node-rank", defaultValue = "0", paramLabel = "R", description = MultiGpu.NODE_RANK)
  int nodeRank;

  @Option(names = "--rendezvous", paramLabel = "file:DIR|tcp:HOST:PORT", description = MultiGpu.RENDEZVOUS)
  String rendezvous;

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
          + " from its train.txt; only --steps, --device, --precision, --threads, --val-every, --val-batches, --checkpoint-every, --keep,"
          + " --sample-tokens, --gpus, --zero, --nodes, --node-rank, --rendezvous and --out may change. With the same --steps"
          + " (and device) the losses equal an uninterrupted"
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

  @Option(names = "--threads", paramLabel = "N", description = "CPU threads on the CPU device (default: cores).")
  Integer threads;

  @Option(names = "--sample-tokens", defaultValue = "64", paramLabel = "N",
      description = "Tokens to sample from <|endoftext|> at the end; 0: none (default: ${DEFAULT-VALUE}).")
  int sampleTokens;

  @Spec
  CommandSpec spec;

  @Override
  public Integer call() throws IOException {
    PrintWriter o = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    int nThreads = ThreadsOption.resolve(threads);
    Session.Device dev = Session.Device.parse(device);
    MultiGpu.checkZeroPrecision(zero, precision);
    Rendezvous rv = MultiGpu.check(gpus, zero, nodes, nodeRank, rendezvous, dev);
    var matmulPrecision = PrecisionOption.parse(precision, dev);
    Checkpoint.Loaded from = null;
    Path copyLogFrom = null;
    Models.Shape shape;
    float[] initParams = null;
    TrainOptions opts;
    Path runDir;
    if (resume != null) {
      from = Checkpoint.read(Checkpoint.resolve(resume));
      refuseFixedOptions(from.dir());
      opts = resumedOptions(from.options());
      shape = from.shape();
      if (opts.steps() != from.options().steps()) {
        err.printf("train: note: --steps %d instead of %d stretches the cosine schedule: from here on the run differs from the"
            + " original%n", opts.steps(), from.options().steps());
      }
      if (opts.warmup() != from.options().warmup()) {
        err.printf("train: note: warmup %d is longer than --steps %d: warming up over all %d steps%n", from.options().warmup(),
            opts.steps(), opts.warmup());
      }
      if (opts.steps() <= from.position().step()) {
        throw new UserError("--resume " + from.dir() + ": already at step " + from.position().step() + " of " + opts.steps()
            + "; pass a larger --steps to train on");
      }
      Path own = from.dir().toAbsolutePath().getParent();
      runDir = out != null ? out : own;
      if (!runDir.toAbsolutePath().normalize().equals(own.normalize())) {
        checkOut(runDir);
        copyLogFrom = own.resolve("log.csv");
      }
    } else {
      String name = model;
      if (init != null) {
        ModelFiles.Loaded loaded = ModelFiles.read(init);
        shape = loaded.shape();
        initParams = loaded.params();
        name = "init:" + init.toAbsolutePath();
        if (matched("--model") || overridden()) {
          err.println("train: note: --init " + init + " sets the model's shape; --model/--layers/--heads/--channels/--kv-heads/--ffn"
              + " are ignored");
        }
      } else {
        shape = shape(Models.get(model));
        if (overridden()) {
          name = model + " (" + overrides() + ")";
        }
      }
      Path dataDir = data != null ? data.toAbsolutePath() : DefaultCorpus.defaultDir();
      int warm = warmup;
      if (warmup > steps && steps > 0 && !matched("--warmup")) {
        // a short run with the default warmup: clamp it (a --warmup the user typed past --steps is still an error)
        warm = steps;
        err.printf("train: note: the default warmup %d is longer than --steps %d: warming up over all %d steps%n", warmup, steps, warm);
      }
      opts = new TrainOptions(name, dataDir, batch * rv.worldSize(), seq, steps, lr, warm, minLrFrac, weightDecay, gradClip, valEvery,
          valBatches, checkpointEvery, keep, seed, sampleTokens);
      runDir = out != null ? out : Path.of("runs", LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")));
      runDir = nodeDir(runDir, rv);
      checkOut(runDir);
    }
    if (from != null && rv.nodeRank() > 0) {
      runDir = nodeDir(runDir, rv);
      copyLogFrom = null;
    }
    if (opts.seq() > shape.maxT()) {
      throw new UserError("--seq " + opts.seq() + ": at most the model's maxT, " + shape.maxT());
    }
    DataLoader trainData = openData(opts, DataLoader.Split.TRAIN, o);
    DataLoader valData = DataLoader.Split.VAL.shards(opts.data()).isEmpty() ? null : openData(opts, DataLoader.Split.VAL, o);
    if (force && rv.nodeRank() == 0 && (from == null || copyLogFrom != null)) {
      // into a reused --out (never the resumed run's own directory), once every check has passed
      List<String> removed = Checkpoint.clearRun(runDir, RUN_FILES);
      if (!removed.isEmpty()) {
        o.printf("train: --force: removed the previous run's %s from %s%n", String.join(", ", removed), runDir);
      }
    }
    Files.createDirectories(runDir);
    if (copyLogFrom != null) {
      copyLog(copyLogFrom, runDir, from.position().step());
    }

    o.printf(Locale.ROOT, "train: %s: %s, %,d parameters; %s%n", opts.model(), ModelFiles.describe(shape), shape.paramCount(),
        dev == Session.Device.CPU ? "cpu, " + nThreads + " threads" : "cuda");
    o.printf(Locale.ROOT, "train: data %s: %,d train tokens%s%n", opts.data(), trainData.tokens(),
        valData == null ? " (no val split: no validation)" : String.format(Locale.ROOT, ", %,d val tokens", valData.tokens()));
    o.printf(Locale.ROOT, "train: %s%n", opts.summary());
    MultiGpu.describe(rv, zero == 1, opts.batch(), o);
    o.printf("train: writing %s%s%n", runDir, from == null ? "" : " (resuming " + from.dir() + " at step " + from.position().step() + ")");
    o.flush();

    Trainer.Outcome done;
    sun.misc.Signal signal = null;
    Path logFile = runDir.resolve("log.csv");
    float[] finalParams;
    try (Trainer trainer = new Trainer(shape, opts, dev, nThreads, matmulPrecision, rv, zero == 1, trainData, valData)) {
      if (from != null) {
        trainer.restore(from);
      } else if (initParams != null) {
        trainer.init(initParams);
      } else {
        trainer.randomInit(opts.seed());
      }
      try (TrainLog log = from == null || rv.nodeRank() > 0 ? TrainLog.create(logFile) : TrainLog.resume(logFile, from.position().step() + 1);
           Progress bar = Progress.steps(trainer.step(), opts.steps(), err);
           SignalStop signals = new SignalStop(trainer, err)) {
        done = trainer.run(runDir, log, bar, o);
        signal = signals.caught();
      }
      finalParams = done.stopped() == null && !done.interrupted() && opts.sampleTokens() > 0 && rv.nodeRank() == 0 ? trainer.params() : null;
    }
    List<TrainLog.Row> rows = TrainLog.read(logFile);
    Path png = runDir.resolve("loss.png");
    if (rows.stream().anyMatch(r -> Double.isFinite(r.loss()))) {
      try {
        LossPlot.writeRows(png, rows);
      } catch (IOException | RuntimeException | LinkageError e) {
        // drawing can still fail (a JRE without AWT's native libraries): the run still counts
        err.println("kiln: loss plot not written (" + e + "); " + logFile + " has every value");
        png = null;
      }
    }
    if (done.interrupted()) {
      o.printf("train: interrupted (SIG%s) at step %d/%d: %s%n", signal != null ? signal.getName() : "?", done.steps(), opts.steps(),
          done.savedAt() == null ? "no step ran since the start, nothing to save"
              : "wrote " + done.savedAt() + "; continue with  ./kiln train --resume " + done.savedAt());
      o.flush();
      return signal != null ? 128 + signal.getNumber() : 130;
    }
    if (done.stopped() != null) {
      throw new UserError("training stopped at step " + done.steps() + ": " + done.stopped()
          + "; lower --lr or --grad-clip, or resume from an earlier checkpoint; log: " + logFile);
    }
    List<TrainLog.Row> tail = rows.subList(Math.max(0, rows.size() - 10), rows.size());
    o.printf(Locale.ROOT, "train: done: step %d/%d, %.1f s training, %,.0f tok/s; loss %.4f -> %.4f (mean of the last %d steps)%s%n",
        done.steps(), opts.steps(), done.seconds(), done.tokPerS(), rows.getFirst().loss(),
        tail.stream().mapToDouble(TrainLog.Row::loss).average().orElse(Double.NaN), tail.size(),
        Double.isNaN(done.lastValLoss()) ? "" : String.format(Locale.ROOT, ", val %.4f", done.lastValLoss()));
    if (finalParams != null) {
      sample(shape, finalParams, opts, dev, nThreads, o, err);
    }
    if (rv.nodeRank() > 0) {
      o.printf("train: node %d wrote %s and %s; node 0 writes the checkpoints%n", rv.nodeRank(), logFile, png != null ? png : "(no loss.png)");
      o.flush();
      return 0;
    }
    Path last = Checkpoint.dir(runDir, done.steps());
    o.printf("train: wrote %s, %s and %s/ (model.bin, state.bin, train.txt)%n", logFile, png != null ? png : "(no loss.png)", last);
    o.printf("train: try  ./kiln sample --checkpoint %s --prompt \"It was\" --tokens 100%n", last);
    o.flush();
    return 0;
  }

  /** Node 0 writes the checkpoints into --out; another node keeps its log and plot in OUT/node-R, so a --out all nodes share stays node 0's. */
  private static Path nodeDir(Path runDir, Rendezvous rv) {
    return rv.nodeRank() == 0 ? runDir : runDir.resolve("node-" + rv.nodeRank());
  }

  private boolean matched(String option) {
    ParseResult pr = spec.commandLine().getParseResult();
    return pr != null && pr.hasMatchedOption(option);
  }

  /** A shape option given with --resume would silently not apply: refuse it. */
  private void refuseFixedOptions(Path ckpt) {
    ParseResult pr = spec.commandLine().getParseResult();
    if (pr == null) {
      return;
    }
    for (var option : pr.matchedOptions()) {
      if (!RESUMABLE.contains(option.longestName())) {
        throw new UserError(option.longestName() + " cannot change when resuming: the run's options come from "
            + ckpt.resolve("train.txt") + "; only --steps, --device, --precision, --threads, --val-every, --val-batches, --checkpoint-every,"
            + " --keep, --sample-tokens, --gpus, --zero, --nodes, --node-rank, --rendezvous and --out may");
      }
    }
  }

  private TrainOptions resumedOptions(TrainOptions saved) {
    TrainOptions s = saved;
    int total = matched("--steps") ? steps : s.steps();
    // a shorter --steps than the warmup: warm up over all of them (a note says so)
    return new TrainOptions(s.model(), s.data(), s.batch(), s.seq(), total, s.lr(), total > 0 ? Math.min(s.warmup(), total) : s.warmup(),
        s.minLrFrac(), s.weightDecay(), s.gradClip(), matched("--val-every") ? valEvery : s.valEvery(),
        matched("--val-batches") ? valBatches : s.valBatches(), matched("--checkpoint-every") ? checkpointEvery : s.checkpointEvery(),
        matched("--keep") ? keep : s.keep(), s.seed(), matched("--sample-tokens") ? sampleTokens : s.sampleTokens());
  }

  private boolean overridden() {
    return layers != null || heads != null || channels != null || kvHeads != null || ffn != null;
  }

  /** The shape options given, as typed: {@code --layers 1 --channels 32}. */
  private String overrides() {
    StringBuilder sb = new StringBuilder();
    String[] names = {"--layers", "--heads", "--channels", "--kv-heads", "--ffn"};
    Integer[] values = {layers, heads, channels, kvHeads, ffn};
    for (int i = 0; i < names.length; i++) {
      if (values[i] != null) {
        sb.append(sb.isEmpty() ? "" : " ").append(names[i]).append(' ').append(values[i]);
      }
    }
    return sb.toString();
  }

  /**
   * The registry shape with the shape options applied, each to the config component of its name
   * (--layers: layers, --heads: heads, --channels: channels, --kv-heads: kvHeads, --ffn: ffn); the
   * family's own check then names the option whose value breaks a constraint.
   */
  private Models.Shape shape(Models.Shape preset) {
    String[] flags = {"--layers", "--heads", "--channels", "--kv-heads", "--ffn"};
    String[] components = {"layers", "heads", "channels", "kvHeads", "ffn"};
    String[] labels = {"L", "NH", "C", "NKV", "FF"};
    Integer[] values = {layers, heads, channels, kvHeads, ffn};
    Map<String, Integer> overrides = new java.util.LinkedHashMap<>();
    for (int i = 0; i < flags.length; i++) {
      if (values[i] == null) continue;
      if (!preset.family().hasComponent(components[i])) {
        throw new UserError(flags[i] + " does not apply to --model " + model + ": a " + preset.family().name() + " config has no " + components[i]);
      }
      overrides.put(components[i], values[i]);
    }
    if (overrides.isEmpty()) return preset;
    Models.Shape shape = preset.with(overrides);
    kiln.models.ModelFamily.Violation v = shape.check();
    if (v != null) {
      String flag = "--model " + model;
      for (int i = 0; i < labels.length; i++) if (labels[i].equals(v.field())) flag = flags[i];
      throw new UserError(flag + " " + v.found() + ": expected " + v.expected() + " (" + shape.describe() + ")");
    }
    return shape;
  }

  private void checkOut(Path dir) throws IOException {
    if (Files.exists(dir) && !Files.isDirectory(dir)) {
      throw new UserError("--out " + dir + " is a file, not a directory");
    }
    if (Files.isDirectory(dir) && !force) {
      try (Stream<Path> files = Files.list(dir)) {
        if (files.findAny().isPresent()) {
          throw new UserError("--out " + dir + " is not empty; pass --force to write into it");
        }
      }
    }
  }

  /** A resumed run written elsewhere starts its log with the original's rows up to the checkpoint. */
  private static void copyLog(Path original, Path runDir, int step) throws IOException {
    if (!Files.exists(original)) {
      return;
    }
    Files.createDirectories(runDir);
    try (TrainLog copy = TrainLog.create(runDir.resolve("log.csv"))) {
      for (TrainLog.Row r : TrainLog.read(original)) {
        if (r.step() <= step) {
          copy.write(r);
        }
      }
    }
  }

  private static DataLoader openData(TrainOptions opts, DataLoader.Split split, PrintWriter o) throws IOException {
    if (opts.data().equals(DefaultCorpus.defaultDir())) {
      if (!DefaultCorpus.isPrepared(opts.data())) {
        o.printf("train: preparing the default corpus (dickens.txt + shakes.txt) into %s, once%n", opts.data());
        o.flush();
      }
      DefaultCorpus.ensurePrepared(opts.data()).ifPresent(s ->
          o.printf(Locale.ROOT, "train: prepared %,d train + %,d val tokens in %.1f s%n", s.trainTokens(), s.valTokens(), s.seconds()));
    } else if (!Files.isDirectory(opts.data())) {
      throw new UserError("--data " + opts.data() + ": no such directory");
    }
    return DataLoader.open(opts.data(), split, opts.batch(), opts.seq());
  }

  private static void sample(Models.Shape shape, float[] params, TrainOptions opts, Session.Device device, int threads, PrintWriter o,
                             PrintWriter err) {
    int[] prompt = {kiln.runtime.data.Corpus.EOT};
    o.printf("train: sample (%d tokens after <|endoftext|>, top-k 40, temperature 1.0, seed %d):%n", opts.sampleTokens(), opts.seed());
    o.println("----");
    o.flush();
    TokenText.Stream text = new TokenText.Stream();
    long t0;
    String how;
    try (Sampler s = Sampler.open(shape, params, prompt.length + opts.sampleTokens(), false, device, threads)) {
      how = s.describe();
      t0 = System.nanoTime();
      s.generate(prompt, opts.sampleTokens(), 1.0, 40, opts.seed(), t -> {
        o.print(text.push(t));
        o.flush();
      });
    }
    double secs = (System.nanoTime() - t0) / 1e9;
    o.println(text.finish());
    o.println("----");
    o.flush();
    err.printf(Locale.ROOT, "train: sampled %d tokens in %.2f s (%.1f tok/s), %s%n", opts.sampleTokens(), secs,
        opts.sampleTokens() / secs, how);
    err.flush();
  }
}
