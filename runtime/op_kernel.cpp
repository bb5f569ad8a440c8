#include "runtime/op_kernel.h"

namespace normrt {

bool ValueType::shape_known() const {
  if (!shape) return false;
  for (const Dim& d : *shape)
    if (!d.known()) return false;
  return true;
}

Shape ValueType::concrete_shape() const {
  Shape s;
  if (shape)
    for (const Dim& d : *shape) s.push_back(d.value);
  return s;
}

SymShape to_sym(const Shape& s) {
  SymShape r;
  r.reserve(s.size());
  for (int64_t d : s) r.push_back(Dim::of(d));
  return r;
}

const ValueType& InferContext::input(size_t i) const {
  if (!has_input(i)) error("required input " + std::to_string(i) + " is missing");
  return inputs_[i];
}

void InferContext::error(const std::string& what) const {
  fail(at_run_ ? ErrorCode::RuntimeError : ErrorCode::InvalidModel, node_.label() + ": " + what);
}

void InferContext::unsupported(const std::string& what) const {
  fail(ErrorCode::NotImplemented, node_.label() + ": " + what);
}

void InferContext::set_value(size_t o, Tensor t) {
  owned_.push_back(std::move(t));
  ValueType& out = outputs_.at(o);
  out.dtype = owned_.back().dtype();
  out.shape = to_sym(owned_.back().shape());
  out.value = &owned_.back();
}

void InferContext::expect_type(size_t i, std::initializer_list<DType> allowed) const {
  expect_type(i, std::vector<DType>(allowed));
}

void InferContext::expect_type(size_t i, const std::vector<DType>& allowed) const {
  DType t = input(i).dtype;
  for (DType a : allowed)
    if (a == t) return;
  unsupported("input " + std::to_string(i) + " has element type " + dtype_name(t) + ", which this op does not support");
}

void ComputeContext::error(const std::string& what) const {
  fail(ErrorCode::RuntimeError, node.label() + ": " + what);
}

}  // namespace normrt
