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
}  // namespace

MemoryPlan plan_memory(const Graph& g, const std::vector<int>& order, const std::vector<bool>& runs,
                       const std::vector<int>& view_of_input) {
  const int nv = static_cast<int>(g.values.size());
  MemoryPlan plan;
  plan.slot_of_value.assign(nv, -1);

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
    for (int v : g.nodes[n].outputs) {
      if (v < 0 || !planned[v]) continue;
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
