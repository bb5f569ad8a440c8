// normrt's own graph IR. It knows nothing of protobuf: onnx/loader.cpp translates a ModelProto into
// it, and everything after loading (passes, planning, execution) works on it alone.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime/dtype.h"
#include "runtime/tensor.h"

namespace normrt {

// One dimension of a shape known at session creation: a number, or a symbol ("batch") / unknown.
struct Dim {
  int64_t value = -1;  // >= 0 when known
  std::string symbol;  // the model's name for an unknown dim, may be empty
  bool known() const { return value >= 0; }
  static Dim of(int64_t v) { return Dim{v, {}}; }
  static Dim named(std::string s) { return Dim{-1, std::move(s)}; }
  bool operator==(const Dim& o) const { return known() ? value == o.value : (!o.known() && !symbol.empty() && symbol == o.symbol); }
};
using SymShape = std::vector<Dim>;
std::string sym_shape_to_string(const SymShape& s);

struct Attribute {
  enum class Kind { Float, Int, String, Tensor, Floats, Ints, Strings, Graph };
  Kind kind = Kind::Int;
  float f = 0;
  int64_t i = 0;
  std::string s;
  std::shared_ptr<const Tensor> t;
  std::vector<float> floats;
  std::vector<int64_t> ints;
  std::vector<std::string> strings;
};
const char* attribute_kind_name(Attribute::Kind k);
// Attributes of one kind, for code that writes nodes (graph passes, model builders, tests).
Attribute int_attribute(int64_t v);
Attribute float_attribute(float v);
Attribute string_attribute(std::string v);
Attribute ints_attribute(std::vector<int64_t> v);
Attribute tensor_attribute(const Tensor& t);

// A value: graph input, initializer, or node output.
struct Value {
  std::string name;
  DType dtype = DType::Undefined;
  std::optional<SymShape> shape;          // unknown rank when empty
  std::shared_ptr<const Tensor> constant; // initializers (and values folded at creation)
  int producer = -1;                      // index of the node that writes it, -1 if none
};

struct Node {
  std::string name;
  std::string op_type;
  std::string domain;  // "" is the default ONNX domain
  std::vector<int> inputs;   // value ids; -1 for an omitted optional input
  std::vector<int> outputs;  // value ids; -1 for an omitted optional output
  std::map<std::string, Attribute> attributes;

  // A label for error messages: `node 'name' (OpType)`.
  std::string label() const;
  const Attribute* find_attribute(const std::string& name) const;
  // Typed attribute access; a present attribute of the wrong kind is an InvalidModel error
  // that names the node and attribute.
  int64_t attr_int(const std::string& name, int64_t fallback) const;
  float attr_float(const std::string& name, float fallback) const;
  std::string attr_string(const std::string& name, const std::string& fallback) const;
  std::vector<int64_t> attr_ints(const std::string& name, std::vector<int64_t> fallback = {}) const;
  std::vector<float> attr_floats(const std::string& name, std::vector<float> fallback = {}) const;
  const Attribute& require_attribute(const std::string& name) const;
};

struct Graph {
  std::string model_label;  // file name or "<buffer>", used to prefix errors
  std::string name;
  std::string producer;
  // Model metadata, as the file gives it.
  std::string producer_version, domain, doc_string;
  int64_t model_version = 0;
  std::vector<std::pair<std::string, std::string>> metadata_props;
  std::map<std::string, int64_t> opsets;  // domain ("" = ai.onnx) -> version
  std::vector<Value> values;
  std::vector<Node> nodes;
  std::vector<int> inputs;   // graph inputs that are not initializers
  std::vector<int> outputs;

  int find_value(const std::string& name) const;  // -1 if absent
  int add_value(Value v);                          // throws on duplicate name
  // Opset the model imports for `domain` ("ai.onnx" is the same as ""); -1 if not imported.
  int64_t opset_for(const std::string& domain) const;

 private:
  std::map<std::string, int> by_name_;
};

// Node indices in an order where every node comes after the producers of its inputs. Throws
// InvalidModel naming a node on a cycle.
std::vector<int> topological_order(const Graph& g);

}  // namespace normrt
