// `kiln prepare`: UTF-8 text files (or the bundled Dickens + Shakespeare) to GPT-2 token shards in llm.c's format.
package kiln.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import kiln.runtime.data.Corpus;
import kiln.runtime.data.DefaultCorpus;
import kiln.runtime.train.Progress;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "prepare", mixinStandardHelpOptions = true, sortOptions = false,
    description = {
        "Tokenize text with GPT-2's BPE into llm.c token shards.",
        "Writes DIR/val_000000.bin (the first --val-fraction of the tokens) and DIR/train_000000.bin, ..."
            + " (the rest). Each file is one document, preceded by <|endoftext|>; text in a file that looks"
            + " like a special token is encoded as ordinary text."},
    footer = {"", "Examples:", "  ./kiln prepare --out data/default                 # the bundled Dickens + Shakespeare corpus",
        "  ./kiln prepare --text a.txt b.txt --out data/mine --val-fraction 0.05"})
final class PrepareCommand implements Callable<Integer> {
  @Option(names = "--text", arity = "1..*", paramLabel = "FILE",
      description = "UTF-8 text files, one document each (default: dickens.txt + shakes.txt from the crunch-test jar).")
  List<Path> texts = new ArrayList<>();

  @Option(names = "--out", required = true, paramLabel = "DIR", description = "Directory for the shards.")
  Path out;

  @Option(names = "--val-fraction", defaultValue = "0.1", paramLabel = "F",
      description = "Fraction of the tokens, from the start, kept for validation (default: ${DEFAULT-VALUE}).")
  double valFraction;

  @Option(names = "--shard-tokens", defaultValue = "" + Corpus.SHARD_TOKENS, paramLabel = "N",
      description = "Tokens per shard file at most (default: ${DEFAULT-VALUE}, as llm.c).")
  int shardTokens;

  @Option(names = "--force", description = "Write into a non-empty DIR, replacing its shards.")
  boolean force;

  @Spec
  CommandSpec spec;

  @Override
  public Integer call() throws IOException {
    if (!(valFraction >= 0 && valFraction < 1)) {
      throw new UserError("--val-fraction must be in [0, 1), got " + valFraction);
    }
    if (shardTokens < 2) {
      throw new UserError("--shard-tokens must be at least 2 (a token and the next one, its target), got " + shardTokens);
    }
    checkOut();
    List<Corpus.Document> docs = texts.isEmpty() ? DefaultCorpus.documents() : read(texts);
    long chars = docs.stream().mapToLong(d -> d.text().length()).sum();
    Corpus.Summary s;
    try (Progress bar = Progress.of("tokenize", chars, "KB", 1000, spec.commandLine().getErr())) {
      s = Corpus.prepare(docs, out, valFraction, shardTokens, bar::stepBy);
    }
    PrintWriter o = spec.commandLine().getOut();
    o.printf(Locale.ROOT, "prepared %d document%s (%,d chars) into %s in %.2f s%n", s.documents(),
        s.documents() == 1 ? "" : "s", s.chars(), out, s.seconds());
    o.printf(Locale.ROOT, "  train %,12d tokens  %s%n", s.trainTokens(), shards(s.trainShards()));
    o.printf(Locale.ROOT, "  val   %,12d tokens  %s%n", s.valTokens(), shards(s.valShards()));
    o.flush();
    return 0;
  }

  private void checkOut() throws IOException {
    if (Files.exists(out) && !Files.isDirectory(out)) {
      throw new UserError("--out " + out + " is a file, not a directory");
    }
    if (Files.isDirectory(out) && !force) {
      try (Stream<Path> files = Files.list(out)) {
        if (files.findAny().isPresent()) {
          throw new UserError("--out " + out + " is not empty; pass --force to replace its shards");
        }
      }
    }
  }

  private static List<Corpus.Document> read(List<Path> files) throws IOException {
    List<Corpus.Document> docs = new ArrayList<>();
    for (Path f : files) {
      if (!Files.isRegularFile(f)) {
        throw new UserError("--text " + f + ": " + (Files.exists(f) ? "not a regular file" : "no such file"));
      }
      Corpus.Document doc = Corpus.Document.read(f);
      if (doc.text().isEmpty()) {
        throw new UserError("--text " + f + ": the file is empty; expected UTF-8 text to tokenize");
      }
      docs.add(doc);
    }
    return docs;
  }

  private static String shards(List<Path> shards) {
    if (shards.isEmpty()) {
      return "(none)";
    }
    String first = shards.getFirst().getFileName().toString();
    return shards.size() == 1 ? first : shards.size() + " shards: " + first + " .. " + shards.getLast().getFileName();
  }
}
