#include "onnx/ops/op_util.h"

#include <algorithm>

namespace normrt::onnx {

DType stash_type_of(const Node& n) {
  const int64_t stash = n.attr_int("stash_type", 1);
  const DType u = static_cast<DType>(stash);
  if (u != DType::Float32 && u != DType::Float64 && u != DType::BFloat16 && u != DType::Float16)
    fail(ErrorCode::InvalidModel, n.label() + ": stash_type " + std::to_string(stash) + " is not a floating-point type");
  return u;
}

std::optional<Shape> shape_but_batch(const ValueType& x) {
  if (!x.shape || x.shape->empty()) return std::nullopt;
  Shape s;
  for (size_t d = 0; d < x.shape->size(); ++d) {
    const Dim& v = (*x.shape)[d];
    if (!v.known() && d > 0) return std::nullopt;
    s.push_back(v.known() ? v.value : 1);
  }
  return s;
}

SymShape with_batch(const Shape& out, const ValueType& x) {
  SymShape r = to_sym(out);
  r[0] = (*x.shape)[0];
  return r;
}

std::optional<size_t> length_as_rank(const ValueType& v) {
  if (!v.shape || v.shape->size() != 1 || !(*v.shape)[0].known()) return std::nullopt;
  const int64_t n = (*v.shape)[0].value;
  if (n < 0 || n > kMaxInferredRank) return std::nullopt;
  return static_cast<size_t>(n);
}

int64_t normalize_axis(int64_t axis, int64_t rank, const InferContext& ctx, const std::string& what) {
  if (axis < -rank || axis >= rank)
    ctx.error(what + " " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
  return axis < 0 ? axis + rank : axis;
}

SymShape broadcast_sym(const SymShape& a, const SymShape& b, const InferContext& ctx) {
  const size_t rank = std::max(a.size(), b.size());
  SymShape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    Dim da = i < rank - a.size() ? Dim::of(1) : a[i - (rank - a.size())];
    Dim db = i < rank - b.size() ? Dim::of(1) : b[i - (rank - b.size())];
    if (da.known() && db.known()) {
      if (da.value != db.value && da.value != 1 && db.value != 1)
        ctx.error("shapes " + sym_shape_to_string(a) + " and " + sym_shape_to_string(b) + " do not broadcast");
      out[i] = da.value == 1 ? db : da;
    } else if (da.known()) {
      out[i] = da.value == 1 ? db : da;
    } else if (db.known()) {
      out[i] = db.value == 1 ? da : db;
    } else {
      out[i] = da == db ? da : Dim{};
    }
  }
  return out;
}

FloatIn float_in(const Tensor* t) {
  FloatIn r;
  if (!t) return r;
  if (t->dtype() == DType::Float32) {
    r.p = t->data<float>();
    return r;
  }
  r.buf.resize(std::max<int64_t>(t->numel(), 1));  // never null, even empty: kernels may memcpy 0 bytes from p
  visit_float(t->dtype(), [&]<class T>() {
    const T* src = t->data<T>();
    for (int64_t i = 0; i < t->numel(); ++i) r.buf[i] = static_cast<float>(kernels::compute_t<T>(src[i]));
  });
  r.p = r.buf.data();
  return r;
}

void FloatOut::commit() {
  if (!t || t->dtype() == DType::Float32) return;
  visit_float(t->dtype(), [&]<class T>() {
    T* dst = t->data<T>();
    for (int64_t i = 0; i < t->numel(); ++i) dst[i] = T(static_cast<kernels::compute_t<T>>(buf[i]));
  });
}

FloatOut float_out(Tensor* t) {
  FloatOut r;
  r.t = t;
  if (!t) return r;
  if (t->dtype() == DType::Float32) {
    r.p = t->data<float>();
  } else {
    r.buf.resize(std::max<int64_t>(t->numel(), 1));  // never null, even empty: null p means "no output"
    r.p = r.buf.data();
  }
  return r;
}

std::vector<const Tensor*> known_input_values(const InferContext& ctx) {
  std::vector<const Tensor*> ins;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) ins.push_back(ctx.has_input(i) ? ctx.input(i).value : nullptr);
  return ins;
}

}  // namespace normrt::onnx
