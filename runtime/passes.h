// Graph passes run at session creation, before kernels are chosen: they rewrite subgraphs that
// exporters write out op by op into the fused kernels normrt has. Each pass matches on op types,
// attributes and constant inputs only, and only rewrites intermediates nothing else reads.
//   layer_norm:  ReduceMean, Sub, Pow(2) or Mul(d, d), ReduceMean, Add(eps), Sqrt, Div
//                [, Mul(gamma)][, Add(beta)]                      -> LayerNormalization
//   group_norm:  Reshape(x, [0, G, -1]), InstanceNormalization(ones, zeros), Reshape(Shape(x)),
//                Mul(gamma [C,1..]), Add(beta [C,1..])            -> GroupNormalization (per channel)
//   gelu:        Div(x, sqrt 2) or Mul(x, 1/sqrt 2), Erf, Add(1), Mul(x), Mul(0.5) (either order)
//                                                                 -> Gelu
//   gelu_tanh:   Mul/Pow for x^3, Mul(0.044715), Add(x), Mul(sqrt(2/pi)), Tanh, Add(1), Mul(x),
//                Mul(0.5) (either order)                          -> Gelu (tanh)
//   matmul_bias: MatMul(A, constant W) + constant bias row [+ Gelu] -> one GEMM with the bias and
//                the activation in its epilogue
//   attention:   MatMul(Q, Kᵀ), Div/Mul(scale), [Add(mask)], Softmax, MatMul(V) on [B, H, S, D]
//                                                                 -> the fused Attention kernel
//   transposed_weight: MatMul(A, Transpose(constant W)) -> one GEMM packing W transposed once
//   dead_code:   nodes whose outputs nothing reads
//   split_product (after inference, see optimize_graph_with_shapes)
// Fused nodes live in the internal domain kInternalDomain (opset 1), added to the graph's imports.
#pragma once
#include <map>
#include <string>

#include "runtime/graph.h"

namespace normrt {

constexpr const char* kInternalDomain = "normrt.internal";

enum class OptimizationLevel { Off, Basic, All };

struct OptimizationReport {
  std::map<std::string, int> fired;  // pass name -> rewrites made
  int nodes_before = 0, nodes_after = 0;
};

// Basic: dead-code elimination only; All: every pass above. Off does nothing.
OptimizationReport optimize_graph(Graph& g, OptimizationLevel level = OptimizationLevel::All);

// The passes that need the shapes inference gives (the session runs it after inference at level
// All, and infers again when it rewrote anything), adding to r:
//   split_product: MatMul / FusedMatMul by a constant W, read only by a Split of its last axis
//                -> one product per part on W's column slices
// True when the graph changed.
bool optimize_graph_with_shapes(Graph& g, OptimizationReport& r);

}  // namespace normrt
