// Entry point of ./kiln: the picocli command tree, and how errors reach the user (one line, exit 1).
package kiln.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.NoSuchFileException;
import kiln.runtime.format.FormatException;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;
import picocli.CommandLine.UnmatchedArgumentException;

@Command(
    name = "kiln",
    mixinStandardHelpOptions = true,
    version = {"kiln " + Main.VERSION, "Java ${java.version} (${java.vendor})"},
    description = "Compiles GPT-2's kernels from a Java DSL and trains it, on CUDA or the CPU.",
    footer = {"", "Set KILN_DEBUG=1 for stack traces; KILN_JAVA_OPTS overrides the JVM options (default -Xmx16g)."},
    // Every subcommand, in the order `kiln --help` lists them: register a new one here.
    subcommands = {
        TrainCommand.class,
        SampleCommand.class,
        ExportCommand.class,
        VerifyCommand.class,
        BenchCommand.class,
        EmitCommand.class,
        TuneCommand.class,
        PrepareCommand.class,
        InfoCommand.class,
        PlotCommand.class,
        CommandLine.HelpCommand.class,
    })
public final class Main implements Runnable {
  public static final String VERSION = "0.1.0-SNAPSHOT";
  /** Exit status of a user error (bad input, missing file); picocli uses 2 for bad options. */
  public static final int EXIT_USER_ERROR = 1;

  @Spec
  CommandSpec spec;

  public static void main(String[] args) {
    LauncherStderr.restore();
    System.exit(commandLine().execute(args));
  }

  /** The configured command tree; tests call {@code execute} on it with their own out/err. */
  public static CommandLine commandLine() {
    boolean debug = "1".equals(System.getenv("KILN_DEBUG"));
    CommandLine cmd = new CommandLine(new Main());
    cmd.setParameterExceptionHandler(Main::badUsage);
    cmd.setExecutionExceptionHandler((ex, sub, parsed) -> failed(ex, sub.getErr(), debug));
    return cmd;
  }

  @Override
  public void run() {
    throw new ParameterException(spec.commandLine(), "a command is required");
  }

  /** Bad options or arguments: the message, picocli's suggestions for a typo, then the usage. */
  private static int badUsage(ParameterException ex, String[] args) {
    CommandLine cmd = ex.getCommandLine();
    PrintWriter err = cmd.getErr();
    err.println("kiln: " + ex.getMessage());
    UnmatchedArgumentException.printSuggestions(ex, err);
    err.println();
    cmd.usage(err);
    err.flush();
    return cmd.getCommandSpec().exitCodeOnInvalidInput();
  }

  /** An exception out of a command: one line for user-facing ones, else (or under KILN_DEBUG) the trace. */
  static int failed(Exception ex, PrintWriter err, boolean debug) {
    String message = userMessage(ex);
    if (message == null || debug) {
      ex.printStackTrace(err);
    } else {
      err.println("kiln: " + String.join(" ", message.strip().lines().map(String::strip).toList()));
    }
    err.flush();
    return EXIT_USER_ERROR;
  }

  /** What to tell the user about {@code ex}, or null when it is a bug that deserves a stack trace. */
  static String userMessage(Throwable ex) {
    if (ex instanceof UncheckedIOException u && u.getCause() != null) {
      // kiln's own wrappers say which file ("<path>: cannot write: ..."); a bare wrap's message is just the cause's toString
      return u.getMessage() != null && !u.getMessage().equals(u.getCause().toString()) ? u.getMessage() : userMessage(u.getCause());
    }
    String message = ex.getMessage() != null ? ex.getMessage() : ex.getClass().getSimpleName();
    return switch (ex) {
      case UserError e -> message;
      case FormatException e -> message;
      case IllegalArgumentException e -> message;
      case kiln.runtime.multi.DataParallel.RankFailure e -> message;
      case kiln.runtime.train.TrainRun.Stopped e -> message;
      case NoSuchFileException e -> "no such file: " + message;
      case AccessDeniedException e -> "permission denied: " + message;
      case IOException e -> e.getClass().getSimpleName() + ": " + message;
      default -> null;
    };
  }
}
