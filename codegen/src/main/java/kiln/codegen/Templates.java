// The FreeMarker configuration over templates/ on the classpath (cuda/*.ftl, java/*.ftl): one for every backend's kernel templates.
package kiln.codegen;

import freemarker.cache.ClassTemplateLoader;
import freemarker.template.Configuration;
import freemarker.template.TemplateException;
import java.io.IOException;
import java.io.StringWriter;
import java.util.Map;

final class Templates {
  private static final Configuration FREEMARKER = new Configuration(Configuration.VERSION_2_3_34);
  static {
    FREEMARKER.setTemplateLoader(new ClassTemplateLoader(Templates.class, "/templates"));
    FREEMARKER.setDefaultEncoding("UTF-8");
    FREEMARKER.setNumberFormat("computer");
  }

  private Templates() {}

  /** The template at path (under templates/) filled from model. */
  static String process(String path, Map<String, ?> model) {
    try {
      StringWriter w = new StringWriter();
      FREEMARKER.getTemplate(path).process(model, w);
      return w.toString();
    } catch (IOException | TemplateException e) {
      throw new IllegalStateException("template " + path + ": " + e.getMessage(), e);
    }
  }
}
