// Element types a tensor or expression can have.
package kiln.dsl;

public enum DType { F32, I32, BOOL }
