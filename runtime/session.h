// A session owns a graph, one kernel per node, the execution order and the memory plan, all made
// once at creation. run() may be called from several threads at once: each call takes its own
// run state (buffers and thread arena) from a pool.
#pragma once
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "kernels/isa.h"
#include "runtime/graph.h"
#include "runtime/memory_plan.h"
#include "runtime/op_kernel.h"
#include "runtime/passes.h"

namespace normrt {

struct SessionOptions {
  int threads = 0;                       // 0: all hardware threads; 1: no worker threads
  kernels::Isa isa = kernels::Isa::Auto; // Auto: NORMRT_ISA if set, else the best this CPU has
  bool optimize = true;                  // false: level Off, whatever `level` says
  // Off: no graph rewrites; Basic: dead-code elimination; All: every fusion (runtime/passes.h).
  // Constant folding (evaluating what is known at creation) runs at every level.
  OptimizationLevel level = OptimizationLevel::All;
  bool profile = false;                  // record per-node timings of every run (Session::profile)
  // The largest single tensor accepted, in bytes: initializers and constants when loading, every
  // tensor a run computes (OutOfMemory naming the node otherwise). A hostile model's dims cannot
  // make normrt allocate more than this at once.
  size_t max_tensor_bytes = SIZE_MAX;
};

// Per-run controls.
struct RunOptions {
  // Another thread may set *cancel: the run then stops before its next node and throws an Error
  // with ErrorCode::Cancelled. Read, never written, by the run.
  const std::atomic<bool>* cancel = nullptr;
  // Optional, one per requested output: memory the output is written into (checked for element
  // type and shape); null entries get fresh tensors. The returned tensors then share it.
  std::vector<const Tensor*> bound_outputs;
};

// One node's execution in a profiled run; times in microseconds since the session was created.
struct NodeEvent {
  int64_t run = 0;  // the run's sequence number in this session
  int node = 0;     // index into graph().nodes
  double start_us = 0, duration_us = 0;
};

struct IoInfo {
  std::string name;
  DType dtype = DType::Undefined;
  std::optional<SymShape> shape;
};

// Creates the kernel for one node (the ONNX op registry, in practice).
using KernelResolver = std::function<std::unique_ptr<OpKernel>(const Graph&, const Node&)>;

class Session {
 public:
  Session(Graph graph, const KernelResolver& resolve, SessionOptions options = {});
  ~Session();

  const Graph& graph() const { return graph_; }
  const std::vector<IoInfo>& inputs() const { return inputs_; }
  const std::vector<IoInfo>& outputs() const { return outputs_; }
  const MemoryPlan& memory_plan() const { return plan_; }
  int threads() const { return threads_; }
  kernels::Isa isa() const { return isa_; }
  // What the graph passes rewrote at creation (empty when optimize was off).
  const OptimizationReport& optimization() const { return optimization_; }
  // Nodes whose outputs were computed at creation (Constant and the like); they never run.
  int folded_nodes() const;
  // Weights kept only in the packed form their kernels made at creation.
  int packed_only_constants() const { return dropped_constants_; }

  // Runs the graph. `inputs[i]` feeds the graph input named `input_names[i]`; returns the
  // outputs named in `output_names` (all graph outputs, in order, when it is empty).
  std::vector<Tensor> run(const std::vector<std::string>& input_names, const std::vector<Tensor>& inputs,
                          const std::vector<std::string>& output_names = {}) const;
  std::vector<Tensor> run(const std::vector<std::string>& input_names, const std::vector<Tensor>& inputs,
                          const std::vector<std::string>& output_names, const RunOptions& run_options) const;

  // Profiling (SessionOptions::profile): the node events of the runs so far, oldest first (at
  // most kMaxProfileEvents are kept; older ones are dropped and counted).
  bool profiling() const { return profile_; }
  std::vector<NodeEvent> profile() const;
  int64_t dropped_profile_events() const;
  void clear_profile() const;  // forget the events so far (a benchmark's warm-up runs)
  static constexpr size_t kMaxProfileEvents = size_t(1) << 20;

 private:
  struct RunState;
  std::unique_ptr<RunState> acquire() const;
  void release(std::unique_ptr<RunState> s) const;
  void infer_static();
  void fold_if_constant(int node, InferContext& ctx);
  void prepare_kernels();
  void find_shape_only_nodes();

  Graph graph_;
  std::vector<std::unique_ptr<OpKernel>> kernels_;  // per node
  std::vector<int> order_;
  std::vector<bool> runs_;
  std::vector<int> view_of_input_;
  // Nodes whose outputs depend on input shapes only, never on input data (find_shape_only_nodes):
  // each run state keeps their outputs and reuses them while the shapes stay the same. ReadsShape:
  // Shape or Size (reused while its input's shape is the same); FromInputs: reads only constants
  // and other shape-only outputs (reused while those are unchanged).
  enum class ShapeOnly : unsigned char { No, ReadsShape, FromInputs };
  std::vector<ShapeOnly> shape_only_;
  MemoryPlan plan_;
  int dropped_constants_ = 0;  // weights held only in packed form
  std::vector<IoInfo> inputs_, outputs_;
  int threads_;
  kernels::Isa isa_;
  OptimizationReport optimization_;
  bool profile_ = false;
  size_t max_tensor_bytes_ = SIZE_MAX;
  std::chrono::steady_clock::time_point created_;
  mutable std::mutex profile_mutex_;
  mutable std::vector<NodeEvent> events_;
  mutable int64_t runs_started_ = 0, dropped_events_ = 0;
  mutable std::mutex pool_mutex_;
  mutable std::vector<std::unique_ptr<RunState>> pool_;
};

// Reads NORMRT_ISA; Auto when unset. Throws InvalidArgument for an unknown name.
kernels::Isa isa_from_environment();
// The ISA a session will use: the requested one (or the environment's), checked against the CPU.
kernels::Isa choose_isa(kernels::Isa requested);

}  // namespace normrt
