// Tests prepare's shards: readable, EOT before each document, decodable back to the text, split, chunking.
package kiln.runtime.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.knuddels.jtokkit.api.IntArrayList;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.IntStream;
import kiln.runtime.format.TokenShard;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CorpusTest {
  static final String ALICE = "Alice was beginning to get very tired of sitting by her sister on the bank.\n\n"
      + "“So she was considering in her own mind” — naïve café, 日本語, emoji 🙂.\n";
  static final String BOB = "Bob's text mentions <|endoftext|> literally,\r\nand ends without a newline";

  @TempDir
  Path tmp;

  private List<Corpus.Document> twoFiles() throws IOException {
    Path a = Files.writeString(tmp.resolve("a.txt"), ALICE);
    Path b = Files.writeString(tmp.resolve("b.txt"), BOB);
    return List.of(Corpus.Document.read(a), Corpus.Document.read(b));
  }

  private static int[] concat(int[] first, int[] second) {
    int[] all = Arrays.copyOf(first, first.length + second.length);
    System.arraycopy(second, 0, all, first.length, second.length);
    return all;
  }

  private static String decode(int[] tokens, int from, int to) {
    IntArrayList ids = new IntArrayList();
    for (int i = from; i < to; i++) {
      ids.add(tokens[i]);
    }
    return Corpus.gpt2().decode(ids);
  }

  @Test
  void shardsDecodeBackToTheDocumentsWithEotBeforeEach() throws IOException {
    Path out = tmp.resolve("out");
    AtomicLong progress = new AtomicLong();
    Corpus.Summary s = Corpus.prepare(twoFiles(), out, 0.25, Corpus.SHARD_TOKENS, progress::addAndGet);

    assertEquals(List.of(out.resolve("train_000000.bin")), s.trainShards());
    assertEquals(List.of(out.resolve("val_000000.bin")), s.valShards());
    assertEquals(ALICE.length() + BOB.length(), progress.get());
    int[] val = TokenShard.read(out.resolve("val_000000.bin"), Corpus.VOCAB);
    int[] train = TokenShard.read(out.resolve("train_000000.bin"), Corpus.VOCAB);
    assertEquals(s.valTokens(), val.length);
    assertEquals(s.trainTokens(), train.length);
    assertEquals(Math.round((val.length + train.length) * 0.25), val.length);

    int[] all = concat(val, train);
    int[] eots = IntStream.range(0, all.length).filter(i -> all[i] == Corpus.EOT).toArray();
    assertEquals(2, eots.length, "one <|endoftext|> per document, none from the literal text in b.txt");
    assertEquals(0, eots[0]);
    assertEquals(ALICE, decode(all, 1, eots[1]));
    assertEquals(BOB, decode(all, eots[1] + 1, all.length));
  }

  @Test
  void literalSpecialTokenTextIsOrdinaryText() {
    int[] tokens = Corpus.tokenize(List.of(new Corpus.Document("x", "<|endoftext|>")), n -> {});
    assertEquals(Corpus.EOT, tokens[0]);
    assertTrue(tokens.length > 2);
    assertFalse(Arrays.stream(tokens).skip(1).anyMatch(t -> t == Corpus.EOT));
  }

  @Test
  void chunkedEncodingEqualsWholeEncoding() throws IOException {
    for (Corpus.Document doc : DefaultCorpus.documents()) {
      List<String> chunks = Corpus.chunks(doc.text(), 2000);
      assertTrue(chunks.size() > 40, doc.name() + " should split into many chunks, got " + chunks.size());
      assertEquals(doc.text(), String.join("", chunks));
      List<Integer> pieces = new ArrayList<>();
      for (String chunk : chunks) {
        pieces.addAll(Corpus.gpt2().encodeOrdinary(chunk).boxed());
      }
      assertEquals(Corpus.gpt2().encodeOrdinary(doc.text()).boxed(), pieces, doc.name());
    }
  }

  @Test
  void parallelChunkedTokenizeEqualsWholeDocumentEncoding() throws IOException {
    List<Corpus.Document> docs = DefaultCorpus.documents();
    List<Integer> expected = new ArrayList<>();
    for (Corpus.Document doc : docs) {
      expected.add(Corpus.EOT);
      expected.addAll(Corpus.gpt2().encodeOrdinary(doc.text()).boxed());
    }
    assertTrue(Corpus.chunks(docs.getFirst().text(), Corpus.CHUNK_CHARS).size() > 10);
    assertEquals(expected, Arrays.stream(Corpus.tokenize(docs, n -> {})).boxed().toList());
  }

  @Test
  void chunksCutOnlyAfterALoneNewlineBeforeALetterOrBeforeALoneSpaceBetweenLetters() {
    assertEquals(List.of("ab.\n", "Cd\n\n Ef"), Corpus.chunks("ab.\nCd\n\n Ef", 1));
    assertEquals(List.of("no newline", " at", " all"), Corpus.chunks("no newline at all", 3));
    assertEquals(List.of("a1  2b. c"), Corpus.chunks("a1  2b. c", 1));
  }

  @Test
  void multipleShardsAndStaleShardsRemoved() throws IOException {
    Path out = tmp.resolve("out");
    Corpus.Summary small = Corpus.prepare(twoFiles(), out, 0.5, 7, n -> {});
    assertTrue(small.trainShards().size() > 2);
    assertEquals(out.resolve("train_000001.bin"), small.trainShards().get(1));
    int total = 0;
    for (Path p : small.trainShards()) {
      int[] t = TokenShard.read(p, Corpus.VOCAB);
      assertTrue(t.length <= 7);
      total += t.length;
    }
    assertEquals(small.trainTokens(), total);

    Corpus.Summary big = Corpus.prepare(twoFiles(), out, 0.5, Corpus.SHARD_TOKENS, n -> {});
    assertEquals(big.trainShards(), DataLoader.Split.TRAIN.shards(out));
    assertEquals(big.valShards(), DataLoader.Split.VAL.shards(out));
  }

  @Test
  void byteOrderMarkIsDroppedAndInvalidUtf8Named() throws IOException {
    Path bom = Files.writeString(tmp.resolve("bom.txt"), "\uFEFFHi");
    assertEquals("Hi", Corpus.Document.read(bom).text());
    Path bad = Files.write(tmp.resolve("bad.txt"), new byte[] {'o', 'k', (byte) 0xC3, '(' });
    var e = assertThrows(IllegalArgumentException.class, () -> Corpus.Document.read(bad));
    assertEquals(bad + ": not valid UTF-8", e.getMessage());
  }

  @Test
  void misuseMessages() throws IOException {
    List<Corpus.Document> docs = twoFiles();
    Path out = tmp.resolve("out");
    assertEquals("val fraction must be in [0, 1), got 1.0", assertThrows(IllegalArgumentException.class,
        () -> Corpus.prepare(docs, out, 1.0, 100, n -> {})).getMessage());
    assertEquals("--shard-tokens must be at least 2 (a token and the next one, its target), got 1", assertThrows(IllegalArgumentException.class,
        () -> Corpus.prepare(docs, out, 0.1, 1, n -> {})).getMessage());
    assertEquals("no documents to tokenize", assertThrows(IllegalArgumentException.class,
        () -> Corpus.tokenize(List.of(), n -> {})).getMessage());
    assertEquals("--val-fraction 0.5 of 1 tokens leaves no training tokens; give more text or a smaller --val-fraction",
        assertThrows(IllegalArgumentException.class, () -> Corpus.prepare(List.of(new Corpus.Document("empty", "")), out, 0.5, 100,
            n -> {})).getMessage());
    assertFalse(Files.exists(out));
  }

  @Test
  void zeroValFractionWritesNoValShard() throws IOException {
    Corpus.Summary s = Corpus.prepare(List.of(new Corpus.Document("d", "one two three")), tmp, 0, 100, n -> {});
    assertEquals(0, s.valTokens());
    assertEquals(List.of(), s.valShards());
    assertArrayEquals(Corpus.tokenize(List.of(new Corpus.Document("d", "one two three")), n -> {}),
        TokenShard.read(tmp.resolve("train_000000.bin"), Corpus.VOCAB));
  }
}
