// The Winograd F(4x4, 3x3) input and output transforms (winograd.h), written once over a batch
// type B: consecutive tiles of a tile row sit in B's lanes, so every transform step is one vector
// operation for B::size tiles. winograd_<isa>.cpp instantiates it with that ISA's xsimd batch,
// winograd.cpp with a one-lane scalar stand-in.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels/winograd.h"

namespace normrt::kernels::simd {

template <class B>
struct Winograd {
  static constexpr int64_t L = static_cast<int64_t>(B::size);

  // Bt applied to six values (one row or column of a 6x6 tile):
  //   [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1].
  static void bt(const B* d, B* v) {
    const B four(4.0f), five(5.0f), two(2.0f);
    const B d12 = d[1] + d[2], d34 = d[3] + d[4], e12 = d[1] - d[2], e43 = d[4] - d[3];
    const B d42 = d[4] - d[2], d31 = d[3] - d[1];
    v[0] = four * d[0] - five * d[2] + d[4];
    v[1] = d34 - four * d12;
    v[2] = e43 + four * e12;
    v[3] = d42 + two * d31;
    v[4] = d42 - two * d31;
    v[5] = four * d[1] - five * d[3] + d[5];
  }

  // At applied to six values: [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1].
  static void at(const B* m, B* o) {
    const B p = m[1] + m[2], q = m[1] - m[2], r = m[3] + m[4], s = m[3] - m[4];
    o[0] = m[0] + p + r;
    o[1] = q + B(2.0f) * s;
    o[2] = p + B(4.0f) * r;
    o[3] = q + B(8.0f) * s + m[5];
  }

  static void input_tiles(const float* plane, int64_t h, int64_t w, int64_t y0, int64_t x0, int64_t n, float* out, int64_t ld) {
    // One chunk of L tiles at a time. Row i of the window, split by column phase: ph[i][k][t] is
    // the value at column x0 + 4 (t0 + t) + k, so window column j of tile t is ph[i][j % 4][t + j / 4].
    alignas(64) float ph[kWinogradWindow][4][L + 1];
    alignas(64) float tmp[kWinogradWindow][kWinogradWindow][L];
    float line[4 * (L + 1)];
    for (int64_t t0 = 0; t0 < n; t0 += L) {
      const int64_t cnt = std::min(L, n - t0), span = 4 * (cnt + 1);  // columns the chunk reads (and 2 spare)
      const int64_t c0 = x0 + 4 * t0;
      const int64_t lo = std::clamp<int64_t>(-c0, 0, span), hi = std::clamp<int64_t>(w - c0, lo, span);
      for (int i = 0; i < kWinogradWindow; ++i) {
        const int64_t y = y0 + i;
        if (y < 0 || y >= h || hi <= lo) {
          std::fill(line, line + 4 * (L + 1), 0.0f);
        } else {
          std::fill(line, line + lo, 0.0f);
          std::memcpy(line + lo, plane + y * w + c0 + lo, (hi - lo) * sizeof(float));
          std::fill(line + hi, line + 4 * (L + 1), 0.0f);
        }
        for (int64_t t = 0; t <= L; ++t)
          for (int k = 0; k < 4; ++k) ph[i][k][t] = line[4 * t + k];
      }
      // Rows: tmp[i][k] = (d Bt's transpose)[i][k] over the window's columns.
      for (int i = 0; i < kWinogradWindow; ++i) {
        B d[kWinogradWindow], v[kWinogradWindow];
        for (int j = 0; j < kWinogradWindow; ++j) d[j] = B::load_unaligned(&ph[i][j % 4][j / 4]);
        bt(d, v);
        for (int k = 0; k < kWinogradWindow; ++k) v[k].store_aligned(tmp[i][k]);
      }
      // Columns: V[a][k] = Bt applied to tmp[.][k].
      for (int k = 0; k < kWinogradWindow; ++k) {
        B d[kWinogradWindow], v[kWinogradWindow];
        for (int i = 0; i < kWinogradWindow; ++i) d[i] = B::load_aligned(tmp[i][k]);
        bt(d, v);
        for (int a = 0; a < kWinogradWindow; ++a) store(v[a], out + (a * kWinogradWindow + k) * ld + t0, cnt);
      }
    }
  }

  static void output_tiles(const float* in, int64_t ld, int64_t n, float bias, float* plane, int64_t oh, int64_t ow, int64_t y0,
                           int64_t x0, int64_t pitch, int64_t step) {
    alignas(64) float s[4][kWinogradWindow][L];
    alignas(64) float o[4][L];
    const int64_t rows = std::min<int64_t>(kWinogradTile, oh - y0);
    for (int64_t t0 = 0; t0 < n; t0 += L) {
      const int64_t cnt = std::min(L, n - t0);
      // Columns first: s[i][k] = At applied to M[.][k].
      for (int k = 0; k < kWinogradWindow; ++k) {
        B m[kWinogradWindow], r[kWinogradTile];
        for (int a = 0; a < kWinogradWindow; ++a) m[a] = load(in + (a * kWinogradWindow + k) * ld + t0, cnt);
        at(m, r);
        for (int i = 0; i < kWinogradTile; ++i) r[i].store_aligned(s[i][k]);
      }
      const int64_t c0 = x0 + 4 * t0, width = std::min(4 * cnt, ow - c0);
      for (int64_t i = 0; i < rows; ++i) {
        B m[kWinogradWindow], r[kWinogradTile];
        for (int k = 0; k < kWinogradWindow; ++k) m[k] = B::load_aligned(s[i][k]);
        at(m, r);
        for (int j = 0; j < kWinogradTile; ++j) (r[j] + B(bias)).store_aligned(o[j]);
        // Interleave the four column phases into the output row.
        float* dst = plane + (y0 + i) * pitch + c0 * step;
        for (int64_t x = 0; x < width; ++x) dst[x * step] = o[x % 4][x / 4];
      }
    }
  }

  static void store(const B& v, float* p, int64_t cnt) {
    if (cnt == L) {
      v.store_unaligned(p);
      return;
    }
    alignas(64) float buf[L];
    v.store_aligned(buf);
    std::memcpy(p, buf, cnt * sizeof(float));
  }
  static B load(const float* p, int64_t cnt) {
    if (cnt == L) return B::load_unaligned(p);
    alignas(64) float buf[L] = {};
    std::memcpy(buf, p, cnt * sizeof(float));
    return B::load_aligned(buf);
  }

  static const WinogradPrimitives& table(Isa isa) {
    static const WinogradPrimitives t{isa, input_tiles, output_tiles};
    return t;
  }
};

}  // namespace normrt::kernels::simd
