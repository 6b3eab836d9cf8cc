// Every failure of the CUDA layer (NVRTC compile errors, driver errors, out-of-memory), with a
// message that names what was being done and what the device or the compiler said.
package kiln.runtime.cuda;

public class CudaException extends RuntimeException {
  public CudaException(String message) { super(message); }

  public CudaException(String message, Throwable cause) { super(message, cause); }
}
