// Runs one generated row kernel (KFILE, function KERNEL) under emu.h on the arena in state.bin and writes the
// float arena back to out.bin. state.bin: int64 nargs, grid, blockDim.x, blockDim.y, nF, nI, sums, extent; int64 args[nargs];
// float F[nF]; int I[nI]. With sums > 0 (compiled with -DCOLSUMS: a row kernel with column sums) the kernel writes its blocks'
// partials to a workspace of grid x sums x extent floats and KERNEL_sum adds them into the outputs.
#include "emu.h"
#include KFILE
#define ARGS_OF(k) Args_##k
#define ARGS(k) ARGS_OF(k)
#define SUM_OF2(k) k##_sum
#define SUM_OF(k) SUM_OF2(k)
int main() {
  FILE* in = fopen("state.bin", "rb");
  long long head[8];
  if (!in || fread(head, 8, 8, in) != 8) { fprintf(stderr, "no state.bin\n"); return 2; }
  ARGS(KERNEL) a;
  if ((size_t) head[0] != sizeof(a.v) / 8) { fprintf(stderr, "expected %zu args, found %lld\n", sizeof(a.v) / 8, head[0]); return 2; }
  std::vector<float> F(head[4] + 1);
  std::vector<int> I(head[5] + 1);
  if (fread(a.v, 8, head[0], in) != (size_t) head[0] || fread(F.data(), 4, head[4], in) != (size_t) head[4]
      || fread(I.data(), 4, head[5], in) != (size_t) head[5]) { fprintf(stderr, "short state.bin\n"); return 2; }
  fclose(in);
#ifdef COLSUMS
  std::vector<float> W(head[1] * head[6] * head[7], NAN);
  launch(KERNEL, F.data(), I.data(), a, (unsigned) head[1], (unsigned) head[2], (unsigned) head[3], 1u, W.data());
  launch(SUM_OF(KERNEL), F.data(), I.data(), a, (unsigned) ((head[7] + 31) / 32), 32u, 32u, (unsigned) head[6], (const float*) W.data(), (int) head[1]);
#else
  launch(KERNEL, F.data(), I.data(), a, (unsigned) head[1], (unsigned) head[2], (unsigned) head[3], 1u);
#endif
  FILE* out = fopen("out.bin", "wb");
  fwrite(F.data(), 4, head[4], out);
  fclose(out);
  printf("OK\n");
  return 0;
}
