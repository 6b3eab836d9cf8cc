// The corpus `train` uses when given none: dickens.txt + shakes.txt from the crunch-test jar, prepared once.
package kiln.runtime.data;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;
import kiln.runtime.format.AtomicFiles;

public final class DefaultCorpus {
  /** Classpath resources, in document order (val is the first 10% of tokens: the start of Dickens). */
  public static final List<String> RESOURCES = List.of("/dickens.txt", "/shakes.txt");
  public static final double VAL_FRACTION = 0.1;

  private DefaultCorpus() {}

  /**
   * ~/.cache/kiln/data/default-v2: where {@code train} with no data argument prepares and reads
   * (v2: Dickens unwrapped; a directory prepared by an older kiln is left alone).
   */
  public static Path defaultDir() {
    return Path.of(System.getProperty("user.home"), ".cache", "kiln", "data", "default-v2");
  }

  /**
   * The two texts, without dickens.txt's byte-order mark, with shakes.txt's CRLF made LF, and with
   * Dickens's paragraphs unwrapped (see {@link #unwrap}); Shakespeare's verse keeps its lines.
   */
  public static List<Corpus.Document> documents() throws IOException {
    List<Corpus.Document> docs = new ArrayList<>();
    for (String name : RESOURCES) {
      try (InputStream in = DefaultCorpus.class.getResourceAsStream(name)) {
        if (in == null) {
          throw new IllegalStateException(name + " is not on the classpath (it comes from org.apache.crunch:crunch-test)");
        }
        String text = Corpus.stripBom(new String(in.readAllBytes(), StandardCharsets.UTF_8)).replace("\r\n", "\n");
        docs.add(new Corpus.Document(name.substring(1), name.equals("/dickens.txt") ? unwrap(text) : text));
      }
    }
    return docs;
  }

  /**
   * Joins the lines of each paragraph (text between blank lines) with spaces. Project Gutenberg
   * wraps prose at about 70 columns; kept, those breaks are about 6% of the corpus tokens, and a
   * small model trained on them samples mostly newlines.
   */
  public static String unwrap(String text) {
    StringBuilder out = new StringBuilder(text.length());
    for (String paragraph : text.split("\n[ \t]*\n")) {
      StringBuilder p = new StringBuilder();
      for (String line : paragraph.split("\n")) {
        String l = line.strip();
        if (l.isEmpty()) continue;
        if (!p.isEmpty()) p.append(' ');
        p.append(l);
      }
      if (p.isEmpty()) continue;
      if (!out.isEmpty()) out.append("\n\n");
      out.append(p);
    }
    return out.append('\n').toString();
  }

  /** Whether {@code dir} holds at least one train and one val shard. */
  public static boolean isPrepared(Path dir) throws IOException {
    return !DataLoader.Split.TRAIN.shards(dir).isEmpty() && !DataLoader.Split.VAL.shards(dir).isEmpty();
  }

  /**
   * Prepares the default corpus into {@code dir} unless it already holds train and val shards.
   * Writes into a sibling temporary directory and renames it into place, so an interrupted or
   * concurrent run never leaves a half-written {@code dir}. Returns what was written, or empty when
   * {@code dir} was already prepared.
   */
  public static Optional<Corpus.Summary> ensurePrepared(Path dir) throws IOException {
    dir = dir.toAbsolutePath();
    if (isPrepared(dir)) {
      return Optional.empty();
    }
    if (Files.isDirectory(dir)) {
      try (Stream<Path> files = Files.list(dir)) {
        if (files.findAny().isPresent()) {
          throw new IllegalArgumentException(dir + " holds files but no train and val shards; empty it or choose another directory");
        }
      }
      Files.delete(dir);
    } else if (Files.exists(dir)) {
      throw new IllegalArgumentException(dir + " is a file, not a directory");
    }
    Files.createDirectories(dir.getParent());
    Path tmp = Files.createTempDirectory(dir.getParent(), dir.getFileName() + ".tmp-");
    try {
      Corpus.Summary written = Corpus.prepare(documents(), tmp, VAL_FRACTION, Corpus.SHARD_TOKENS, n -> {});
      try {
        Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
      } catch (FileSystemException e) {
        if (isPrepared(dir)) {
          return Optional.empty(); // another process prepared it first
        }
        throw e;
      }
      return Optional.of(relocate(written, tmp, dir));
    } finally {
      AtomicFiles.deleteTree(tmp);
    }
  }

  private static Corpus.Summary relocate(Corpus.Summary s, Path from, Path to) {
    return new Corpus.Summary(s.documents(), s.chars(), s.trainTokens(), s.valTokens(),
        s.trainShards().stream().map(p -> to.resolve(from.relativize(p))).toList(),
        s.valShards().stream().map(p -> to.resolve(from.relativize(p))).toList(), s.seconds());
  }
}
