// The font loss.png is drawn with: the bundled DejaVu Sans, made the JDK's font for every logical
// name, so the plot renders the same on a headless server with no system fonts at all.
package kiln.runtime.train;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Properties;

/**
 * On Linux the JDK builds its logical fonts (SansSerif, Dialog, ...) from fontconfig; with no
 * fontconfig fonts (a bare GPU server) the first text drawn throws "Fontconfig head is null" and
 * no plot is written. The JDK reads a font configuration file instead when the system property
 * {@code sun.awt.fontconfig} names one ({@code sun.awt.FontConfiguration.findFontConfigFile}), so
 * {@link #install} writes one that maps every logical font to the bundled TTF.
 */
final class PlotFont {
  static final String RESOURCE = "/kiln/fonts/DejaVuSans-Latin1.ttf";
  /** The TTF's family name (its name table), which the configuration's font names must match. */
  static final String FAMILY = "DejaVu Sans";
  static final String PROPERTY = "sun.awt.fontconfig";

  private static final String[] LOGICAL = {"serif", "sansserif", "monospaced", "dialog", "dialoginput"};
  private static final String[] STYLES = {"plain", "bold", "italic", "bolditalic"};

  private PlotFont() {}

  /**
   * Extracts the font and its configuration into a temporary directory (removed at exit) and points
   * {@code sun.awt.fontconfig} at it. Must run before AWT's font manager starts; leaves a value the
   * user set alone, and other platforms (whose JDKs do not need fontconfig) untouched. If the files
   * cannot be written, says so on stderr and leaves the JDK's own font lookup in place.
   */
  static void install() {
    if (System.getProperty(PROPERTY) != null || !System.getProperty("os.name", "").startsWith("Linux")) {
      return;
    }
    try {
      System.setProperty(PROPERTY, writeConfiguration().toString());
    } catch (IOException e) {
      System.err.println("kiln: could not set up the plot font (" + e.getMessage() + "); loss.png needs system fonts");
    }
  }

  private static Path writeConfiguration() throws IOException {
    Path dir = Files.createTempDirectory("kiln-font-");
    dir.toFile().deleteOnExit();
    Path ttf = dir.resolve("DejaVuSans.ttf");
    Path config = dir.resolve("fontconfig.properties");
    ttf.toFile().deleteOnExit();
    config.toFile().deleteOnExit();
    try (InputStream in = PlotFont.class.getResourceAsStream(RESOURCE)) {
      if (in == null) {
        throw new IOException("resource " + RESOURCE + " missing from the class path");
      }
      Files.copy(in, ttf);
    }
    // The JDK's fontconfig.properties format (version 1): each logical font and style names a
    // platform font for the latin-1 slot, and filename.<name, spaces as _> says where it lives.
    Properties p = new Properties();
    p.setProperty("version", "1");
    p.setProperty("sequence.allfonts", "latin-1");
    for (String logical : LOGICAL) {
      for (String style : STYLES) {
        p.setProperty(logical + "." + style + ".latin-1", FAMILY);
      }
    }
    p.setProperty("filename." + FAMILY.replace(' ', '_'), ttf.toAbsolutePath().toString());
    try (OutputStream out = Files.newOutputStream(config)) {
      p.store(out, "kiln: every logical font is the bundled " + FAMILY);
    }
    return config;
  }
}
