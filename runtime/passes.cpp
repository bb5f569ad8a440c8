#include "runtime/passes.h"

#include <cmath>
#include <functional>
#include <map>
#include <optional>

#include "runtime/error.h"
#include "runtime/op_kernel.h"

namespace normrt {

namespace {

// Who reads each value: consumer nodes, and whether it is a graph output.
struct Uses {
  std::vector<std::vector<int>> readers;
  std::vector<bool> graph_output;
};

Uses uses_of(const Graph& g, const std::vector<bool>& dead) {
  Uses u;
  u.readers.assign(g.values.size(), {});
  u.graph_output.assign(g.values.size(), false);
  for (size_t n = 0; n < g.nodes.size(); ++n) {
    if (dead[n]) continue;
    for (int v : g.nodes[n].inputs)
      if (v >= 0) u.readers[v].push_back(static_cast<int>(n));
  }
  for (int v : g.outputs) u.graph_output[v] = true;
  return u;
}

// The inputs a pattern reads of each op it matches; a node with fewer (a malformed or fuzzed file:
// kernel creation rejects it later) or without an output matches nothing.
size_t inputs_patterns_read(const std::string& op) {
  static const std::map<std::string, size_t> n = {
      {"Add", 2}, {"Sub", 2}, {"Mul", 2}, {"Div", 2}, {"Pow", 2}, {"MatMul", 2}, {"Reshape", 2}, {"InstanceNormalization", 3},
      {"ReduceMean", 1}, {"Sqrt", 1}, {"Reciprocal", 1}, {"Erf", 1}, {"Tanh", 1}, {"Softmax", 1}, {"Transpose", 1},
      {"Shape", 1}, {"Relu", 1}, {"LayerNormalization", 2}, {"RMSNormalization", 2}, {"Where", 3}, {"Gelu", 1}};
  const auto it = n.find(op);
  return it == n.end() ? 0 : it->second;
}

bool well_formed(const Node& x) {
  const size_t need = inputs_patterns_read(x.op_type);
  if (x.inputs.size() < need || x.outputs.empty() || x.outputs[0] < 0) return false;
  for (size_t i = 0; i < need; ++i)
    if (x.inputs[i] < 0) return false;
  return true;
}

bool is_op(const Graph& g, int n, const char* op) {
  return n >= 0 && g.nodes[n].domain.empty() && g.nodes[n].op_type == op && well_formed(g.nodes[n]);
}

// The one node reading v when nothing else (no other node, no graph output) does.
int only_reader(const Uses& u, int v) {
  if (v < 0 || u.graph_output[v] || u.readers[v].size() != 1) return -1;
  return u.readers[v][0];
}

std::optional<double> scalar_constant(const Graph& g, int v) {
  if (v < 0 || !g.values[v].constant || g.values[v].constant->numel() != 1) return std::nullopt;
  const Tensor& t = *g.values[v].constant;
  if (t.dtype() != DType::Float32 && t.dtype() != DType::Float64 && t.dtype() != DType::Float16) return std::nullopt;
  return t.double_at(0);
}

bool near(std::optional<double> v, double want, double tol = 1e-4) { return v && std::fabs(*v - want) <= tol * std::fabs(want); }

// The other input of a binary node, given one of them.
int other_input(const Node& n, int v) {
  if (n.inputs.size() != 2) return -1;
  return n.inputs[0] == v ? n.inputs[1] : (n.inputs[1] == v ? n.inputs[0] : -1);
}

// A list opsets moved from an attribute to input 1 (ReduceMean's axes, Split's split): the input's
// constant value when it is given, else the attribute (empty when absent); nullopt when the input
// is given but not constant.
std::optional<std::vector<int64_t>> ints_attribute_or_input(const Graph& g, const Node& n, const char* attribute) {
  if (n.inputs.size() < 2 || n.inputs[1] < 0) return n.attr_ints(attribute);
  const Value& v = g.values[n.inputs[1]];
  if (!v.constant) return std::nullopt;
  std::vector<int64_t> r;
  for (int64_t i = 0; i < v.constant->numel(); ++i) r.push_back(v.constant->int_at(i));
  return r;
}

// ReduceMean over exactly the last axis with keepdims; rank from the input's shape if known.
bool reduces_last_axis(const Graph& g, const Node& n) {
  if (n.attr_int("keepdims", 1) != 1) return false;
  const std::optional<std::vector<int64_t>> given = ints_attribute_or_input(g, n, "axes");
  if (!given) return false;
  const std::vector<int64_t>& axes = *given;
  if (axes.size() != 1) return false;
  if (axes[0] == -1) return true;
  const Value& x = g.values[n.inputs[0]];
  return x.shape && static_cast<int64_t>(x.shape->size()) == axes[0] + 1;
}

int add_constant(Graph& g, const std::string& base, Tensor t) {
  std::string name = base;
  for (int i = 1; g.find_value(name) >= 0; ++i) name = base + "_" + std::to_string(i);
  Value v;
  v.name = name;
  v.dtype = t.dtype();
  v.shape = to_sym(t.shape());
  v.constant = std::make_shared<const Tensor>(std::move(t));
  return g.add_value(std::move(v));
}

// The last dim of value x, or -1 when it is not known before inference.
int64_t last_dim(const Graph& g, int x) {
  const Value& xv = g.values[x];
  return xv.shape && !xv.shape->empty() && xv.shape->back().known() ? xv.shape->back().value : -1;
}

// A constant a normalization can take as its per-feature scale or shift: of type `type`, a scalar
// or `dim` values on the last axis, ones on every other axis.
bool per_feature(const Tensor& t, DType type, int64_t dim) {
  if (t.dtype() != type) return false;
  for (size_t i = 0; i + 1 < t.rank(); ++i)
    if (t.shape()[i] != 1) return false;
  return t.numel() == 1 || (dim >= 0 && t.numel() == dim);
}

// A new constant of float32 ones over `dim` (the scale a normalization without one needs), named
// after x; -1 when the dim is unknown.
int ones_scale(Graph& g, int x, int64_t dim, const char* suffix) {
  if (dim < 0) return -1;
  Tensor ones = Tensor::allocate(DType::Float32, {dim});
  std::fill(ones.data<float>(), ones.data<float>() + dim, 1.0f);
  return add_constant(g, g.values[x].name + suffix, std::move(ones));
}

// Appends a node, alive.
void add_node(Graph& g, std::vector<bool>& dead, Node n) {
  g.nodes.push_back(std::move(n));
  dead.push_back(false);
}

// Appends a fused node in the internal domain, alive.
void add_fused(Graph& g, std::vector<bool>& dead, std::string name, const char* op, std::vector<int> inputs,
               std::vector<int> outputs, std::map<std::string, Attribute> attributes) {
  Node n;
  n.name = std::move(name);
  n.op_type = op;
  n.domain = kInternalDomain;
  n.inputs = std::move(inputs);
  n.outputs = std::move(outputs);
  n.attributes = std::move(attributes);
  add_node(g, dead, std::move(n));
}

// ---------------------------------------------------------------------------------------------

// Returns true and rewrites node `n0` (the first ReduceMean) into LayerNormalization.
bool fuse_layer_norm(Graph& g, std::vector<bool>& dead, const Uses& u, int n0) {
  if (!is_op(g, n0, "ReduceMean") || !reduces_last_axis(g, g.nodes[n0])) return false;
  const int x = g.nodes[n0].inputs[0], mean = g.nodes[n0].outputs[0];
  const int sub = only_reader(u, mean);
  if (!is_op(g, sub, "Sub") || g.nodes[sub].inputs[0] != x || g.nodes[sub].inputs[1] != mean) return false;
  const int d = g.nodes[sub].outputs[0];
  if (u.graph_output[d] || u.readers[d].size() != 2) return false;
  int sq = -1, div = -1;
  for (int r : u.readers[d]) {
    const Node& nr = g.nodes[r];
    if (is_op(g, r, "Pow") && nr.inputs[0] == d && near(scalar_constant(g, nr.inputs[1]), 2.0)) sq = r;
    else if (is_op(g, r, "Mul") && nr.inputs[0] == d && nr.inputs[1] == d) sq = r;
    else if (is_op(g, r, "Div") && nr.inputs[0] == d) div = r;
  }
  if (sq < 0 || div < 0) return false;
  const int mean2 = only_reader(u, g.nodes[sq].outputs[0]);
  if (!is_op(g, mean2, "ReduceMean") || !reduces_last_axis(g, g.nodes[mean2])) return false;
  const int add_eps = only_reader(u, g.nodes[mean2].outputs[0]);
  if (!is_op(g, add_eps, "Add")) return false;
  const auto eps = scalar_constant(g, other_input(g.nodes[add_eps], g.nodes[mean2].outputs[0]));
  if (!eps || *eps < 0) return false;
  const int sqrt = only_reader(u, g.nodes[add_eps].outputs[0]);
  if (!is_op(g, sqrt, "Sqrt") || only_reader(u, g.nodes[sqrt].outputs[0]) != div || g.nodes[div].inputs[1] != g.nodes[sqrt].outputs[0])
    return false;
  std::vector<int> matched{n0, sub, sq, mean2, add_eps, sqrt, div};
  int out = g.nodes[div].outputs[0], gamma = -1, beta = -1;
  // Optional affine: Mul by a constant, then Add of a constant (only when nothing else reads the
  // intermediate).
  const int mul = only_reader(u, out);
  if (is_op(g, mul, "Mul")) {
    const int c = other_input(g.nodes[mul], out);
    if (c >= 0 && g.values[c].constant) gamma = c, out = g.nodes[mul].outputs[0], matched.push_back(mul);
  }
  if (gamma >= 0) {
    const int add = only_reader(u, out);
    if (is_op(g, add, "Add")) {
      const int c = other_input(g.nodes[add], out);
      if (c >= 0 && g.values[c].constant) beta = c, out = g.nodes[add].outputs[0], matched.push_back(add);
    }
  }
  const int64_t dim = last_dim(g, x);
  // x's type is known for graph inputs; for intermediates (typed only at inference) the constants'
  // float32 stands in, and inference checks the rest.
  const DType xt = g.values[x].dtype == DType::Undefined ? DType::Float32 : g.values[x].dtype;
  auto usable = [&](int v) { return v < 0 || per_feature(*g.values[v].constant, xt, dim); };
  if (!usable(gamma) || !usable(beta) || xt != DType::Float32) return false;
  if (gamma < 0 && (gamma = ones_scale(g, x, dim, "_ln_scale")) < 0) return false;  // LayerNormalization needs a scale
  for (int m : matched) dead[m] = true;
  std::vector<int> inputs{x, gamma};
  if (beta >= 0) inputs.push_back(beta);
  add_fused(g, dead, g.nodes[n0].name + "_fused_layer_norm", "LayerNormalization", inputs, {out},
            {{"axis", int_attribute(-1)}, {"epsilon", float_attribute(static_cast<float>(*eps))}});
  return true;
}

// Pow(x, 2) or Mul(x, x) -> ReduceMean(last axis) -> Add(eps) -> Sqrt -> Div(x, .), or
// Reciprocal -> Mul(x, .), [-> Mul(gamma)]: the RMSNorm (T5, LLaMA) PyTorch writes
// -> RMSNormalization. Returns true and rewrites from the squaring node `sq`.
bool fuse_rms_norm(Graph& g, std::vector<bool>& dead, const Uses& u, int sq) {
  int x = -1;
  if (is_op(g, sq, "Pow") && near(scalar_constant(g, g.nodes[sq].inputs[1]), 2.0)) x = g.nodes[sq].inputs[0];
  if (is_op(g, sq, "Mul") && g.nodes[sq].inputs[0] == g.nodes[sq].inputs[1]) x = g.nodes[sq].inputs[0];
  if (x < 0) return false;
  const int mean = only_reader(u, g.nodes[sq].outputs[0]);
  if (!is_op(g, mean, "ReduceMean") || !reduces_last_axis(g, g.nodes[mean])) return false;
  const int add_eps = only_reader(u, g.nodes[mean].outputs[0]);
  if (!is_op(g, add_eps, "Add")) return false;
  const auto eps = scalar_constant(g, other_input(g.nodes[add_eps], g.nodes[mean].outputs[0]));
  if (!eps || *eps < 0) return false;
  const int sqrt = only_reader(u, g.nodes[add_eps].outputs[0]);
  if (!is_op(g, sqrt, "Sqrt")) return false;
  const int rms = g.nodes[sqrt].outputs[0];
  std::vector<int> matched{sq, mean, add_eps, sqrt};
  int out = -1;
  const int next = only_reader(u, rms);
  if (is_op(g, next, "Div") && g.nodes[next].inputs[0] == x && g.nodes[next].inputs[1] == rms) {
    matched.push_back(next), out = g.nodes[next].outputs[0];
  } else if (is_op(g, next, "Reciprocal")) {
    const int inv = g.nodes[next].outputs[0];
    const int mul = only_reader(u, inv);
    if (!is_op(g, mul, "Mul") || other_input(g.nodes[mul], inv) != x) return false;
    matched.push_back(next), matched.push_back(mul), out = g.nodes[mul].outputs[0];
  } else {
    return false;
  }
  const int64_t dim = last_dim(g, x);
  if (g.values[x].dtype != DType::Float32 && g.values[x].dtype != DType::Undefined) return false;
  int gamma = -1;
  const int mul = only_reader(u, out);
  if (is_op(g, mul, "Mul")) {
    const int c = other_input(g.nodes[mul], out);
    if (c >= 0 && g.values[c].constant && per_feature(*g.values[c].constant, DType::Float32, dim))
      gamma = c, out = g.nodes[mul].outputs[0], matched.push_back(mul);
  }
  if (gamma < 0 && (gamma = ones_scale(g, x, dim, "_rms_scale")) < 0) return false;  // RMSNormalization needs a scale
  for (int m : matched) dead[m] = true;
  add_fused(g, dead, g.nodes[sq].name + "_fused_rms_norm", "RMSNormalization", {x, gamma}, {out},
            {{"axis", int_attribute(-1)}, {"epsilon", float_attribute(static_cast<float>(*eps))}});
  return true;
}

// Add(a, b) -> LayerNormalization or RMSNormalization over the last axis (only its first output
// used) -> one SkipLayerNormalization that forms the residual sum while it reads the rows (its
// output 3 keeps the sum when other nodes read it, as in pre-norm decoders).
bool fuse_skip_layer_norm(Graph& g, std::vector<bool>& dead, const Uses& u, int ln) {
  const Node& norm = g.nodes[ln];
  const bool rms = norm.op_type == "RMSNormalization";
  if (norm.op_type != "LayerNormalization" && !rms) return false;
  if ((!norm.domain.empty() && norm.domain != kInternalDomain) || !well_formed(norm)) return false;
  for (size_t o = 1; o < norm.outputs.size(); ++o)
    if (norm.outputs[o] >= 0 && (u.graph_output[norm.outputs[o]] || !u.readers[norm.outputs[o]].empty())) return false;
  if (norm.attr_int("stash_type", 1) != 1) return false;
  const int sum = norm.inputs[0];
  const int add = sum >= 0 ? g.values[sum].producer : -1;
  if (!is_op(g, add, "Add") || dead[add]) return false;
  // The axis must be the last one: -1, or rank - 1 when the rank is known.
  const int64_t axis = norm.attr_int("axis", -1);
  const Value& sv = g.values[sum];
  if (axis != -1 && !(sv.shape && axis == static_cast<int64_t>(sv.shape->size()) - 1)) return false;
  const bool sum_read_elsewhere = u.graph_output[sum] || u.readers[sum].size() > 1;
  dead[add] = true;
  dead[ln] = true;
  std::vector<int> inputs{g.nodes[add].inputs[0], g.nodes[add].inputs[1], norm.inputs[1]};
  if (!rms && norm.inputs.size() > 2 && norm.inputs[2] >= 0) inputs.push_back(norm.inputs[2]);
  std::vector<int> outputs{norm.outputs[0]};
  if (sum_read_elsewhere) outputs.insert(outputs.end(), {-1, -1, sum});
  add_fused(g, dead, norm.name + "_fused_skip", "SkipLayerNormalization", inputs, outputs,
            {{"epsilon", float_attribute(norm.attr_float("epsilon", 1e-5f))}, {"rms", int_attribute(rms ? 1 : 0)}});
  return true;
}

// The shared end of both GELU forms, from the node computing t (erf or tanh of the scaled x):
// Add(t, 1) -> Mul(x, .) -> Mul(., 0.5), or (x * 0.5) * (1 + t). Appends the matched nodes and
// on success writes the Gelu node (approximate = "none" or "tanh") in place of them all.
bool finish_gelu(Graph& g, std::vector<bool>& dead, const Uses& u, int t_node, int x, std::vector<int> matched, const char* approximate) {
  const int t = g.nodes[t_node].outputs[0];
  const int add = only_reader(u, t);
  if (!is_op(g, add, "Add") || !near(scalar_constant(g, other_input(g.nodes[add], t)), 1.0)) return false;
  const int one_plus = g.nodes[add].outputs[0];
  const int m1 = only_reader(u, one_plus);
  if (!is_op(g, m1, "Mul")) return false;
  matched.push_back(add), matched.push_back(m1);
  int out;
  const int other = other_input(g.nodes[m1], one_plus);
  if (other == x) {  // x * (1 + t) then * 0.5
    const int m2 = only_reader(u, g.nodes[m1].outputs[0]);
    if (!is_op(g, m2, "Mul") || !near(scalar_constant(g, other_input(g.nodes[m2], g.nodes[m1].outputs[0])), 0.5)) return false;
    matched.push_back(m2);
    out = g.nodes[m2].outputs[0];
  } else {  // (x * 0.5) * (1 + t)
    const int half = other >= 0 ? g.values[other].producer : -1;
    if (!is_op(g, half, "Mul") || only_reader(u, other) != m1) return false;
    if (other_input(g.nodes[half], x) < 0 || !near(scalar_constant(g, other_input(g.nodes[half], x)), 0.5)) return false;
    matched.push_back(half);
    out = g.nodes[m1].outputs[0];
  }
  // Element types of intermediates are not known before inference; Gelu takes every float type.
  for (int m : matched) dead[m] = true;
  add_fused(g, dead, g.nodes[t_node].name + "_fused_gelu", "Gelu", {x}, {out}, {{"approximate", string_attribute(approximate)}});
  return true;
}

// Gelu (erf form) starting from its Erf node.
bool fuse_gelu(Graph& g, std::vector<bool>& dead, const Uses& u, int erf) {
  if (!is_op(g, erf, "Erf")) return false;
  const int scaled = g.nodes[erf].inputs[0];
  const int pre = scaled >= 0 ? g.values[scaled].producer : -1;
  if (pre < 0 || only_reader(u, scaled) != erf) return false;
  int x = -1;
  if (is_op(g, pre, "Div") && near(scalar_constant(g, g.nodes[pre].inputs[1]), std::sqrt(2.0))) x = g.nodes[pre].inputs[0];
  if (is_op(g, pre, "Mul")) {
    const Node& m = g.nodes[pre];
    if (near(scalar_constant(g, m.inputs[1]), std::sqrt(0.5))) x = m.inputs[0];
    else if (near(scalar_constant(g, m.inputs[0]), std::sqrt(0.5))) x = m.inputs[1];
  }
  if (x < 0) return false;
  return finish_gelu(g, dead, u, erf, x, {pre, erf}, "none");
}

// Gelu (tanh form): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), from its Tanh node; x^3 as
// Mul(x, Mul(x, x)) or Pow(x, 3).
bool fuse_gelu_tanh(Graph& g, std::vector<bool>& dead, const Uses& u, int tanh) {
  if (!is_op(g, tanh, "Tanh")) return false;
  auto producer = [&](int v) { return v >= 0 ? g.values[v].producer : -1; };
  // Tanh(Mul(sqrt(2/pi), inner)).
  const int scaled = g.nodes[tanh].inputs[0];
  const int ms = producer(scaled);
  if (!is_op(g, ms, "Mul") || only_reader(u, scaled) != tanh) return false;
  int inner = -1;
  for (int i : {0, 1})
    if (near(scalar_constant(g, g.nodes[ms].inputs[i]), std::sqrt(2.0 / M_PI))) inner = g.nodes[ms].inputs[1 - i];
  // inner = Add(x, Mul(0.044715, cube)).
  const int add_inner = producer(inner);
  if (!is_op(g, add_inner, "Add") || only_reader(u, inner) != ms) return false;
  int x = -1, cube_term = -1;
  for (int i : {0, 1}) {
    const int p = producer(g.nodes[add_inner].inputs[i]);
    if (is_op(g, p, "Mul")) cube_term = g.nodes[add_inner].inputs[i], x = g.nodes[add_inner].inputs[1 - i];
  }
  const int mc = producer(cube_term);
  if (!is_op(g, mc, "Mul") || only_reader(u, cube_term) != add_inner) return false;
  int cube = -1;
  for (int i : {0, 1})
    if (near(scalar_constant(g, g.nodes[mc].inputs[i]), 0.044715)) cube = g.nodes[mc].inputs[1 - i];
  const int pc = producer(cube);
  if (pc < 0 || only_reader(u, cube) != mc) return false;
  std::vector<int> matched{ms, add_inner, mc, pc, tanh};
  if (is_op(g, pc, "Pow")) {
    if (g.nodes[pc].inputs[0] != x || !near(scalar_constant(g, g.nodes[pc].inputs[1]), 3.0)) return false;
  } else if (is_op(g, pc, "Mul")) {  // x * (x * x), either order
    const int a = g.nodes[pc].inputs[0], b = g.nodes[pc].inputs[1];
    const int sq = a == x ? b : (b == x ? a : -1);
    const int psq = producer(sq);
    if (!is_op(g, psq, "Mul") || only_reader(u, sq) != pc || g.nodes[psq].inputs[0] != x || g.nodes[psq].inputs[1] != x) return false;
    matched.push_back(psq);
  } else {
    return false;
  }
  return finish_gelu(g, dead, u, tanh, x, matched, "tanh");
}

// MatMul(A, constant 2-D W) + constant bias row [+ Gelu or Relu] -> FusedMatMul.
bool fuse_matmul_bias(Graph& g, std::vector<bool>& dead, const Uses& u, int mm) {
  if (!is_op(g, mm, "MatMul")) return false;
  const Node& m = g.nodes[mm];
  const int w = m.inputs[1];
  if (!g.values[w].constant || g.values[w].constant->rank() != 2 || g.values[w].dtype != DType::Float32) return false;
  const int64_t n = g.values[w].constant->shape()[1];
  const int prod = m.outputs[0];
  const int add = only_reader(u, prod);
  if (!is_op(g, add, "Add")) return false;
  const int bias = other_input(g.nodes[add], prod);
  if (bias < 0 || !g.values[bias].constant || g.values[bias].constant->numel() != n || g.values[bias].dtype != DType::Float32) return false;
  for (size_t i = 0; i + 1 < g.values[bias].constant->rank(); ++i)
    if (g.values[bias].constant->shape()[i] != 1) return false;
  std::vector<int> matched{mm, add};
  int out = g.nodes[add].outputs[0];
  std::string activation = "none";
  const int act = only_reader(u, out);
  // The Gelu the gelu passes write, or ONNX's own (opset 20, as newer exporters write it).
  const bool internal_gelu = act >= 0 && g.nodes[act].domain == kInternalDomain && g.nodes[act].op_type == "Gelu";
  if (internal_gelu || is_op(g, act, "Gelu")) {
    activation = g.nodes[act].attr_string("approximate", "none") == "tanh" ? "gelu_tanh" : "gelu_erf";
    matched.push_back(act);
    out = g.nodes[act].outputs[0];
  } else if (is_op(g, act, "Relu")) {
    activation = "relu";
    matched.push_back(act);
    out = g.nodes[act].outputs[0];
  }
  for (int x : matched) dead[x] = true;
  add_fused(g, dead, g.nodes[mm].name + "_fused_matmul", "FusedMatMul", {g.nodes[mm].inputs[0], w, bias}, {out},
            {{"activation", string_attribute(activation)}});
  return true;
}

// MatMul(Q, Kᵀ) -> Div(c) or Mul(c) -> [Add(mask) or Where(cond, fill, .)] -> Softmax(last axis)
// -> MatMul(., V) on 4-D [B, H, S, D] operands -> the fused Attention kernel (scale 1/c or c; an
// added mask as a float bias; a Where mask — GPT-2's causal masked_fill — as a bool mask with the
// fill, which the kernel turns into skipped key blocks when the mask is causal). Kᵀ comes from a
// Transpose whose perm is rewritten to give K itself when nothing else reads Kᵀ.
bool fuse_attention(Graph& g, std::vector<bool>& dead, const Uses& u, int qk) {
  if (!is_op(g, qk, "MatMul")) return false;
  const int q = g.nodes[qk].inputs[0], kt = g.nodes[qk].inputs[1];
  const int s_raw = g.nodes[qk].outputs[0];
  const int scale_node = only_reader(u, s_raw);
  if (!is_op(g, scale_node, "Div") && !is_op(g, scale_node, "Mul")) return false;
  const auto c = scalar_constant(g, other_input(g.nodes[scale_node], s_raw));
  if (!c || *c == 0 || (is_op(g, scale_node, "Div") && g.nodes[scale_node].inputs[0] != s_raw)) return false;
  const double scale = is_op(g, scale_node, "Div") ? 1.0 / *c : *c;
  std::vector<int> matched{qk, scale_node};
  int cur = g.nodes[scale_node].outputs[0], mask = -1;
  std::optional<double> where_fill;
  int64_t where_keeps = 1;
  int next = only_reader(u, cur);
  if (is_op(g, next, "Add")) {
    mask = other_input(g.nodes[next], cur);
    if (mask == cur) return false;  // Add(scores, scores) is no mask
  } else if (is_op(g, next, "Where")) {
    // Where(cond, fill, scores) masks where cond is true; Where(cond, scores, fill) where it is
    // false. Only a fill that no softmax can tell from -inf (exp of it underflows against any real
    // score) is taken: the kernel may then drop masked keys outright.
    const Node& w = g.nodes[next];
    if (w.inputs[0] == cur || (w.inputs[1] == cur) == (w.inputs[2] == cur)) return false;
    where_keeps = w.inputs[2] == cur ? 0 : 1;
    where_fill = scalar_constant(g, w.inputs[where_keeps ? 2 : 1]);
    if (!where_fill || !(*where_fill <= -1e30)) return false;
    mask = w.inputs[0];
  }
  if (mask >= 0) {  // the mask node joins the match; the softmax reads its output
    matched.push_back(next);
    cur = g.nodes[next].outputs[0];
    next = only_reader(u, cur);
  }
  if (!is_op(g, next, "Softmax") || g.opset_for("") < 13) return false;
  const int64_t axis = g.nodes[next].attr_int("axis", -1);
  if (axis != -1 && axis != 3) return false;
  matched.push_back(next);
  const int pv = only_reader(u, g.nodes[next].outputs[0]);
  if (!is_op(g, pv, "MatMul") || g.nodes[pv].inputs[0] != g.nodes[next].outputs[0]) return false;
  matched.push_back(pv);
  const int v = g.nodes[pv].inputs[1];
  // Kᵀ from a Transpose read only here: compose its perm with the last-two-dims swap.
  const int tr = kt >= 0 ? g.values[kt].producer : -1;
  if (!is_op(g, tr, "Transpose") || only_reader(u, kt) != qk) return false;
  std::vector<int64_t> perm = g.nodes[tr].attr_ints("perm");
  if (perm.size() != 4) return false;
  std::swap(perm[2], perm[3]);
  g.nodes[tr].attributes["perm"] = ints_attribute(perm);  // now writes K [B, H, S, D]
  for (int m : matched) dead[m] = true;
  std::map<std::string, Attribute> attributes{{"scale", float_attribute(static_cast<float>(scale))}};
  // Q, K or V made by Transpose(x, [0, 2, 1, 3]) from [B, S, H, D] and read only here: the kernel
  // reads x in place through its row strides (attribute q_bsnh, k_bsnh, v_bsnh), and the
  // Transpose goes. Likewise an output read only by that Transpose is written as [B, S, H, D].
  const std::vector<int64_t> swap_seq_heads{0, 2, 1, 3};
  auto untransposed = [&](int value, int reader, const char* attribute) {
    const int t = value >= 0 ? g.values[value].producer : -1;
    if (!is_op(g, t, "Transpose") || only_reader(u, value) != reader || g.nodes[t].attr_ints("perm") != swap_seq_heads) return value;
    dead[t] = true;
    attributes[attribute] = int_attribute(1);
    return g.nodes[t].inputs[0];
  };
  std::vector<int> inputs{untransposed(q, qk, "q_bsnh"), untransposed(kt, qk, "k_bsnh"), untransposed(v, pv, "v_bsnh")};
  if (mask >= 0) inputs.push_back(mask);
  int out = g.nodes[pv].outputs[0];
  const int out_tr = only_reader(u, out);
  if (is_op(g, out_tr, "Transpose") && g.nodes[out_tr].attr_ints("perm") == swap_seq_heads) {
    dead[out_tr] = true;
    attributes["y_bsnh"] = int_attribute(1);
    out = g.nodes[out_tr].outputs[0];
  }
  if (where_fill) {
    attributes["mask_fill"] = float_attribute(static_cast<float>(*where_fill));
    attributes["mask_keep_value"] = int_attribute(where_keeps);
  }
  add_fused(g, dead, g.nodes[qk].name + "_fused_attention", "Attention", inputs, {out}, std::move(attributes));
  return true;
}

// MatMul(A, Transpose(constant 2-D W)) -> FusedMatMul(A, W) with transpose_b: the weight is packed
// transposed at session creation instead of being transposed (and packed) on every run — the
// tied LM head of GPT-2-style models.
bool fuse_transposed_weight(Graph& g, std::vector<bool>& dead, const Uses& u, int mm) {
  if (!is_op(g, mm, "MatMul")) return false;
  const int bt = g.nodes[mm].inputs[1];
  const int tr = bt >= 0 ? g.values[bt].producer : -1;
  if (!is_op(g, tr, "Transpose") || u.graph_output[bt]) return false;
  const int w = g.nodes[tr].inputs[0];
  if (!g.values[w].constant || g.values[w].constant->rank() != 2 || g.values[w].dtype != DType::Float32) return false;
  const std::vector<int64_t> perm = g.nodes[tr].attr_ints("perm", {1, 0});
  if (perm != std::vector<int64_t>{1, 0}) return false;
  if (only_reader(u, bt) == mm) dead[tr] = true;  // otherwise the Transpose stays for its other readers
  dead[mm] = true;
  add_fused(g, dead, g.nodes[mm].name + "_fused_matmul", "FusedMatMul", {g.nodes[mm].inputs[0], w}, {g.nodes[mm].outputs[0]},
            {{"activation", string_attribute("none")}, {"transpose_b", int_attribute(1)}});
  return true;
}

// Reshape(x, [0, G, -1]) -> InstanceNormalization(ones, zeros) -> Reshape(., Shape(x)) ->
// Mul(gamma [C, 1, ...]) -> Add(beta [C, 1, ...]): the GroupNorm PyTorch writes before opset 18
// -> GroupNormalization with per-channel scale and bias (opset 21 semantics).
bool fuse_group_norm(Graph& g, std::vector<bool>& dead, const Uses& u, int inorm) {
  if (!is_op(g, inorm, "InstanceNormalization")) return false;
  const Node& in = g.nodes[inorm];
  if (in.inputs.size() < 3) return false;
  auto all_equal = [&](int v, float want) {
    if (v < 0 || !g.values[v].constant || g.values[v].constant->dtype() != DType::Float32) return false;
    const Tensor& t = *g.values[v].constant;
    for (int64_t i = 0; i < t.numel(); ++i)
      if (t.data<float>()[i] != want) return false;
    return true;
  };
  if (!all_equal(in.inputs[1], 1.0f) || !all_equal(in.inputs[2], 0.0f)) return false;
  const int64_t groups = g.values[in.inputs[1]].constant->numel();
  const int r1 = in.inputs[0] >= 0 ? g.values[in.inputs[0]].producer : -1;
  if (!is_op(g, r1, "Reshape") || only_reader(u, in.inputs[0]) != inorm || g.nodes[r1].attr_int("allowzero", 0) != 0) return false;
  const int shape1 = g.nodes[r1].inputs[1];
  if (!g.values[shape1].constant || g.values[shape1].constant->numel() != 3) return false;
  const Tensor& s1 = *g.values[shape1].constant;
  if (s1.int_at(0) != 0 || s1.int_at(1) != groups || s1.int_at(2) != -1) return false;
  const int x = g.nodes[r1].inputs[0];
  const int r2 = only_reader(u, in.outputs[0]);
  if (!is_op(g, r2, "Reshape") || g.nodes[r2].inputs[0] != in.outputs[0]) return false;
  const int shape_node = g.values[g.nodes[r2].inputs[1]].producer;
  if (!is_op(g, shape_node, "Shape") || g.nodes[shape_node].inputs[0] != x || g.nodes[shape_node].attributes.count("start") ||
      g.nodes[shape_node].attributes.count("end"))
    return false;
  // The per-channel affine, both constants of shape [C, 1, ...].
  const int mul = only_reader(u, g.nodes[r2].outputs[0]);
  if (!is_op(g, mul, "Mul")) return false;
  const int gamma = other_input(g.nodes[mul], g.nodes[r2].outputs[0]);
  const int add = only_reader(u, g.nodes[mul].outputs[0]);
  if (!is_op(g, add, "Add")) return false;
  const int beta = other_input(g.nodes[add], g.nodes[mul].outputs[0]);
  auto per_channel = [&](int v) -> std::optional<Tensor> {
    if (v < 0 || !g.values[v].constant || g.values[v].constant->dtype() != DType::Float32) return std::nullopt;
    const Tensor& t = *g.values[v].constant;
    for (size_t d = 1; d < t.rank(); ++d)
      if (t.shape()[d] != 1) return std::nullopt;
    if (t.rank() == 0 || t.numel() % groups) return std::nullopt;
    return t.reshaped({t.numel()});
  };
  auto gt = per_channel(gamma), bt = per_channel(beta);
  if (!gt || !bt || gt->numel() != bt->numel()) return false;
  for (int m : {r1, inorm, r2, mul, add}) dead[m] = true;
  if (only_reader(u, g.nodes[r2].inputs[1]) == r2) dead[shape_node] = true;
  const int scale = add_constant(g, g.values[gamma].name + "_gn_scale", *gt), bias = add_constant(g, g.values[beta].name + "_gn_bias", *bt);
  add_fused(g, dead, g.nodes[inorm].name + "_fused_group_norm", "GroupNormalization", {x, scale, bias}, {g.nodes[add].outputs[0]},
            {{"num_groups", int_attribute(groups)}, {"epsilon", float_attribute(in.attr_float("epsilon", 1e-5f))}});
  return true;
}

// After shape inference. MatMul or FusedMatMul by a constant 2-D W [K, N] (with its bias and
// activation, which act column by column), read only by a Split of its last axis -> one product
// per part, on W's (and the bias's) column slices, each written straight into its part: a fused
// QKV projection's Split copied the whole product again (1.8 MB per ViT-B/16 layer). The Split's
// axis is only known to be the last once inference has given the product a rank.
bool split_product(Graph& g, std::vector<bool>& dead, const Uses& u, int mm) {
  const Node& m = g.nodes[mm];
  const bool fused = m.domain == kInternalDomain && m.op_type == "FusedMatMul" && m.attr_int("transpose_b", 0) == 0;
  if (!(fused || is_op(g, mm, "MatMul")) || m.inputs.size() < 2 || m.inputs[0] < 0 || m.inputs[1] < 0 || m.outputs.empty()) return false;
  const int w = m.inputs[1], bias = fused && m.inputs.size() > 2 ? m.inputs[2] : -1;
  if (!g.values[w].constant || g.values[w].constant->rank() != 2 || g.values[w].constant->dtype() != DType::Float32) return false;
  const Tensor& wt = *g.values[w].constant;
  const int64_t k = wt.shape()[0], n = wt.shape()[1];
  if (bias >= 0 && (!g.values[bias].constant || g.values[bias].constant->dtype() != DType::Float32 || g.values[bias].constant->numel() != n))
    return false;
  const int sp = only_reader(u, m.outputs[0]);
  if (sp < 0 || !g.nodes[sp].domain.empty() || g.nodes[sp].op_type != "Split" || g.nodes[sp].inputs.empty() ||
      g.nodes[sp].inputs[0] != m.outputs[0])
    return false;
  const Node& split = g.nodes[sp];
  const Value& prod = g.values[m.outputs[0]];
  if (!prod.shape || prod.shape->empty()) return false;
  const int64_t rank = static_cast<int64_t>(prod.shape->size());
  int64_t axis = split.attr_int("axis", 0);
  if (axis < 0) axis += rank;
  if (axis != rank - 1) return false;
  // The part sizes: the split input (opset 13+), the split attribute (before 13), or equal parts.
  const std::optional<std::vector<int64_t>> given = ints_attribute_or_input(g, split, "split");
  if (!given) return false;
  std::vector<int64_t> sizes = *given;
  const int64_t parts = static_cast<int64_t>(split.outputs.size());
  if (sizes.empty() && parts > 0 && n % parts == 0) sizes.assign(parts, n / parts);
  if (static_cast<int64_t>(sizes.size()) != parts || parts < 2) return false;
  int64_t total = 0;
  for (int64_t s : sizes) {
    if (s <= 0) return false;
    total += s;
  }
  if (total != n) return false;
  const Node product = m;  // copied: the nodes vector grows below
  const std::vector<int> outs = split.outputs;
  const bool w_elsewhere = u.graph_output[w] || u.readers[w].size() > 1;
  dead[mm] = true, dead[sp] = true;
  int64_t offset = 0;
  for (int64_t i = 0; i < parts; ++i) {
    const int64_t width = sizes[i];
    if (outs[i] >= 0) {
      const std::string suffix = "_part" + std::to_string(i);
      Tensor wi = Tensor::allocate(DType::Float32, {k, width});
      for (int64_t r = 0; r < k; ++r) std::copy_n(wt.data<float>() + r * n + offset, width, wi.data<float>() + r * width);
      Node part = product;
      part.name += suffix;
      part.inputs[1] = add_constant(g, g.values[w].name + suffix, std::move(wi));
      if (bias >= 0) {
        Tensor bi = Tensor::allocate(DType::Float32, {width});
        std::copy_n(g.values[bias].constant->data<float>() + offset, width, bi.data<float>());
        part.inputs[2] = add_constant(g, g.values[bias].name + suffix, std::move(bi));
      }
      part.outputs = {outs[i]};
      add_node(g, dead, std::move(part));
    }
    offset += width;
  }
  // The whole W is read by nothing now: its bytes go at once (past the tensor block cache, which
  // would keep them), so creation never holds these weights twice; the session drops unread
  // constants this way too, but only after every pass.
  if (!w_elsewhere) {
    g.values[w].constant = std::make_shared<const Tensor>(wt.without_data());
    release_cached_blocks();
  }
  return true;
}

// Removes dead nodes, dropping nodes whose outputs nothing reads (repeatedly), and fixes producers.
int compact(Graph& g, std::vector<bool>& dead, bool drop_unused) {
  if (drop_unused) {
    bool changed = true;
    while (changed) {
      changed = false;
      const Uses u = uses_of(g, dead);
      for (size_t n = 0; n < g.nodes.size(); ++n) {
        if (dead[n] || g.nodes[n].outputs.empty()) continue;
        bool used = false;
        for (int v : g.nodes[n].outputs)
          if (v >= 0 && (u.graph_output[v] || !u.readers[v].empty())) used = true;
        if (!used) dead[n] = true, changed = true;
      }
    }
  }
  std::vector<Node> kept;
  int removed = 0;
  for (size_t n = 0; n < g.nodes.size(); ++n) {
    if (dead[n]) {
      ++removed;
      continue;
    }
    kept.push_back(std::move(g.nodes[n]));
  }
  g.nodes = std::move(kept);
  for (Value& v : g.values) v.producer = -1;
  for (size_t n = 0; n < g.nodes.size(); ++n)
    for (int v : g.nodes[n].outputs)
      if (v >= 0) g.values[v].producer = static_cast<int>(n);
  dead.assign(g.nodes.size(), false);
  return removed;
}

using Pass = std::function<bool(Graph&, std::vector<bool>&, const Uses&, int)>;

// Each pass in turn, one sweep over the nodes each; a node a rewrite removed is skipped for the
// rest of the sweep. True when any rewrite was made.
bool run_passes(Graph& g, std::vector<bool>& dead, OptimizationReport& r, std::initializer_list<std::pair<const char*, Pass>> passes) {
  bool any = false;
  for (const auto& [name, pass] : passes) {
    const size_t count = g.nodes.size();
    Uses u = uses_of(g, dead);
    for (size_t n = 0; n < count; ++n) {
      if (dead[n]) continue;
      if (pass(g, dead, u, static_cast<int>(n))) {
        ++r.fired[name];
        any = true;
        u = uses_of(g, dead);
      }
    }
    compact(g, dead, false);
  }
  return any;
}

}  // namespace

OptimizationReport optimize_graph(Graph& g, OptimizationLevel level) {
  OptimizationReport r;
  r.nodes_before = static_cast<int>(g.nodes.size());
  r.nodes_after = r.nodes_before;
  if (level == OptimizationLevel::Off) return r;
  // Exporters write scalars as Constant nodes: give their outputs the value now, so patterns see
  // them (session creation folds them the same way afterwards).
  // Identity of a constant (PyTorch writes one per deduplicated initializer) is that constant.
  for (const Node& n : g.nodes) {
    if (!n.domain.empty() || n.outputs.size() != 1 || n.outputs[0] < 0) continue;
    std::shared_ptr<const Tensor> value;
    const Attribute* a = n.op_type == "Constant" ? n.find_attribute("value") : nullptr;
    if (a && a->kind == Attribute::Kind::Tensor && a->t) value = a->t;
    if (n.op_type == "Identity" && n.inputs.size() == 1 && n.inputs[0] >= 0) value = g.values[n.inputs[0]].constant;
    if (!value) continue;
    Value& v = g.values[n.outputs[0]];
    v.constant = value;
    v.dtype = value->dtype();
    v.shape = to_sym(value->shape());
  }
  std::vector<bool> dead(g.nodes.size(), false);
  const bool any = level == OptimizationLevel::All &&
                   run_passes(g, dead, r,
                              {{"layer_norm", fuse_layer_norm}, {"rms_norm", fuse_rms_norm}, {"group_norm", fuse_group_norm}, {"gelu", fuse_gelu},
                               {"gelu_tanh", fuse_gelu_tanh}, {"matmul_bias", fuse_matmul_bias}, {"attention", fuse_attention},
                               {"transposed_weight", fuse_transposed_weight}, {"skip_layer_norm", fuse_skip_layer_norm}});
  const int dropped = compact(g, dead, true);
  if (dropped) r.fired["dead_code"] += dropped;
  if (any) g.opsets[kInternalDomain] = 1;
  r.nodes_after = static_cast<int>(g.nodes.size());
  return r;
}

bool optimize_graph_with_shapes(Graph& g, OptimizationReport& r) {
  std::vector<bool> dead(g.nodes.size(), false);
  if (!run_passes(g, dead, r, {{"split_product", split_product}})) return false;
  trim_heap();  // the weights split_product replaced
  const int dropped = compact(g, dead, true);
  if (dropped) r.fired["dead_code"] += dropped;
  r.nodes_after = static_cast<int>(g.nodes.size());
  return true;
}

}  // namespace normrt
