// Winograd F(4x4, 3x3) convolution transforms (Lavin & Gray, "Fast Algorithms for Convolutional
// Neural Networks", with the interpolation points 0, +-1, +-2 and infinity). A 3x3, stride-1
// convolution computed on 4x4 output tiles reads 6x6 input tiles; in the transformed domain the
// 9 x 16 multiply-adds per (input channel, output channel, tile) become 36, so the 36 matrix
// products (one per transformed point: [out channels, in channels] x [in channels, tiles], on the
// SGEMM microkernels) do 4x fewer multiply-adds than im2col's one product; the input and output
// transforms cost a few operations per element, independent of the channel counts.
// Accuracy: the transforms scale values by up to 8 and add terms of mixed sign, so float32 results
// carry errors a few times those of the direct sum (about 1e-5 of the output's magnitude for 320
// input channels against about 1e-6); the weight transform runs in double.
//   U = G g Gt (per weight 3x3, once),  V = Bt d B (per 6x6 input tile),  Y = At (U . V) A.
#pragma once
#include <cstdint>

#include "kernels/isa.h"

namespace normrt::kernels {

constexpr int kWinogradTile = 4;        // output tile side
constexpr int kWinogradWindow = 6;      // input tile side (tile + 3 - 1)
constexpr int kWinogradPoints = 36;     // transformed points per tile: index row * 6 + column

// u[point][m][c] = (G g Gt)[point] for g = w[m][c] (a 3x3 kernel, row-major; w is [m][c][3][3]).
void winograd_weights(const float* w, int64_t m, int64_t c, float* u);

struct WinogradPrimitives {
  Isa isa;
  // Tiles t in [0, n) of one input plane (h x w, row-major): tile t's 6x6 window has its top-left
  // corner at row y0, column x0 + 4t (either may lie outside the plane, which reads as zero). Its
  // 36 transformed values go to out[point * ld + t].
  void (*input_tiles)(const float* plane, int64_t h, int64_t w, int64_t y0, int64_t x0, int64_t n, float* out, int64_t ld);
  // Tiles t in [0, n) of one output plane (oh x ow): in[point * ld + t] are tile t's 36 products.
  // Its 4x4 block plus `bias` goes to rows y0 .. y0 + 3, columns x0 + 4t .. x0 + 4t + 3 of the
  // plane, cropped at its bottom and right edges; element (row, column) is plane[row * pitch +
  // column * step] (pitch ow and step 1 for a plain plane; ConvTranspose's phases interleave).
  void (*output_tiles)(const float* in, int64_t ld, int64_t n, float bias, float* plane, int64_t oh, int64_t ow, int64_t y0,
                       int64_t x0, int64_t pitch, int64_t step);
};

const WinogradPrimitives& winograd_primitives(Isa isa);

}  // namespace normrt::kernels
