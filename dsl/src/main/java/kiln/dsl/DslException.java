// An error in a model definition, raised when the layer is defined; names the layer, tensor and dims.
package kiln.dsl;

public final class DslException extends RuntimeException {
  public DslException(String message) { super(message); }
}
