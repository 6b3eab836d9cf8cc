// One `kiln train` run resolved from its options: what it starts from (a registry shape with its overrides, an init
// file, or a checkpoint to resume), where it writes (node 0's --out, node-R below it), its data; then the trainer,
// the log, the loss plot, the outcome and the closing sample. A refusal is one line naming the option
// (IllegalArgumentException, which the CLI prints as "kiln: <message>").
package kiln.runtime.train;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Stream;
import kiln.codegen.CudaSchedule;
import kiln.runtime.Learner;
import kiln.runtime.Models;
import kiln.runtime.Session;
import kiln.runtime.data.Corpus;
import kiln.runtime.data.DataLoader;
import kiln.runtime.data.DefaultCorpus;
import kiln.runtime.multi.DataParallel;
import kiln.runtime.multi.Rendezvous;

/**
 * A resolved run: its shape and options, what it starts from ({@code from}, a checkpoint to resume; else
 * {@code initParams}, or a seeded random init when null), the directory it writes, and for a resumed run
 * written elsewhere the original's log to copy up to the checkpoint.
 */
public record TrainRun(Models.Shape shape, TrainOptions opts, Checkpoint.Loaded from, float[] initParams, Path runDir, Path copyLogFrom,
                       Rendezvous rv, boolean force) {
  /** What a run writes besides its checkpoints: --force removes these (and every ckpt_<step>/) from a reused --out. */
  static final List<String> RUN_FILES = List.of("log.csv", "loss.png");
  /** Options a resumed run may change (besides --resume and --force); every other one comes from the checkpoint's train.txt. */
  static final List<String> RESUMABLE = List.of("--steps", "--device", "--precision", "--recompute", "--threads", "--val-every",
      "--val-batches", "--checkpoint-every", "--keep", "--sample-tokens", "--gpus", "--zero", "--nodes", "--node-rank", "--rendezvous",
      "--out");

  /** What a fresh run trains: a shape, its parameters (null: a seeded random init) and the name its log and train.txt give. */
  public record Start(Models.Shape shape, float[] params, String name) {}

  /**
   * What a fresh run starts from: init's shape and parameters (a model file), or else the registry model with
   * the overrides applied. {@code modelGiven}: --model was typed (with --init it is ignored, and a note says so).
   */
  public static Start start(String model, boolean modelGiven, ShapeOverrides overrides, Path init, PrintWriter err) {
    if (init != null) {
      ModelFiles.Loaded loaded = ModelFiles.read(init);
      if (modelGiven || overrides.any()) {
        err.println("train: note: --init " + init + " sets the model's shape; --model/--layers/--heads/--channels/--kv-heads/--ffn"
            + " are ignored");
      }
      return new Start(loaded.shape(), loaded.params(), "init:" + init.toAbsolutePath());
    }
    Models.Shape shape = overrides.apply(Models.get(model), model);
    return new Start(shape, null, overrides.any() ? model + " (" + overrides.describe() + ")" : model);
  }

  /** A fresh run into {@code out}, or runs/<timestamp>; refused when that is a file, or a non-empty directory without force. */
  public static TrainRun fresh(Start start, TrainOptions opts, Path out, boolean force, Rendezvous rv) throws IOException {
    Path dir = out != null ? out : Path.of("runs", LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")));
    Path runDir = nodeDir(dir, rv);
    checkOut(runDir, force, rv);
    return new TrainRun(start.shape(), opts, null, start.params(), runDir, null, rv, force);
  }

  /**
   * A run continued from a checkpoint directory (or a run directory's latest checkpoint). {@code given}: the options
   * typed, by name, with their values; those a resumed run cannot change are refused, the rest replace train.txt's.
   * It writes into its own run directory, or into {@code out} (then starting with a copy of the original's log).
   */
  public static TrainRun resume(Path checkpoint, Map<String, Object> given, Path out, boolean force, Rendezvous rv, PrintWriter err)
      throws IOException {
    Checkpoint.Loaded from = Checkpoint.read(Checkpoint.resolve(checkpoint));
    TrainOptions saved = from.options();
    Map<String, String> changed = new HashMap<>();
    for (var option : given.entrySet()) {
      if (!RESUMABLE.contains(option.getKey()) && !List.of("--resume", "--force").contains(option.getKey())) {
        // a shape option given with --resume would silently not apply
        throw new IllegalArgumentException(option.getKey() + " cannot change when resuming: the run's options come from "
            + from.dir().resolve("train.txt") + "; only " + String.join(", ", RESUMABLE.subList(0, RESUMABLE.size() - 1)) + " and --out may");
      }
      String key = option.getKey().substring(2);
      if (saved.toMap().containsKey(key)) changed.put(key, String.valueOf(option.getValue()));
    }
    TrainOptions opts = saved.with(changed, "--resume " + from.dir());
    if (opts.steps() != saved.steps()) {
      err.printf("train: note: --steps %d instead of %d stretches the cosine schedule: from here on the run differs from the"
          + " original%n", opts.steps(), saved.steps());
    }
    if (opts.warmup() != saved.warmup()) {
      err.printf("train: note: warmup %d is longer than --steps %d: warming up over all %d steps%n", saved.warmup(), opts.steps(),
          opts.warmup());
    }
    if (opts.steps() <= from.position().step()) {
      throw new IllegalArgumentException("--resume " + from.dir() + ": already at step " + from.position().step() + " of " + opts.steps()
          + "; pass a larger --steps to train on");
    }
    Path own = from.dir().toAbsolutePath().getParent();
    Path runDir = out != null ? out : own;
    Path copyLogFrom = null;
    if (!runDir.toAbsolutePath().normalize().equals(own.normalize())) {
      checkOut(runDir, force, rv);
      copyLogFrom = own.resolve("log.csv");
    }
    if (rv.nodeRank() > 0) {
      runDir = nodeDir(runDir, rv);
      copyLogFrom = null;
    }
    return new TrainRun(from.shape(), opts, from, null, runDir, copyLogFrom, rv, force);
  }

  /** Node 0 writes the checkpoints into --out; another node keeps its log and plot in OUT/node-R, so a --out all nodes share stays node 0's. */
  private static Path nodeDir(Path runDir, Rendezvous rv) {
    return rv.nodeRank() == 0 ? runDir : runDir.resolve("node-" + rv.nodeRank());
  }

  /**
   * Refuses a file, or a non-empty directory without force. On node 0 of several, the other nodes' node-R
   * directories of the same run do not count: those nodes may start first and make them (a shared --out).
   */
  static void checkOut(Path dir, boolean force, Rendezvous rv) throws IOException {
    if (Files.exists(dir) && !Files.isDirectory(dir)) {
      throw new IllegalArgumentException("--out " + dir + " is a file, not a directory");
    }
    if (Files.isDirectory(dir) && !force) {
      java.util.Set<String> peers = new java.util.HashSet<>();
      if (rv.nodeRank() == 0) for (int r = 1; r < rv.nodes(); r++) peers.add("node-" + r);
      try (Stream<Path> files = Files.list(dir)) {
        if (files.anyMatch(f -> !(peers.contains(f.getFileName().toString()) && Files.isDirectory(f)))) {
          throw new IllegalArgumentException("--out " + dir + " is not empty; pass --force to write into it");
        }
      }
    }
  }

  /**
   * Opens the data and the learner (a recompute policy of null: the device's default; one the model cannot take is refused
   * before the run directory is touched), prepares the run directory, trains with a progress bar (Ctrl-C: a checkpoint,
   * then exit 128 + signal), plots the loss, reports and samples. Returns the exit status; a run the guardrails stopped
   * throws {@link Stopped}.
   */
  public int run(Session.Device dev, int threads, CudaSchedule.Precision precision, kiln.codegen.Recompute recompute, boolean zero,
                 PrintWriter o, PrintWriter err) throws IOException {
    if (opts.seq() > shape.maxT()) {
      throw new IllegalArgumentException("--seq " + opts.seq() + ": at most the model's maxT, " + shape.maxT());
    }
    DataLoader trainData = openData(DataLoader.Split.TRAIN, o);
    DataLoader valData = DataLoader.Split.VAL.shards(opts.data()).isEmpty() ? null : openData(DataLoader.Split.VAL, o);
    Trainer.Outcome done;
    sun.misc.Signal signal;
    Path logFile = runDir.resolve("log.csv");
    float[] finalParams;
    try (Trainer trainer = new Trainer(shape, opts, learner(dev, threads, precision, recompute, zero), trainData, valData)) {
      if (force && rv.nodeRank() == 0 && (from == null || copyLogFrom != null)) {
        // into a reused --out (never the resumed run's own directory), once every check has passed
        List<String> removed = Checkpoint.clearRun(runDir, RUN_FILES);
        if (!removed.isEmpty()) {
          o.printf("train: --force: removed the previous run's %s from %s%n", String.join(", ", removed), runDir);
        }
      }
      Files.createDirectories(runDir);
      if (copyLogFrom != null && Files.exists(copyLogFrom)) {
        // the original's rows; TrainLog.resume below keeps those up to the checkpoint
        Files.copy(copyLogFrom, logFile, StandardCopyOption.REPLACE_EXISTING);
      }
      o.printf(Locale.ROOT, "train: %s: %s, %,d parameters; %s%n", opts.model(), shape.describe(), shape.paramCount(),
          dev == Session.Device.CPU ? "cpu, " + threads + " threads" : "cuda");
      var policy = trainer.session instanceof DataParallel dp ? dp.onRank(0, s -> s.recompute) : ((Session) trainer.session).recompute;
      o.printf(Locale.ROOT, "train: --precision %s, --recompute %s%n", precision.name().toLowerCase(Locale.ROOT), policy.flag());
      o.printf(Locale.ROOT, "train: data %s: %,d train tokens%s%n", opts.data(), trainData.tokens(),
          valData == null ? " (no val split: no validation)" : String.format(Locale.ROOT, ", %,d val tokens", valData.tokens()));
      o.printf(Locale.ROOT, "train: %s%n", opts.summary());
      describeParallel(zero, o);
      o.printf("train: writing %s%s%n", runDir, from == null ? "" : " (resuming " + from.dir() + " at step " + from.position().step() + ")");
      o.flush();
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
    return report(done, signal, logFile, finalParams, dev, threads, o, err);
  }

  /** One session, or replicas over the rendezvous's GPUs (ZeRO-1 when zero; DataParallel.checkOptions passed) sharing the global batch. */
  private Learner learner(Session.Device dev, int threads, CudaSchedule.Precision precision, kiln.codegen.Recompute recompute, boolean zero) {
    int gpus = rv.worldSize();
    if (gpus == 1) return shape.open(opts.batch(), opts.seq(), dev, threads, precision, 0, Session.Zero.NONE, recompute);
    if (opts.batch() % gpus != 0) {
      throw new IllegalArgumentException("--gpus " + gpus + ": the global batch of " + opts.batch() + " sequences must split evenly over the GPUs");
    }
    return DataParallel.open(shape, opts.batch() / gpus, opts.seq(), precision, recompute, rv, zero);
  }

  /** The data-parallel line, for a run over more than one GPU. */
  private void describeParallel(boolean zero, PrintWriter o) {
    int world = rv.worldSize();
    if (world == 1) return;
    o.printf(Locale.ROOT, "train: data parallel on %d GPUs (NCCL)%s: B=%d per GPU, %d sequences per step%s%n", world,
        rv.nodes() > 1 ? String.format(Locale.ROOT, ", %d processes of %d (this is node %d, global ranks %d..%d)", rv.nodes(), rv.gpus(),
            rv.nodeRank(), rv.globalRank(0), rv.globalRank(rv.gpus() - 1)) : "",
        opts.batch() / world, opts.batch(), zero ? "; ZeRO-1: AdamW state sharded over the GPUs" : "");
  }

  /** The plot, then how the run ended, then the sample: the exit status. */
  private int report(Trainer.Outcome done, sun.misc.Signal signal, Path logFile, float[] finalParams, Session.Device dev, int threads,
                     PrintWriter o, PrintWriter err) throws IOException {
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
      throw new Stopped("training stopped at step " + done.steps() + ": " + done.stopped()
          + "; lower --lr or --grad-clip, or resume from an earlier checkpoint; log: " + logFile);
    }
    List<TrainLog.Row> tail = rows.subList(Math.max(0, rows.size() - 10), rows.size());
    o.printf(Locale.ROOT, "train: done: step %d/%d, %.1f s training, %,.0f tok/s; loss %.4f -> %.4f (mean of the last %d steps)%s%n",
        done.steps(), opts.steps(), done.seconds(), done.tokPerS(), rows.getFirst().loss(),
        tail.stream().mapToDouble(TrainLog.Row::loss).average().orElse(Double.NaN), tail.size(),
        Double.isNaN(done.lastValLoss()) ? "" : String.format(Locale.ROOT, ", val %.4f", done.lastValLoss()));
    if (finalParams != null) {
      sample(finalParams, dev, threads, o, err);
    }
    String plot = png != null ? png.toString() : "(no loss.png)";
    if (rv.nodeRank() > 0) {
      o.printf("train: node %d wrote %s and %s; node 0 writes the checkpoints%n", rv.nodeRank(), logFile, plot);
      o.flush();
      return 0;
    }
    Path last = Checkpoint.dir(runDir, done.steps());
    o.printf("train: wrote %s, %s and %s/ (model.bin, state.bin, train.txt)%n", logFile, plot, last);
    o.printf("train: try  ./kiln sample --checkpoint %s --prompt \"It was\" --tokens 100%n", last);
    o.flush();
    return 0;
  }

  /** A run the guardrails stopped (NaN/Inf losses or gradient spikes in a row): one line for the user. */
  public static final class Stopped extends RuntimeException {
    Stopped(String message) {
      super(message);
    }
  }

  /** A split of --data; the bundled corpus is prepared on first use. */
  private DataLoader openData(DataLoader.Split split, PrintWriter o) throws IOException {
    if (opts.data().equals(DefaultCorpus.defaultDir())) {
      if (!DefaultCorpus.isPrepared(opts.data())) {
        o.printf("train: preparing the default corpus (dickens.txt + shakes.txt) into %s, once%n", opts.data());
        o.flush();
      }
      DefaultCorpus.ensurePrepared(opts.data()).ifPresent(s ->
          o.printf(Locale.ROOT, "train: prepared %,d train + %,d val tokens in %.1f s%n", s.trainTokens(), s.valTokens(), s.seconds()));
    } else if (!Files.isDirectory(opts.data())) {
      throw new IllegalArgumentException("--data " + opts.data() + ": no such directory");
    }
    return DataLoader.open(opts.data(), split, opts.batch(), opts.seq());
  }

  /** The end-of-training sample: sampleTokens after <|endoftext|>, top-k 40, temperature 1, the run's seed. */
  private void sample(float[] params, Session.Device device, int threads, PrintWriter o, PrintWriter err) {
    int[] prompt = {Corpus.EOT};
    o.printf("train: sample (%d tokens after <|endoftext|>, top-k 40, temperature 1.0, seed %d):%n", opts.sampleTokens(), opts.seed());
    o.println("----");
    o.flush();
    String done;
    try (Sampler s = Sampler.open(shape, params, prompt.length + opts.sampleTokens(), false, device, threads)) {
      done = s.stream(prompt, opts.sampleTokens(), 1.0, 40, opts.seed(), o);
    }
    o.println("----");
    o.flush();
    err.println("train: sampled " + done);
    err.flush();
  }
}
