// Buffer reuse: every intermediate value gets a slot, and a slot is handed to a new value once
// the last reader of its previous value has run. Slots are sized at run time (shapes may be
// dynamic), each to the largest value it ever holds.
#pragma once
#include <cstddef>
#include <vector>

#include "runtime/graph.h"

namespace normrt {

struct MemoryPlan {
  std::vector<int> slot_of_value;  // -1: not planned (inputs, constants, graph outputs, views)
  int num_slots = 0;
  int planned_values = 0;          // values that live in slots
  std::vector<size_t> static_bytes;  // per slot, the largest size known at creation (0 if unknown)
  // Per node: the input whose slot output 0 is computed over (in place), or -1.
  std::vector<int> in_place_input;
  int in_place_nodes = 0;
};

// `order` is the execution order; `runs[n]` is false for nodes that never run (folded);
// `view_of_input[n]` >= 0 when output 0 of node n is a view of that input (it then shares the
// input's storage, which must stay alive until the view's last reader). `in_place[n]` lists the
// inputs node n may compute output 0 over (OpKernel::in_place_inputs); one is used when it lives in
// a slot, this node is its last reader, and its type and shape may be output 0's (same type and
// rank, no dim known to differ; the executor checks the shapes it holds before sharing).
MemoryPlan plan_memory(const Graph& g, const std::vector<int>& order, const std::vector<bool>& runs,
                       const std::vector<int>& view_of_input, const std::vector<std::vector<int>>& in_place = {});

}  // namespace normrt
