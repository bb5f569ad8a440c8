// Einsum: any equation (explicit or implicit output, "..." broadcasting, repeated letters for
// diagonals, sums over letters absent from the output). Two operands without repeated letters —
// the forms attention exports ("bhid,bhjd->bhij", "bhij,bhjd->bhid") — run as a batched SGEMM after
// laying the operands out as [batch, M, K] and [batch, K, N]; everything else runs as a plain loop
// over every letter's range, accumulating in double.
#include <algorithm>
#include <cctype>
#include <functional>
#include <map>

#include "kernels/gemm.h"
#include "kernels/layout.h"
#include "onnx/op_registry.h"
#include "onnx/ops/op_util.h"

namespace normrt::onnx {

namespace {

struct Equation {
  std::vector<std::string> inputs;  // one letter per dim; '.' letters stand for ellipsis dims
  std::string output;
  bool explicit_output = false;
};

Equation parse(const std::string& eq, const std::string& label) {
  Equation e;
  std::string s;
  for (char c : eq)
    if (c != ' ') s += c;
  const size_t arrow = s.find("->");
  const std::string lhs = arrow == std::string::npos ? s : s.substr(0, arrow);
  if (arrow != std::string::npos) e.output = s.substr(arrow + 2), e.explicit_output = true;
  size_t start = 0;
  for (;;) {
    const size_t comma = lhs.find(',', start);
    e.inputs.push_back(lhs.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  auto check = [&](const std::string& t) {
    size_t dots = 0;
    for (size_t i = 0; i < t.size(); ++i) {
      if (t.compare(i, 3, "...") == 0) {
        ++dots, i += 2;
        continue;
      }
      if (!std::isalpha(static_cast<unsigned char>(t[i]))) fail(ErrorCode::InvalidModel, label + ": bad equation '" + eq + "'");
    }
    if (dots > 1) fail(ErrorCode::InvalidModel, label + ": more than one ellipsis in a term of '" + eq + "'");
  };
  for (const auto& t : e.inputs) check(t);
  check(e.output);
  return e;
}

// Expands "..." in a term to `n` placeholder letters (unique chars above 'z').
std::string expand(const std::string& term, int64_t n) {
  const size_t p = term.find("...");
  if (p == std::string::npos) return term;
  std::string dots;
  for (int64_t i = 0; i < n; ++i) dots += static_cast<char>(0x7b + i);  // '{', '|', ... never letters
  return term.substr(0, p) + dots + term.substr(p + 3);
}

class Einsum final : public OpKernel {
 public:
  Einsum(std::string equation, std::string label) : eq_(parse(equation, label)), text_(std::move(equation)) {}

  // Letters per input and for the output, with ellipses expanded for these ranks; letter sizes.
  struct Resolved {
    std::vector<std::string> ins;
    std::string out;
    std::map<char, int64_t> size;
  };
  Resolved resolve(const std::vector<Shape>& shapes, const std::function<void(const std::string&)>& error) const {
    if (shapes.size() != eq_.inputs.size())
      error("the equation has " + std::to_string(eq_.inputs.size()) + " operands, the node " + std::to_string(shapes.size()));
    Resolved r;
    int64_t ell = 0;
    std::vector<int64_t> ell_dims;  // broadcast ellipsis dims
    for (size_t i = 0; i < shapes.size(); ++i) {
      const std::string& t = eq_.inputs[i];
      const bool has = t.find("...") != std::string::npos;
      const int64_t named = static_cast<int64_t>(t.size()) - (has ? 3 : 0);
      const int64_t n = static_cast<int64_t>(shapes[i].size()) - named;
      if (n < 0 || (!has && n != 0)) error("operand " + std::to_string(i) + " has rank " + std::to_string(shapes[i].size()) + " for '" + t + "'");
      ell = std::max(ell, n);
    }
    ell_dims.assign(ell, 1);
    for (size_t i = 0; i < shapes.size(); ++i) {
      const std::string& t = eq_.inputs[i];
      const size_t p = t.find("...");
      const int64_t n = static_cast<int64_t>(shapes[i].size()) - static_cast<int64_t>(t.size()) + (p == std::string::npos ? 0 : 3);
      std::string full = expand(t, ell);
      if (p != std::string::npos && n < ell) full.erase(p, ell - n);  // right-aligned broadcast
      for (size_t d = 0; d < full.size(); ++d) {
        const char c = full[d];
        const int64_t s = shapes[i][d];
        auto it = r.size.find(c);
        if (it == r.size.end() || it->second == 1) r.size[c] = s;
        else if (s != 1 && s != it->second)
          error("letter '" + std::string(1, c < 0x7b ? c : '.') + "' has sizes " + std::to_string(it->second) + " and " + std::to_string(s));
      }
      r.ins.push_back(full);
    }
    if (eq_.explicit_output) {
      r.out = expand(eq_.output, ell);
    } else {  // implicit: ellipsis dims, then letters appearing once, alphabetically
      r.out = expand("...", ell);
      std::map<char, int> count;
      for (const auto& t : r.ins)
        for (char c : t)
          if (c < 0x7b) ++count[c];
      for (const auto& [c, k] : count)
        if (k == 1) r.out += c;
    }
    for (char c : r.out)
      if (!r.size.count(c)) error("output letter '" + std::string(1, c) + "' is not in any operand");
    return r;
  }

  void infer(InferContext& ctx) const override {
    ctx.expect_type(0, kNumericTypes);
    std::vector<Shape> shapes;
    for (size_t i = 0; i < ctx.num_inputs(); ++i) {
      if (ctx.input(i).dtype != ctx.input(0).dtype) ctx.error("operands have different element types");
      if (!ctx.input(i).shape_known()) {
        ctx.output(0).dtype = ctx.input(0).dtype;
        return;
      }
      shapes.push_back(ctx.input(i).concrete_shape());
    }
    const Resolved r = resolve(shapes, [&](const std::string& e) { ctx.error(e); });
    Shape out;
    for (char c : r.out) out.push_back(r.size.at(c));
    ctx.output(0).dtype = ctx.input(0).dtype;
    ctx.output(0).shape = to_sym(out);
  }

  void compute(ComputeContext& ctx) const override {
    std::vector<Shape> shapes;
    for (const Tensor* t : ctx.inputs) shapes.push_back(t->shape());
    const Resolved r = resolve(shapes, [&](const std::string& e) { ctx.error(e); });
    Tensor& y = *ctx.outputs[0];
    if (y.dtype() == DType::Float32 && ctx.inputs.size() == 2 && gemm_form(ctx, r, y)) return;
    generic(ctx, r, y);
  }

 private:
  static bool unique_letters(const std::string& t) {
    std::string s = t;
    std::sort(s.begin(), s.end());
    return std::adjacent_find(s.begin(), s.end()) == s.end();
  }

  // Two float32 operands, no diagonals, no broadcast size-1 mismatches: batched SGEMM.
  bool gemm_form(const ComputeContext& ctx, const Resolved& r, Tensor& y) const {
    const std::string &a = r.ins[0], &b = r.ins[1], &o = r.out;
    if (!unique_letters(a) || !unique_letters(b) || !unique_letters(o)) return false;
    for (size_t i = 0; i < 2; ++i)
      for (size_t d = 0; d < r.ins[i].size(); ++d)
        if (ctx.inputs[i]->shape()[d] != r.size.at(r.ins[i][d])) return false;  // broadcasting: generic path
    std::string batch, m, n, k;
    auto in = [](const std::string& s, char c) { return s.find(c) != std::string::npos; };
    for (char c : o) {
      if (in(a, c) && in(b, c)) batch += c;
      else if (in(a, c)) m += c;
      else if (in(b, c)) n += c;
      else return false;
    }
    for (char c : a)
      if (!in(o, c)) {
        if (!in(b, c)) return false;  // summed over in one operand only: generic path
        k += c;
      }
    for (char c : b)
      if (!in(o, c) && !in(a, c)) return false;
    auto prod = [&](const std::string& s) {
      int64_t p = 1;
      for (char c : s) p *= r.size.at(c);
      return p;
    };
    const int64_t nb = prod(batch), nm = prod(m), nn = prod(n), nk = prod(k);
    // Lay A out as [batch, m, k] and B as [batch, k, n] (transposes only when needed).
    auto arrange = [&](const Tensor& t, const std::string& have, const std::string& want) {
      std::vector<int64_t> perm;
      for (char c : want) perm.push_back(static_cast<int64_t>(have.find(c)));
      bool identity = true;
      for (size_t i = 0; i < perm.size(); ++i) identity &= perm[i] == static_cast<int64_t>(i);
      if (identity) return t;
      Shape out;
      for (int64_t p : perm) out.push_back(t.shape()[p]);
      Tensor u = Tensor::allocate(DType::Float32, out);
      const int64_t row = out.empty() ? 1 : out.back();
      if (u.numel()) kernels::transpose_rows(t.raw(), u.raw(), sizeof(float), t.shape(), perm, 0, u.numel() / row);
      return u;
    };
    const Tensor at = arrange(*ctx.inputs[0], a, batch + m + k), bt = arrange(*ctx.inputs[1], b, batch + k + n);
    // The product lands as [batch, m, n]; the output may order its letters differently.
    const std::string natural = batch + m + n;
    Tensor prodt = natural == o ? y : Tensor::allocate(DType::Float32, [&] {
      Shape s;
      for (char c : natural) s.push_back(r.size.at(c));
      return s;
    }());
    const kernels::GemmPrimitives& gk = kernels::gemm_primitives(ctx.isa);
    ctx.parallel.for_range(nb, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t bi = b0; bi < b1; ++bi)
        kernels::sgemm_rows(gk, nn, nk, at.data<float>() + bi * nm * nk, nk, bt.data<float>() + bi * nk * nn, nn,
                            prodt.data<float>() + bi * nm * nn, nn, 0, nm);
    });
    if (natural != o) {
      std::vector<int64_t> perm;
      for (char c : o) perm.push_back(static_cast<int64_t>(natural.find(c)));
      const int64_t row = y.rank() ? y.shape().back() : 1;
      if (y.numel()) kernels::transpose_rows(prodt.raw(), y.raw(), sizeof(float), prodt.shape(), perm, 0, y.numel() / row);
    }
    return true;
  }

  // Every combination of every letter: out[out letters] += prod of operands (double accumulator).
  void generic(const ComputeContext& ctx, const Resolved& r, Tensor& y) const {
    std::string letters;
    for (const auto& [c, s] : r.size) letters += c;
    std::map<char, size_t> pos;
    for (size_t i = 0; i < letters.size(); ++i) pos[letters[i]] = i;
    std::vector<int64_t> dims;
    int64_t total = 1;
    for (char c : letters) dims.push_back(r.size.at(c)), total *= r.size.at(c);
    // Per operand and output: stride of each letter (0 where absent or broadcast).
    auto strides_of = [&](const std::string& t, const Shape& shape) {
      std::vector<int64_t> st(letters.size(), 0);
      int64_t acc = 1;
      for (size_t d = t.size(); d-- > 0;) {
        if (shape[d] != 1) st[pos[t[d]]] += acc;
        acc *= shape[d];
      }
      return st;
    };
    std::vector<std::vector<int64_t>> in_strides;
    for (size_t i = 0; i < r.ins.size(); ++i) in_strides.push_back(strides_of(r.ins[i], ctx.inputs[i]->shape()));
    const std::vector<int64_t> out_strides = strides_of(r.out, y.shape());
    visit_numeric(y.dtype(), [&]<class T>() {
      using C = kernels::compute_t<T>;
      std::vector<double> acc(static_cast<size_t>(y.numel()), 0.0);
      std::vector<int64_t> idx(letters.size(), 0), off(r.ins.size(), 0);
      int64_t out_off = 0;
      for (int64_t i = 0; i < total; ++i) {
        double v = 1.0;
        for (size_t o = 0; o < r.ins.size(); ++o) v *= double(C(ctx.inputs[o]->data<T>()[off[o]]));
        acc[out_off] += v;
        for (size_t d = letters.size(); d-- > 0;) {
          for (size_t o = 0; o < r.ins.size(); ++o) off[o] += in_strides[o][d];
          out_off += out_strides[d];
          if (++idx[d] < dims[d]) break;
          for (size_t o = 0; o < r.ins.size(); ++o) off[o] -= in_strides[o][d] * dims[d];
          out_off -= out_strides[d] * dims[d];
          idx[d] = 0;
        }
      }
      for (int64_t i = 0; i < y.numel(); ++i) y.data<T>()[i] = T(static_cast<C>(acc[i]));
    });
  }

  Equation eq_;
  std::string text_;
};

}  // namespace

void register_einsum_ops(OpRegistry& r) {
  r.add("", "Einsum", 12, kMaxDefaultOpset, [](const Node& n, int64_t) -> std::unique_ptr<OpKernel> {
    return std::make_unique<Einsum>(n.attr_string("equation", ""), n.label());
  });
}

}  // namespace normrt::onnx
