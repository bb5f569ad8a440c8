// Maps (domain, op type, opset range) to the kernel that implements those semantics. Several
// entries for one op cover the opsets where its meaning changed, so the difference is explicit.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "runtime/graph.h"
#include "runtime/op_kernel.h"

namespace normrt::onnx {

// Newest default-domain opset whose operator set normrt knows as a whole. An op of a model importing
// a newer one is refused (NotImplemented, naming it) instead of being run with possibly changed
// semantics, unless an entry covers that opset explicitly (Range-27).
constexpr int64_t kMaxDefaultOpset = 25;
constexpr const char* kMicrosoftDomain = "com.microsoft";

using KernelFactory = std::unique_ptr<OpKernel> (*)(const Node& node, int64_t opset);

struct OpEntry {
  std::string domain;  // "" for ai.onnx
  std::string op_type;
  int64_t since;       // first opset these semantics apply to
  int64_t until;       // last one (inclusive)
  KernelFactory make;
};

class OpRegistry {
 public:
  // Every op normrt ships, filled once from the list in onnx/ops/builtin_ops.cpp.
  static const OpRegistry& builtin();
  void add(const std::string& domain, const std::string& op, int64_t since, int64_t until, KernelFactory make);
  const OpEntry* find(const std::string& domain, const std::string& op, int64_t opset) const;
  bool knows_op(const std::string& domain, const std::string& op) const;
  const std::vector<OpEntry>& entries() const { return entries_; }

 private:
  std::vector<OpEntry> entries_;
};

// The kernel for `node` of `graph`; NotImplemented naming the node, op type, domain and opset when
// none covers it, InvalidModel when its attributes are wrong.
std::unique_ptr<OpKernel> create_kernel(const Graph& graph, const Node& node);

// Registration lists, one per op family (onnx/ops/*.cpp).
void register_elementwise_ops(OpRegistry& r);
void register_shape_ops(OpRegistry& r);
void register_norm_ops(OpRegistry& r);
void register_math_ops(OpRegistry& r);
void register_attention_ops(OpRegistry& r);
void register_tensor_ops(OpRegistry& r);
void register_reduce_ops(OpRegistry& r);
void register_conv_ops(OpRegistry& r);
void register_pool_ops(OpRegistry& r);
void register_resize_ops(OpRegistry& r);
void register_einsum_ops(OpRegistry& r);
void register_index_ops(OpRegistry& r);
void register_quantize_ops(OpRegistry& r);

}  // namespace normrt::onnx
