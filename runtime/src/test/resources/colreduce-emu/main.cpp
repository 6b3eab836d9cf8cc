// A host emulation of two generated column reductions (ColumnReduceEmulationTest compiles it with g++):
// LN (a layernorm's weight and bias gradients in one launch: out[C] = sum dout * (x - mean) * rstd, outb[C] = sum dout) and QKV (the qkv bias: out[THREE, NH, HS]
// = sum x[b, t, ...]) run block by block, thread by thread against double sums, at odd shapes and GPT-2's.
// LN_FILE / QKV_FILE: the kernels' .cu; LN / QKV: their function names.
#include "emu.h"
#define CAT(a, b) a##b
#define XCAT(a, b) CAT(a, b)
#include LN_FILE
#include QKV_FILE
int main() {
  std::mt19937 g(5); std::normal_distribution<float> n;
  int fails = 0;
  for (int shape = 0; shape < 3; shape++) {
    int B = shape == 0 ? 3 : shape == 1 ? 5 : 8, T = shape == 0 ? 37 : shape == 1 ? 419 : 1024, C = shape == 2 ? 768 : 100;
    long long rows = (long long) B * T;
    // ln weight and bias: out[c] = sum dout * (x - mean) * rstd, outb[c] = sum dout
    // F: [out C][dout rows*C][x rows*C][mean rows][rstd rows][outb C]
    std::vector<float> F(2 * C + 2 * rows * C + 2 * rows);
    for (auto& v : F) v = n(g);
    long long o0 = 0, o1 = C, o2 = C + rows * C, o3 = C + 2 * rows * C, o4 = o3 + rows, o5 = o4 + rows;
    std::vector<double> want(C, 0), wantb(C, 0);
    for (long long r = 0; r < rows; r++) for (int c = 0; c < C; c++) {
      want[c] += (double) F[o1 + r * C + c] * ((F[o2 + r * C + c] - F[o3 + r]) * F[o4 + r]);
      wantb[c] += F[o1 + r * C + c];
    }
    XCAT(Args_, LN) a{{C, B, T, o0, o1, o2, o3, o4, o5}};
    plan(C, rows); std::vector<float> W(2 * plan_splits * C);
    launch(LN, XCAT(LN, _sum), F.data(), a, C, rows, W.data(), 2);
    double err = 0;
    for (int c = 0; c < C; c++) err = std::max(err, std::max(std::fabs(F[o0 + c] - want[c]), std::fabs(F[o5 + c] - wantb[c])));
    printf("ln  B=%d T=%d C=%d splits=%lld chunk=%lld maxerr %.3g\n", B, T, C, plan_splits, plan_chunk, err); fails += err > 1e-2;
    // qkvb: out[three, nh, hs] = sum x[b, t, three, nh, hs]
    int THREE = 3, NH = shape == 2 ? 12 : 5, HS = shape == 2 ? 64 : 7; long long items = THREE * NH * HS;
    std::vector<float> G(items + rows * items);
    for (auto& v : G) v = n(g);
    std::vector<double> w2(items, 0);
    for (long long r = 0; r < rows; r++) for (long long p = 0; p < items; p++) w2[p] += G[items + r * items + p];
    XCAT(Args_, QKV) a2{{THREE, NH, HS, B, T, 0, items}};
    plan(items, rows); std::vector<float> W2(plan_splits * items);
    launch(QKV, XCAT(QKV, _sum), G.data(), a2, items, rows, W2.data());
    err = 0; for (long long p = 0; p < items; p++) err = std::max(err, std::fabs(G[p] - w2[p]));
    printf("qkv B=%d T=%d items=%lld splits=%lld chunk=%lld maxerr %.3g\n", B, T, items, plan_splits, plan_chunk, err); fails += err > 1e-2;
  }
  printf(fails ? "FAIL\n" : "OK\n");
  return fails;
}
