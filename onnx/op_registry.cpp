#include "onnx/op_registry.h"

#include "runtime/error.h"

namespace normrt::onnx {

namespace {
std::string canonical_domain(const std::string& d) { return d == "ai.onnx" ? "" : d; }
std::string domain_label(const std::string& d) { return d.empty() ? "ai.onnx" : d; }
}  // namespace

const OpRegistry& OpRegistry::builtin() {
  static const OpRegistry registry = [] {
    OpRegistry r;
    register_elementwise_ops(r);
    register_shape_ops(r);
    register_norm_ops(r);
    register_math_ops(r);
    register_attention_ops(r);
    register_tensor_ops(r);
    register_reduce_ops(r);
    register_conv_ops(r);
    register_pool_ops(r);
    register_resize_ops(r);
    register_einsum_ops(r);
    register_index_ops(r);
    register_quantize_ops(r);
    return r;
  }();
  return registry;
}

void OpRegistry::add(const std::string& domain, const std::string& op, int64_t since, int64_t until,
                     KernelFactory make) {
  entries_.push_back(OpEntry{canonical_domain(domain), op, since, until, make});
}

const OpEntry* OpRegistry::find(const std::string& domain, const std::string& op, int64_t opset) const {
  const std::string d = canonical_domain(domain);
  for (const OpEntry& e : entries_)
    if (e.domain == d && e.op_type == op && e.since <= opset && opset <= e.until) return &e;
  return nullptr;
}

bool OpRegistry::knows_op(const std::string& domain, const std::string& op) const {
  const std::string d = canonical_domain(domain);
  for (const OpEntry& e : entries_)
    if (e.domain == d && e.op_type == op) return true;
  return false;
}

std::unique_ptr<OpKernel> create_kernel(const Graph& graph, const Node& node) {
  const std::string where = graph.model_label + ": " + node.label();
  const int64_t opset = graph.opset_for(node.domain);
  if (opset < 0)
    fail(ErrorCode::InvalidModel, where + ": the model imports no opset for domain " + domain_label(node.domain));
  const OpRegistry& reg = OpRegistry::builtin();
  const OpEntry* e = reg.find(node.domain, node.op_type, opset);
  if (!e) {
    std::string why = reg.knows_op(node.domain, node.op_type) ? "normrt does not support this op at that opset"
                                                               : "normrt has no kernel for this op";
    fail(ErrorCode::NotImplemented, where + ": op " + node.op_type + " in domain " + domain_label(node.domain) +
                                        " at opset " + std::to_string(opset) + ": " + why);
  }
  try {
    return e->make(node, opset);
  } catch (const Error& err) {
    fail(err.code(), graph.model_label + ": " + err.what());
  }
}

}  // namespace normrt::onnx
