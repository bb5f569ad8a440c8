#include "runtime/memory_plan.h"

#include <algorithm>
#include <numeric>

namespace normrt {

namespace {
size_t static_size(const Value& v) {
  if (!v.shape || !dtype_supported(v.dtype)) return 0;
  size_t n = dtype_size(v.dtype);
  for (const Dim& d : *v.shape) {
    if (!d.known()) return 0;
    n *= static_cast<size_t>(d.value);
  }
  return n;
}
// Same element type and rank, and no dim known to differ: equal known values, and unknown dims
// unless they carry two different names. Shape inference leaves some dims unknown and unnamed
// (through a broadcast, say) that are equal at run time, so this only rules out what surely
// differs; the executor computes over the input only when the shapes it holds are equal, and
// otherwise gives the output fresh memory (the slot then idles until the output's last use).
bool may_share_type_and_shape(const Value& a, const Value& b) {
  if (a.dtype != b.dtype || a.dtype == DType::Undefined || !a.shape || !b.shape || a.shape->size() != b.shape->size()) return false;
  for (size_t d = 0; d < a.shape->size(); ++d) {
    const Dim &x = (*a.shape)[d], &y = (*b.shape)[d];
    if (x.known() && y.known() && x.value != y.value) return false;
    if (!x.known() && !y.known() && !x.symbol.empty() && !y.symbol.empty() && x.symbol != y.symbol) return false;
  }
  return true;
}
}  // namespace

MemoryPlan plan_memory(const Graph& g, const std::vector<int>& order, const std::vector<bool>& runs,
                       const std::vector<int>& view_of_input, const std::vector<std::vector<int>>& in_place) {
  const int nv = static_cast<int>(g.values.size());
  MemoryPlan plan;
  plan.slot_of_value.assign(nv, -1);
  plan.in_place_input.assign(g.nodes.size(), -1);

  // root[v]: the value whose storage v uses (itself unless v is a view).
  std::vector<int> root(nv);
  std::iota(root.begin(), root.end(), 0);
  for (int n : order) {
    const Node& node = g.nodes[n];
    if (!runs[n] || view_of_input[n] < 0 || node.outputs.empty() || node.outputs[0] < 0) continue;
    const int in = node.inputs[view_of_input[n]];
    if (in >= 0) root[node.outputs[0]] = root[in];
  }
  std::vector<bool> is_output(nv, false);
  for (int v : g.outputs) is_output[v] = true;
  // A value is planned when a node computes it into fresh memory that nobody outside sees.
  std::vector<bool> planned(nv, false);
  for (int n : order) {
    if (!runs[n]) continue;
    for (int v : g.nodes[n].outputs)
      if (v >= 0 && root[v] == v && !is_output[v] && !g.values[v].constant) planned[v] = true;
  }
  // A graph output that is a view keeps its root alive to the end (the executor copies it out).
  const int end_pos = static_cast<int>(order.size());
  std::vector<int> last_use(nv, -1);
  for (int pos = 0; pos < end_pos; ++pos) {
    const int n = order[pos];
    if (!runs[n]) continue;
    for (int v : g.nodes[n].inputs)
      if (v >= 0) last_use[root[v]] = std::max(last_use[root[v]], pos);
    for (int v : g.nodes[n].outputs)
      if (v >= 0) last_use[root[v]] = std::max(last_use[root[v]], pos);
  }
  for (int v : g.outputs) last_use[root[v]] = end_pos;

  std::vector<int> free_slots;
  std::vector<std::vector<int>> release_at(end_pos + 1);
  for (int pos = 0; pos < end_pos; ++pos) {
    const int n = order[pos];
    if (!runs[n]) continue;
    const Node& node = g.nodes[n];
    // In place: output 0 takes the slot of an input this node reads last, of the same type and shape.
    if (n < static_cast<int>(in_place.size()) && !node.outputs.empty() && node.outputs[0] >= 0 && planned[node.outputs[0]]) {
      const int out = node.outputs[0];
      for (int i : in_place[n]) {
        const int in = i >= 0 && i < static_cast<int>(node.inputs.size()) ? node.inputs[i] : -1;
        if (in < 0 || !planned[in] || plan.slot_of_value[in] < 0 || last_use[in] != pos || !may_share_type_and_shape(g.values[in], g.values[out]))
          continue;
        const int slot = plan.slot_of_value[in];
        auto& rel = release_at[pos];
        rel.erase(std::find(rel.begin(), rel.end(), slot));  // the slot now lives on with the output
        plan.slot_of_value[out] = slot;
        ++plan.planned_values;
        ++plan.in_place_nodes;
        plan.in_place_input[n] = i;
        release_at[std::max(last_use[out], pos)].push_back(slot);
        break;
      }
    }
    for (int v : node.outputs) {
      if (v < 0 || !planned[v] || plan.slot_of_value[v] >= 0) continue;
      const size_t need = static_size(g.values[v]);
      // Best fit among free slots: the smallest known one that is large enough, else the largest.
      int pick = -1;
      for (size_t i = 0; i < free_slots.size(); ++i) {
        const int s = free_slots[i];
        if (pick < 0) { pick = static_cast<int>(i); continue; }
        const size_t cur = plan.static_bytes[free_slots[pick]], cand = plan.static_bytes[s];
        const bool cur_fits = cur >= need, cand_fits = cand >= need;
        if ((cand_fits && (!cur_fits || cand < cur)) || (!cand_fits && !cur_fits && cand > cur)) pick = static_cast<int>(i);
      }
      int slot;
      if (pick >= 0) {
        slot = free_slots[pick];
        free_slots.erase(free_slots.begin() + pick);
      } else {
        slot = plan.num_slots++;
        plan.static_bytes.push_back(0);
      }
      plan.static_bytes[slot] = std::max(plan.static_bytes[slot], need);
      plan.slot_of_value[v] = slot;
      ++plan.planned_values;
      release_at[std::max(last_use[v], pos)].push_back(slot);
    }
    // Slots whose value's last reader is this node become free for the nodes after it.
    for (int s : release_at[pos]) free_slots.push_back(s);
  }
  return plan;
}

}  // namespace normrt
