// Runs one generated row kernel (KFILE, function KERNEL) under emu.h on the arena in state.bin and writes the
// float arena back to out.bin. state.bin: int64 nargs, grid, blockDim.x, blockDim.y, nF, nI; int64 args[nargs]; float F[nF];
// int I[nI].
#include "emu.h"
#include KFILE
#define ARGS_OF(k) Args_##k
#define ARGS(k) ARGS_OF(k)
int main() {
  FILE* in = fopen("state.bin", "rb");
  long long head[6];
  if (!in || fread(head, 8, 6, in) != 6) { fprintf(stderr, "no state.bin\n"); return 2; }
  ARGS(KERNEL) a;
  if ((size_t) head[0] != sizeof(a.v) / 8) { fprintf(stderr, "expected %zu args, found %lld\n", sizeof(a.v) / 8, head[0]); return 2; }
  std::vector<float> F(head[4] + 1);
  std::vector<int> I(head[5] + 1);
  if (fread(a.v, 8, head[0], in) != (size_t) head[0] || fread(F.data(), 4, head[4], in) != (size_t) head[4]
      || fread(I.data(), 4, head[5], in) != (size_t) head[5]) { fprintf(stderr, "short state.bin\n"); return 2; }
  fclose(in);
  launch(KERNEL, F.data(), I.data(), a, (unsigned) head[1], (unsigned) head[2], (unsigned) head[3]);
  FILE* out = fopen("out.bin", "wb");
  fwrite(F.data(), 4, head[4], out);
  fclose(out);
  printf("OK\n");
  return 0;
}
