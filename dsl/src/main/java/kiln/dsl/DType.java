// Element types a tensor or expression can have. BF16 is a storage type only: a tensor may be
// stored in bf16 (Tensor.storage, chosen by codegen's precision pass), but its loads are F32 values
// and no expression has type BF16.
package kiln.dsl;

public enum DType { F32, I32, BOOL, BF16 }
