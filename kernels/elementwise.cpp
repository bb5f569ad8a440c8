#include "kernels/elementwise.h"

#include <algorithm>

namespace normrt::kernels {

bool broadcast_shapes(const std::vector<int64_t>& a, const std::vector<int64_t>& b, std::vector<int64_t>& out) {
  const size_t rank = std::max(a.size(), b.size());
  out.assign(rank, 1);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1) return false;
    out[i] = da == 1 ? db : da;
  }
  return true;
}

BroadcastPlan make_broadcast_plan(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  std::vector<int64_t> out;
  broadcast_shapes(a, b, out);
  const size_t rank = out.size();
  // Left-pad both to the output rank, then give each dim a stride (0 where broadcast).
  auto padded = [&](const std::vector<int64_t>& s) {
    std::vector<int64_t> p(rank - s.size(), 1);
    p.insert(p.end(), s.begin(), s.end());
    return p;
  };
  std::vector<int64_t> pa = padded(a), pb = padded(b);
  std::vector<int64_t> sa(rank), sb(rank);
  int64_t ra = 1, rb = 1;
  for (size_t i = rank; i-- > 0;) {
    sa[i] = pa[i] == 1 ? 0 : ra;
    sb[i] = pb[i] == 1 ? 0 : rb;
    ra *= pa[i];
    rb *= pb[i];
  }
  BroadcastPlan p;
  p.numel = 1;
  for (int64_t d : out) p.numel *= d;
  // Merge dim i into the previous merged dim when both inputs keep the same contiguity
  // relation across the boundary. Dims of size 1 are dropped.
  for (size_t i = 0; i < rank; ++i) {
    if (out[i] == 1) continue;
    if (!p.out_shape.empty()) {
      int64_t& last = p.out_shape.back();
      bool a_ok = (sa[i] == 0 && p.a_stride.back() == 0) || (sa[i] != 0 && p.a_stride.back() == sa[i] * out[i]);
      bool b_ok = (sb[i] == 0 && p.b_stride.back() == 0) || (sb[i] != 0 && p.b_stride.back() == sb[i] * out[i]);
      if (a_ok && b_ok) {
        last *= out[i];
        p.a_stride.back() = sa[i];
        p.b_stride.back() = sb[i];
        continue;
      }
    }
    p.out_shape.push_back(out[i]);
    p.a_stride.push_back(sa[i]);
    p.b_stride.push_back(sb[i]);
  }
  if (p.out_shape.empty()) {
    p.out_shape = {1};
    p.a_stride = {0};
    p.b_stride = {0};
  }
  p.inner = p.out_shape.back();
  p.a_inner_stride = p.a_stride.back() != 0;
  p.b_inner_stride = p.b_stride.back() != 0;
  p.outer = p.inner == 0 ? 0 : p.numel / p.inner;
  if (p.numel == 0) p.outer = 0;
  return p;
}

}  // namespace normrt::kernels
