// The one exception llm.c file readers throw: "<file>: <field>: expected <what>, found <what>".
package kiln.runtime.format;

import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

public final class FormatException extends RuntimeException {
  public FormatException(Path file, String field, String expected, String found) {
    super(message(file, field, expected, found));
  }

  /** The message format shared with the writers' IllegalArgumentExceptions. */
  static String message(Path file, String field, String expected, Object found) {
    return file + ": " + field + ": expected " + expected + ", found " + found;
  }

  /** A writer's complaint about its arguments, in the same format. */
  static IllegalArgumentException misuse(Path file, String field, String expected, Object found) {
    return new IllegalArgumentException(message(file, field, expected, found));
  }

  static String tokenRange(int vocab) {
    return "a token id in 0.." + (vocab - 1);
  }

  /** A short reason without the stack trace or a repeat of the path. */
  public static String describe(IOException e) {
    if (e instanceof NoSuchFileException) {
      return "no such file";
    }
    if (e instanceof AccessDeniedException) {
      return "access denied";
    }
    if (e instanceof FileSystemException fse && fse.getReason() != null) {
      return fse.getReason();
    }
    return e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
  }
}
