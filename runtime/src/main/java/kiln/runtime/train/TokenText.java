// GPT-2 text <-> tokens for prompts and samples: "<|endoftext|>" in a prompt is the EOT token; output decodes as it streams.
package kiln.runtime.train;

import com.knuddels.jtokkit.api.Encoding;
import com.knuddels.jtokkit.api.IntArrayList;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import kiln.runtime.data.Corpus;

public final class TokenText {
  public static final String EOT_TEXT = "<|endoftext|>";

  private TokenText() {}

  /** The prompt's tokens: ordinary BPE, with each literal "<|endoftext|>" as token {@link Corpus#EOT}. */
  public static int[] encode(String prompt) {
    Encoding bpe = Corpus.gpt2();
    IntArrayList ids = new IntArrayList();
    String[] pieces = prompt.split(java.util.regex.Pattern.quote(EOT_TEXT), -1);
    for (int i = 0; i < pieces.length; i++) {
      if (i > 0) {
        ids.add(Corpus.EOT);
      }
      IntArrayList part = bpe.encodeOrdinary(pieces[i]);
      for (int j = 0; j < part.size(); j++) {
        ids.add(part.get(j));
      }
    }
    return ids.toArray();
  }

  /**
   * Decodes tokens one at a time into text. A GPT-2 token can end inside a multi-byte UTF-8
   * character; those bytes wait for the next token instead of printing as garbage.
   */
  public static final class Stream {
    private final Encoding bpe = Corpus.gpt2();
    private final IntArrayList one = new IntArrayList(1);
    private final CharsetDecoder utf8 = StandardCharsets.UTF_8.newDecoder()
        .onMalformedInput(CodingErrorAction.REPLACE).onUnmappableCharacter(CodingErrorAction.REPLACE);
    private ByteBuffer pending = ByteBuffer.allocate(64);
    private final CharBuffer chars = CharBuffer.allocate(256);

    /** The text that {@code token} completes (possibly empty). */
    public String push(int token) {
      one.clear();
      one.add(token);
      byte[] bytes = bpe.decodeBytes(one);
      if (pending.remaining() < bytes.length) {
        ByteBuffer bigger = ByteBuffer.allocate(2 * (pending.position() + bytes.length));
        pending.flip();
        bigger.put(pending);
        pending = bigger;
      }
      pending.put(bytes);
      return drain(false);
    }

    /** Whatever is left, incomplete characters as U+FFFD. */
    public String finish() {
      String s = drain(true);
      chars.clear();
      utf8.flush(chars);
      return s + chars.flip();
    }

    private String drain(boolean end) {
      StringBuilder out = new StringBuilder();
      pending.flip();
      while (true) {
        chars.clear();
        boolean overflow = utf8.decode(pending, chars, end).isOverflow();
        out.append(chars.flip());
        if (!overflow) {
          break;
        }
      }
      pending.compact();
      return out.toString();
    }
  }
}
