// Tests DefaultCorpus: the bundled texts load, and ensurePrepared writes once, then reuses.
package kiln.runtime.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DefaultCorpusTest {
  @TempDir
  Path tmp;

  @Test
  void documentsAreDickensThenShakespeareWithoutBomOrCr() throws IOException {
    List<Corpus.Document> docs = DefaultCorpus.documents();
    assertEquals(List.of("dickens.txt", "shakes.txt"), docs.stream().map(Corpus.Document::name).toList());
    assertTrue(docs.get(0).text().startsWith("The Old Curiosity Shop"));
    assertTrue(docs.get(1).text().startsWith("The Tragedie of Macbeth"));
    assertFalse(docs.get(1).text().contains("\r"));
  }

  @Test
  void dickensIsUnwrappedIntoParagraphs() throws IOException {
    String dickens = DefaultCorpus.documents().get(0).text();
    assertTrue(dickens.contains("Night is generally my time for walking. In the summer I often leave home early"), "lines joined");
    assertTrue(dickens.contains("as much as any creature living.\n\nI have fallen insensibly"), "paragraphs kept");
    assertEquals("one two\n\nthree\n", DefaultCorpus.unwrap("one\n  two \n\n\n three\n"));
  }

  @Test
  void ensurePreparedWritesOnceAndLeavesNoTemporaryDirectory() throws IOException {
    Path dir = tmp.resolve("cache").resolve("default");
    Corpus.Summary s = DefaultCorpus.ensurePrepared(dir).orElseThrow();
    assertEquals(List.of(dir.resolve("train_000000.bin")), s.trainShards());
    assertEquals(List.of(dir.resolve("val_000000.bin")), s.valShards());
    assertTrue(s.trainTokens() > 250_000, "tokens: " + s.trainTokens());
    try (Stream<Path> siblings = Files.list(dir.getParent())) {
      assertEquals(List.of(dir), siblings.toList());
    }
    assertTrue(DefaultCorpus.ensurePrepared(dir).isEmpty());
    DataLoader loader = DataLoader.open(dir, DataLoader.Split.VAL, 4, 64);
    assertEquals(s.valTokens(), loader.tokens());
  }

  @Test
  void refusesADirectoryHoldingOtherFiles() throws IOException {
    Path dir = Files.createDirectories(tmp.resolve("busy"));
    Files.writeString(dir.resolve("notes.txt"), "mine");
    assertEquals(dir + " holds files but no train and val shards; empty it or choose another directory",
        assertThrows(IllegalArgumentException.class, () -> DefaultCorpus.ensurePrepared(dir)).getMessage());
  }
}
