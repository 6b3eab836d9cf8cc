// Text documents to GPT-2 tokens (<|endoftext|> before each document) and on to llm.c train/val shards.
package kiln.runtime.data;

import com.knuddels.jtokkit.Encodings;
import com.knuddels.jtokkit.api.Encoding;
import com.knuddels.jtokkit.api.EncodingType;
import com.knuddels.jtokkit.api.IntArrayList;
import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.LongConsumer;
import java.util.stream.Stream;
import kiln.runtime.format.TokenShard;

public final class Corpus {
  /** GPT-2's <|endoftext|>, written before every document (llm.c's tinyshakespeare.py does the same). */
  public static final int EOT = 50256;
  public static final int VOCAB = 50257;
  /** Tokens per shard file; llm.c's fineweb.py uses 10^8. */
  public static final int SHARD_TOKENS = 100_000_000;
  /** Characters per tokenizer work unit: the granularity of progress and of parallelism. */
  static final int CHUNK_CHARS = 1 << 16;

  private static final Encoding GPT2 = Encodings.newLazyEncodingRegistry().getEncoding(EncodingType.R50K_BASE);

  private Corpus() {}

  /** One document: a file's whole text. */
  public record Document(String name, String text) {
    /** Reads a file as strict UTF-8, dropping a leading byte-order mark (an encoding artefact, not text). */
    public static Document read(Path file) throws IOException {
      String text;
      try {
        text = Files.readString(file);
      } catch (CharacterCodingException e) {
        throw new IllegalArgumentException(file + ": not valid UTF-8");
      }
      return new Document(file.toString(), stripBom(text));
    }
  }

  /** What {@link #prepare} wrote. */
  public record Summary(int documents, long chars, long trainTokens, long valTokens,
                        List<Path> trainShards, List<Path> valShards, double seconds) {}

  /** GPT-2's byte-pair encoding (r50k_base), for decoding tokens back to text. */
  public static Encoding gpt2() {
    return GPT2;
  }

  static String stripBom(String text) {
    return text.startsWith("\uFEFF") ? text.substring(1) : text;
  }

  /**
   * EOT, document 0's tokens, EOT, document 1's tokens, ... Special-looking text such as a literal
   * "<|endoftext|>" inside a document is encoded as ordinary text. {@code charsDone} receives the
   * number of characters of each finished chunk, possibly from several threads at once.
   */
  public static int[] tokenize(List<Document> docs, LongConsumer charsDone) {
    if (docs.isEmpty()) {
      throw new IllegalArgumentException("no documents to tokenize");
    }
    List<List<String>> chunked = docs.stream().map(d -> chunks(d.text(), CHUNK_CHARS)).toList();
    List<IntArrayList> encoded = chunked.stream().flatMap(List::stream).parallel()
        .map(chunk -> {
          IntArrayList ids = GPT2.encodeOrdinary(chunk);
          charsDone.accept(chunk.length());
          return ids;
        })
        .toList();
    long total = docs.size() + encoded.stream().mapToLong(IntArrayList::size).sum();
    if (total > Integer.MAX_VALUE - 8) {
      throw new IllegalArgumentException("corpus of " + total + " tokens is too large for one pass; split it");
    }
    int[] tokens = new int[(int) total];
    int at = 0;
    int next = 0;
    for (List<String> doc : chunked) {
      tokens[at++] = EOT;
      for (int c = 0; c < doc.size(); c++) {
        IntArrayList ids = encoded.get(next++);
        for (int i = 0; i < ids.size(); i++) {
          tokens[at++] = ids.get(i);
        }
      }
    }
    return tokens;
  }

  /**
   * Splits text into pieces of about {@code target} characters, only where GPT-2's pre-tokenizer
   * splits anyway, so that encoding the pieces one by one gives the same tokens as encoding the whole.
   * The cut goes after a lone "\n" that follows a non-space and precedes an ASCII letter, or before
   * a lone ' ' between two ASCII letters: no pattern of r50k's regex spans either (a letter run may
   * take one leading ' ', never a '\n', and ends at a space). The second serves text without lone
   * newlines (the default corpus's unwrapped paragraphs).
   */
  static List<String> chunks(String text, int target) {
    List<String> out = new ArrayList<>();
    int start = 0;
    while (text.length() - start > target) {
      int cut = -1;
      for (int i = Math.max(start + target, start + 2); i < text.length(); i++) {
        if (text.charAt(i - 1) == '\n' && !Character.isWhitespace(text.charAt(i - 2)) && isAsciiLetter(text.charAt(i))) {
          cut = i;
          break;
        }
        if (text.charAt(i) == ' ' && isAsciiLetter(text.charAt(i - 1)) && i + 1 < text.length() && isAsciiLetter(text.charAt(i + 1))) {
          cut = i;
          break;
        }
      }
      if (cut < 0) {
        break;
      }
      out.add(text.substring(start, cut));
      start = cut;
    }
    out.add(text.substring(start));
    return out;
  }

  private static boolean isAsciiLetter(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  }

  /**
   * Tokenizes {@code docs} and writes {@code out/val_000000.bin, ...} (the first {@code valFraction}
   * of the token stream, as llm.c's tinyshakespeare.py splits) and {@code out/train_000000.bin, ...}
   * (the rest), each shard at most {@code shardTokens} tokens, each written atomically. Older shards
   * in {@code out} that this run did not rewrite are deleted, so a loader never mixes two runs.
   */
  public static Summary prepare(List<Document> docs, Path out, double valFraction, int shardTokens,
                                LongConsumer charsDone) throws IOException {
    if (!(valFraction >= 0 && valFraction < 1)) {
      throw new IllegalArgumentException("val fraction must be in [0, 1), got " + valFraction);
    }
    if (shardTokens < 2) {
      throw new IllegalArgumentException("--shard-tokens must be at least 2 (a token and the next one, its target), got " + shardTokens);
    }
    long t0 = System.nanoTime();
    int[] tokens = tokenize(docs, charsDone);
    int nVal = (int) Math.round(tokens.length * valFraction);
    if (valFraction > 0 && nVal == 0) {
      nVal = 1;
    }
    if (nVal >= tokens.length) {
      throw new IllegalArgumentException("--val-fraction " + valFraction + " of " + tokens.length
          + " tokens leaves no training tokens; give more text or a smaller --val-fraction");
    }
    Files.createDirectories(out);
    List<Path> val = writeShards(out, "val", tokens, 0, nVal, shardTokens);
    List<Path> train = writeShards(out, "train", tokens, nVal, tokens.length, shardTokens);
    removeStaleShards(out, Stream.concat(val.stream(), train.stream()).toList());
    long chars = docs.stream().mapToLong(d -> d.text().length()).sum();
    return new Summary(docs.size(), chars, tokens.length - nVal, nVal, train, val, (System.nanoTime() - t0) / 1e9);
  }

  private static List<Path> writeShards(Path out, String split, int[] tokens, int from, int to, int shardTokens) {
    List<Path> written = new ArrayList<>();
    for (int start = from, i = 0; start < to; start += shardTokens, i++) {
      Path shard = out.resolve(String.format("%s_%06d.bin", split, i));
      TokenShard.write(shard, Arrays.copyOfRange(tokens, start, (int) Math.min((long) start + shardTokens, to)));
      written.add(shard);
    }
    return written;
  }

  private static void removeStaleShards(Path out, List<Path> keep) throws IOException {
    for (DataLoader.Split split : DataLoader.Split.values()) {
      for (Path old : split.shards(out)) {
        if (!keep.contains(old)) {
          Files.deleteIfExists(old);
        }
      }
    }
  }
}
