#include "runtime/graph.h"

#include "runtime/error.h"

namespace normrt {

std::string sym_shape_to_string(const SymShape& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) r += ",";
    r += s[i].known() ? std::to_string(s[i].value) : (s[i].symbol.empty() ? "?" : s[i].symbol);
  }
  return r + "]";
}

Attribute int_attribute(int64_t v) {
  Attribute a;
  a.kind = Attribute::Kind::Int;
  a.i = v;
  return a;
}
Attribute float_attribute(float v) {
  Attribute a;
  a.kind = Attribute::Kind::Float;
  a.f = v;
  return a;
}
Attribute string_attribute(std::string v) {
  Attribute a;
  a.kind = Attribute::Kind::String;
  a.s = std::move(v);
  return a;
}
Attribute ints_attribute(std::vector<int64_t> v) {
  Attribute a;
  a.kind = Attribute::Kind::Ints;
  a.ints = std::move(v);
  return a;
}
Attribute tensor_attribute(const Tensor& t) {
  Attribute a;
  a.kind = Attribute::Kind::Tensor;
  a.t = std::make_shared<Tensor>(t);
  return a;
}

const char* attribute_kind_name(Attribute::Kind k) {
  switch (k) {
    case Attribute::Kind::Float: return "float";
    case Attribute::Kind::Int: return "int";
    case Attribute::Kind::String: return "string";
    case Attribute::Kind::Tensor: return "tensor";
    case Attribute::Kind::Floats: return "floats";
    case Attribute::Kind::Ints: return "ints";
    case Attribute::Kind::Strings: return "strings";
    case Attribute::Kind::Graph: return "graph";
  }
  return "?";
}

std::string Node::label() const {
  std::string r = "node '" + name + "' (" + op_type;
  if (!domain.empty() && domain != "ai.onnx") r += ", domain " + domain;
  return r + ")";
}

const Attribute* Node::find_attribute(const std::string& n) const {
  auto it = attributes.find(n);
  return it == attributes.end() ? nullptr : &it->second;
}

namespace {
const Attribute* typed(const Node& node, const std::string& name, Attribute::Kind kind) {
  const Attribute* a = node.find_attribute(name);
  if (a && a->kind != kind)
    fail(ErrorCode::InvalidModel, node.label() + ": attribute '" + name + "' must be of type " +
                                      attribute_kind_name(kind) + ", not " + attribute_kind_name(a->kind));
  return a;
}
}  // namespace

int64_t Node::attr_int(const std::string& n, int64_t fallback) const {
  const Attribute* a = typed(*this, n, Attribute::Kind::Int);
  return a ? a->i : fallback;
}
float Node::attr_float(const std::string& n, float fallback) const {
  const Attribute* a = typed(*this, n, Attribute::Kind::Float);
  return a ? a->f : fallback;
}
std::string Node::attr_string(const std::string& n, const std::string& fallback) const {
  const Attribute* a = typed(*this, n, Attribute::Kind::String);
  return a ? a->s : fallback;
}
std::vector<int64_t> Node::attr_ints(const std::string& n, std::vector<int64_t> fallback) const {
  const Attribute* a = typed(*this, n, Attribute::Kind::Ints);
  return a ? a->ints : fallback;
}
std::vector<float> Node::attr_floats(const std::string& n, std::vector<float> fallback) const {
  const Attribute* a = typed(*this, n, Attribute::Kind::Floats);
  return a ? a->floats : fallback;
}
const Attribute& Node::require_attribute(const std::string& n) const {
  const Attribute* a = find_attribute(n);
  if (!a) fail(ErrorCode::InvalidModel, label() + ": required attribute '" + n + "' is missing");
  return *a;
}

int Graph::find_value(const std::string& n) const {
  auto it = by_name_.find(n);
  return it == by_name_.end() ? -1 : it->second;
}

int Graph::add_value(Value v) {
  if (v.name.empty()) fail(ErrorCode::InvalidModel, model_label + ": a tensor has an empty name");
  if (by_name_.count(v.name))
    fail(ErrorCode::InvalidModel, model_label + ": tensor name '" + v.name + "' is defined twice");
  int id = static_cast<int>(values.size());
  by_name_[v.name] = id;
  values.push_back(std::move(v));
  return id;
}

int64_t Graph::opset_for(const std::string& domain) const {
  auto it = opsets.find(domain == "ai.onnx" ? "" : domain);
  return it == opsets.end() ? -1 : it->second;
}

std::vector<int> topological_order(const Graph& g) {
  // Kahn's algorithm; ties keep the file's node order so execution order is predictable.
  const int n = static_cast<int>(g.nodes.size());
  std::vector<int> pending(n, 0);
  std::vector<std::vector<int>> consumers(n);
  for (int i = 0; i < n; ++i)
    for (int v : g.nodes[i].inputs)
      if (v >= 0 && g.values[v].producer >= 0) {
        ++pending[i];
        consumers[g.values[v].producer].push_back(i);
      }
  std::vector<int> order, ready;
  for (int i = n - 1; i >= 0; --i)
    if (pending[i] == 0) ready.push_back(i);
  while (!ready.empty()) {
    int i = ready.back();
    ready.pop_back();
    order.push_back(i);
    std::vector<int> now_ready;
    for (int c : consumers[i])
      if (--pending[c] == 0) now_ready.push_back(c);
    // Push in reverse so the lowest index pops first.
    for (auto it = now_ready.rbegin(); it != now_ready.rend(); ++it) ready.push_back(*it);
  }
  if (static_cast<int>(order.size()) != n) {
    for (int i = 0; i < n; ++i)
      if (pending[i] > 0)
        fail(ErrorCode::InvalidModel, g.model_label + ": the graph has a cycle through " + g.nodes[i].label());
  }
  return order;
}

}  // namespace normrt
