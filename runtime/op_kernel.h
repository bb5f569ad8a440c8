// What the executor knows of an op: a kernel object created once per node at session creation
// (attributes parsed and checked there), asked for output types/shapes, then run.
#pragma once
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "kernels/isa.h"
#include "runtime/error.h"
#include "runtime/graph.h"
#include "runtime/parallel.h"
#include "runtime/tensor.h"

namespace normrt {

// Type and (possibly symbolic) shape of a value, plus its contents when known (initializers,
// Constant outputs; at run time, every input).
struct ValueType {
  DType dtype = DType::Undefined;
  std::optional<SymShape> shape;
  const Tensor* value = nullptr;
  bool present() const { return dtype != DType::Undefined; }
  bool shape_known() const;  // rank and every dim known
  Shape concrete_shape() const;
};

SymShape to_sym(const Shape& s);

class InferContext {
 public:
  InferContext(const Node& node, std::vector<ValueType> inputs, size_t num_outputs, bool at_run)
      : node_(node), inputs_(std::move(inputs)), outputs_(num_outputs), at_run_(at_run) {}
  const Node& node() const { return node_; }
  size_t num_inputs() const { return inputs_.size(); }
  bool has_input(size_t i) const { return i < inputs_.size() && inputs_[i].present(); }
  // The i-th input; an InvalidModel error naming the node if it is required and missing.
  const ValueType& input(size_t i) const;
  size_t num_outputs() const { return outputs_.size(); }
  // The i-th output; an error naming the node if the node has fewer (a malformed file).
  ValueType& output(size_t i) {
    if (i >= outputs_.size()) error("has no output " + std::to_string(i) + " (the node lists " + std::to_string(outputs_.size()) + ")");
    return outputs_[i];
  }
  std::vector<ValueType>& outputs() { return outputs_; }
  bool at_run() const { return at_run_; }
  // Errors found while inferring: InvalidModel at session creation, RuntimeError at run time
  // (when they depend on input data or dynamic dims).
  [[noreturn]] void error(const std::string& what) const;
  [[noreturn]] void unsupported(const std::string& what) const;
  // Throws unless the input's type is one of `allowed`.
  void expect_type(size_t i, std::initializer_list<DType> allowed) const;
  void expect_type(size_t i, const std::vector<DType>& allowed) const;
  // Gives output o a value known during inference (Shape of a known shape, ...): downstream ops
  // read it to infer their shapes, and at session creation the node is folded away. The context
  // keeps the tensor alive; output o's type and shape are set from it.
  void set_value(size_t o, Tensor t);

 private:
  const Node& node_;
  std::vector<ValueType> inputs_;
  std::vector<ValueType> outputs_;
  bool at_run_;
  std::deque<Tensor> owned_;
};

struct ComputeContext {
  const Node& node;
  std::vector<const Tensor*> inputs;  // nullptr for omitted optional inputs
  std::vector<Tensor*> outputs;       // allocated to the inferred shapes; nullptr if omitted
  const Parallel& parallel;
  kernels::Isa isa;                   // resolved, never Auto
  [[noreturn]] void error(const std::string& what) const;
};

class OpKernel {
 public:
  virtual ~OpKernel() = default;
  virtual void infer(InferContext& ctx) const = 0;
  virtual void compute(ComputeContext& ctx) const = 0;
  // >= 0 when output 0 holds exactly the bytes of that input (Identity, Reshape): the executor
  // then makes it a view instead of running compute.
  virtual int output_aliases_input() const { return -1; }
  // Inputs output 0 may be computed over when that input has output 0's element type and shape
  // and nothing reads it afterwards: the kernel never reads an element of that input after writing
  // the output at that position or at any position it reads later. Element-wise ops qualify (y[i]
  // depends on x[i] alone), and so do the normalizations and Softmax (each row or group is read
  // whole for its statistics, then written, and never read again). Another input that shares the
  // storage (a view) has the same number of elements, so it is read at the position being written
  // too. The planner checks the rest.
  virtual std::vector<int> in_place_inputs() const { return {}; }
  // True when, after prepare(), compute no longer reads the data of constant input i (it packed a
  // copy): the session then drops the unpacked bytes and keeps only the type and shape.
  virtual bool consumes_constant_input(size_t i) const {
    (void)i;
    return false;
  }
  // Called once at session creation, after shape inference, with the inputs whose values are
  // known then (initializers, folded constants; null for the others), every input's shape as
  // inference left it (dims may be symbolic; nullopt when not even the rank is known) and the
  // session's kernel ISA: the place to pack constant weights. Runs before any run; must leave the
  // kernel const-safe.
  virtual void prepare(const std::vector<const Tensor*>& constant_inputs, const std::vector<std::optional<SymShape>>& input_shapes,
                       kernels::Isa isa) {
    (void)constant_inputs;
    (void)input_shapes;
    (void)isa;
  }
};

}  // namespace normrt
