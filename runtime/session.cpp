#include "runtime/session.h"

#include <cstdlib>
#include <cstring>
#include <map>
#include <utility>

#include "runtime/error.h"
#include "runtime/log.h"
#include "runtime/parallel.h"

namespace normrt {

kernels::Isa isa_from_environment() {
  const char* env = std::getenv("NORMRT_ISA");
  if (!env || !*env) return kernels::Isa::Auto;
  bool ok;
  kernels::Isa isa = kernels::isa_from_string(env, &ok);
  if (!ok) fail(ErrorCode::InvalidArgument, std::string("NORMRT_ISA='") + env + "' is not one of auto, scalar, avx2, avx512, neon");
  return isa;
}

kernels::Isa choose_isa(kernels::Isa requested) {
  kernels::Isa isa = requested == kernels::Isa::Auto ? isa_from_environment() : requested;
  if (!kernels::isa_available(isa))
    fail(ErrorCode::InvalidArgument, std::string("ISA '") + kernels::isa_name(isa) + "' is not available on this CPU");
  return kernels::resolve_isa(isa);
}

struct Session::RunState {
  explicit RunState(int threads) : parallel(threads) {}
  Parallel parallel;
  std::vector<std::shared_ptr<void>> slot_storage;
  std::vector<size_t> slot_capacity;
  // The outputs of shape-only nodes as the last run made them (find_shape_only_nodes): memo[v]
  // per value, memo_has and memo_shape (a Shape or Size node's input shape then) per node.
  std::vector<Tensor> memo;
  std::vector<char> memo_has;
  std::vector<Shape> memo_shape;
  std::vector<size_t> memo_node_bytes;
  size_t memo_bytes = 0;
};

namespace {
// The most bytes of shape-only outputs one run state keeps (GPT-2 small at sequence 512: 3.25 MiB
// a layer, 39 MiB in all, for the [512, 1024] and [512, 512] float slices of its [1024, 1024]
// causal-mask buffer and the bool mask); a node that would pass it is computed every run instead.
constexpr size_t kMaxMemoBytes = size_t(64) << 20;
}  // namespace

Session::Session(Graph graph, const KernelResolver& resolve, SessionOptions options)
    : graph_(std::move(graph)), profile_(options.profile), max_tensor_bytes_(options.max_tensor_bytes),
      created_(std::chrono::steady_clock::now()) {
  isa_ = choose_isa(options.isa);
  threads_ = Parallel(options.threads).threads();
  const OptimizationLevel level = options.optimize ? options.level : OptimizationLevel::Off;
  optimization_ = optimize_graph(graph_, level);
  auto build = [&] {
    const size_t n = graph_.nodes.size();
    // Kernels first: an unsupported op fails here, naming the node, before anything else is done.
    kernels_.clear();
    kernels_.resize(n);
    for (size_t i = 0; i < n; ++i) kernels_[i] = resolve(graph_, graph_.nodes[i]);
    order_ = topological_order(graph_);
    runs_.assign(n, true);
    view_of_input_.assign(n, -1);
    for (size_t i = 0; i < n; ++i) view_of_input_[i] = kernels_[i]->output_aliases_input();
    infer_static();
  };
  build();
  // The passes that need inferred shapes; a rewrite means new nodes: kernels and inference again.
  if (level == OptimizationLevel::All && optimize_graph_with_shapes(graph_, optimization_)) build();
  const size_t n = graph_.nodes.size();
  prepare_kernels();
  std::vector<std::vector<int>> in_place(n);
  for (size_t i = 0; i < n; ++i) in_place[i] = kernels_[i]->in_place_inputs();
  plan_ = plan_memory(graph_, order_, runs_, view_of_input_, in_place);
  find_shape_only_nodes();
  for (int v : graph_.inputs) inputs_.push_back({graph_.values[v].name, graph_.values[v].dtype, graph_.values[v].shape});
  for (int v : graph_.outputs) outputs_.push_back({graph_.values[v].name, graph_.values[v].dtype, graph_.values[v].shape});
  log(LogLevel::Info, [&] {
    std::string fired;
    for (const auto& [name, count] : optimization_.fired) fired += " " + name + "=" + std::to_string(count);
    return graph_.model_label + ": session ready: " + std::to_string(graph_.nodes.size()) + " nodes (" +
           std::to_string(folded_nodes()) + " folded), ISA " + kernels::isa_name(isa_) + ", " + std::to_string(threads_) +
           " threads, " + std::to_string(plan_.num_slots) + " buffers (" + std::to_string(plan_.in_place_nodes) + " nodes in place), " +
           std::to_string(dropped_constants_) + " weights kept packed only; fusions:" + (fired.empty() ? " none" : fired);
  });
}

std::vector<NodeEvent> Session::profile() const {
  std::lock_guard<std::mutex> lock(profile_mutex_);
  return events_;
}

void Session::clear_profile() const {
  std::lock_guard<std::mutex> lock(profile_mutex_);
  events_.clear();
  dropped_events_ = 0;
}

int64_t Session::dropped_profile_events() const {
  std::lock_guard<std::mutex> lock(profile_mutex_);
  return dropped_events_;
}

Session::~Session() = default;

int Session::folded_nodes() const {
  int c = 0;
  for (bool r : runs_) c += !r;
  return c;
}

// Constant folding: a node whose present inputs are all known at session creation (initializers,
// folded outputs) and whose outputs have known shapes is run once here on one thread, and its
// outputs become constants; with shapes known up front this folds whole Shape-driven subgraphs.
// Outputs above kMaxFoldBytes stay computed per run rather than held for the session's lifetime.
void Session::fold_if_constant(int n, InferContext& ctx) {
  constexpr size_t kMaxFoldBytes = size_t(16) << 20;
  const Node& node = graph_.nodes[n];
  std::vector<const Tensor*> ins;
  for (size_t i = 0; i < node.inputs.size(); ++i) {
    const int v = node.inputs[i];
    if (v >= 0 && !graph_.values[v].constant) return;
    ins.push_back(v >= 0 ? graph_.values[v].constant.get() : nullptr);
  }
  if (node.inputs.empty() || node.outputs.empty()) return;
  std::vector<Tensor> outs(node.outputs.size());
  std::vector<Tensor*> out_ptrs;
  for (size_t o = 0; o < node.outputs.size(); ++o) {
    if (node.outputs[o] < 0) {
      out_ptrs.push_back(nullptr);
      continue;
    }
    const ValueType& ot = ctx.output(o);
    if (ot.value) return;  // the op gave its value already
    if (!ot.shape_known() || ot.dtype == DType::Undefined || dtype_size(ot.dtype) == 0) return;
    const Shape shape = ot.concrete_shape();
    if (checked_bytes(ot.dtype, checked_numel(shape, node.label()), node.label()) > kMaxFoldBytes) return;
    if (o == 0 && view_of_input_[n] >= 0) {
      outs[o] = ins[view_of_input_[n]]->reshaped(shape);
    } else {
      outs[o] = Tensor::allocate(ot.dtype, shape, node.label());
    }
    out_ptrs.push_back(&outs[o]);
  }
  if (!(view_of_input_[n] >= 0 && node.outputs.size() == 1)) {
    static const Parallel one_thread(1);
    ComputeContext cctx{node, ins, out_ptrs, one_thread, isa_};
    kernels_[n]->compute(cctx);
  }
  for (size_t o = 0; o < node.outputs.size(); ++o)
    if (node.outputs[o] >= 0) ctx.set_value(o, std::move(outs[o]));
}

// The nodes computed every run whose outputs depend on the input shapes only: Shape and Size, and
// nodes whose inputs are all constants or outputs of such nodes (the position ids, causal masks and
// Reshape targets exporters compute from Shape). A run reuses their outputs from the previous run
// of its run state while every Shape and Size node sees the shapes it saw then: GPT-2 small runs
// 159 nodes instead of 465 (2.6 ms of them per run at sequence 128, mostly slicing causal masks),
// BERT-base 164 instead of 401. Paired runs: GPT-2 s128 1.009x at 1 thread and 1.019x at 2,
// BERT-base s128 1.010x at 2; the tiny GPT-2 and BERT models (runs of 0.1 ms) 1.42x and 1.37x.
// A node writing a graph output is left out (outputs are the caller's), as is anything without
// outputs.
void Session::find_shape_only_nodes() {
  const Graph& g = graph_;
  shape_only_.assign(g.nodes.size(), ShapeOnly::No);
  std::vector<bool> is_output(g.values.size(), false);
  for (int v : g.outputs) is_output[v] = true;
  for (int n : order_) {
    const Node& node = g.nodes[n];
    if (!runs_[n] || node.outputs.empty() || node.inputs.empty()) continue;
    bool ok = true;
    for (int v : node.outputs) ok = ok && v >= 0 && !is_output[v];
    if (!ok) continue;
    const bool shape_of = node.domain.empty() && (node.op_type == "Shape" || node.op_type == "Size");
    if (shape_of) {
      if (node.inputs[0] >= 0) shape_only_[n] = ShapeOnly::ReadsShape;
      continue;
    }
    for (int v : node.inputs)
      if (v >= 0 && !g.values[v].constant && !(g.values[v].producer >= 0 && shape_only_[g.values[v].producer] != ShapeOnly::No)) ok = false;
    if (ok) shape_only_[n] = ShapeOnly::FromInputs;
  }
}

// A weight every reader packed at prepare() is held twice (unpacked and packed): its unpacked
// bytes are dropped as soon as the last reader has packed it (so creation never holds all weights
// twice), keeping a data-less tensor of the same type and shape for inference. So go the constants
// only folded nodes read (an initializer behind the Identity PyTorch writes for a shared weight:
// both values hold one tensor). For a BERT-base model that is 340 MB of a 780 MB peak.
void Session::prepare_kernels() {
  const size_t nv = graph_.values.size();
  std::vector<int> pending(nv, 0);  // running readers not yet prepared
  std::vector<bool> needed(nv, false);
  for (int v : graph_.outputs) needed[v] = true;
  for (int n : order_)
    if (runs_[n])
      for (int v : graph_.nodes[n].inputs)
        if (v >= 0) ++pending[v];
  auto drop = [&](int v) {
    Value& val = graph_.values[v];
    if (needed[v] || pending[v] > 0 || !val.constant || !val.constant->raw()) return;
    val.constant = std::make_shared<const Tensor>(val.constant->without_data());
    ++dropped_constants_;
  };
  for (size_t v = 0; v < nv; ++v) drop(static_cast<int>(v));  // read by folded nodes only
  for (int n : order_) {
    if (!runs_[n]) continue;
    const Node& node = graph_.nodes[n];
    std::vector<const Tensor*> constants;
    std::vector<std::optional<SymShape>> shapes;
    for (int v : node.inputs) {
      constants.push_back(v >= 0 ? graph_.values[v].constant.get() : nullptr);
      shapes.push_back(v >= 0 ? graph_.values[v].shape : std::nullopt);
    }
    kernels_[n]->prepare(constants, shapes, isa_);
    bool dropped = false;
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      const int v = node.inputs[i];
      if (v < 0) continue;
      --pending[v];
      if (!graph_.values[v].constant) continue;
      if (!kernels_[n]->consumes_constant_input(i)) needed[v] = true;
      const int before = dropped_constants_;
      drop(v);
      dropped |= dropped_constants_ != before;
    }
    if (dropped) release_cached_blocks();  // to malloc, for the packing that follows
  }
  if (dropped_constants_) trim_heap();
}

void Session::infer_static() {
  for (int v : graph_.inputs)
    if (graph_.values[v].dtype == DType::Undefined)
      fail(ErrorCode::InvalidModel, graph_.model_label + ": graph input '" + graph_.values[v].name + "' has no element type");
  for (int n : order_) {
    const Node& node = graph_.nodes[n];
    std::vector<ValueType> ins;
    for (int v : node.inputs) {
      ValueType vt;
      if (v >= 0) {
        const Value& val = graph_.values[v];
        vt.dtype = val.dtype;
        vt.shape = val.shape;
        vt.value = val.constant.get();
      }
      ins.push_back(std::move(vt));
    }
    InferContext ctx(node, std::move(ins), node.outputs.size(), false);
    try {
      kernels_[n]->infer(ctx);
    } catch (const Error& e) {
      fail(e.code(), graph_.model_label + ": " + e.what());
    }
    fold_if_constant(n, ctx);
    bool folded = !node.outputs.empty();
    for (size_t o = 0; o < node.outputs.size(); ++o) {
      const int v = node.outputs[o];
      if (v < 0) continue;
      Value& val = graph_.values[v];
      const ValueType& out = ctx.output(o);
      if (out.dtype == DType::Undefined)
        fail(ErrorCode::InvalidModel, graph_.model_label + ": " + node.label() + ": output " + std::to_string(o) + " has no type");
      val.dtype = out.dtype;
      if (out.shape) val.shape = out.shape;
      if (out.value)
        val.constant = std::make_shared<Tensor>(*out.value);
      else
        folded = false;
    }
    if (folded) runs_[n] = false;
  }
}

std::unique_ptr<Session::RunState> Session::acquire() const {
  {
    std::lock_guard<std::mutex> lock(pool_mutex_);
    if (!pool_.empty()) {
      auto s = std::move(pool_.back());
      pool_.pop_back();
      return s;
    }
  }
  auto s = std::make_unique<RunState>(threads_);
  s->slot_storage.resize(plan_.num_slots);
  s->slot_capacity.assign(plan_.num_slots, 0);
  s->memo.resize(graph_.values.size());
  s->memo_has.assign(graph_.nodes.size(), 0);
  s->memo_shape.resize(graph_.nodes.size());
  s->memo_node_bytes.assign(graph_.nodes.size(), 0);
  return s;
}

void Session::release(std::unique_ptr<RunState> s) const {
  std::lock_guard<std::mutex> lock(pool_mutex_);
  pool_.push_back(std::move(s));
}

namespace {
std::string names_of(const Graph& g, const std::vector<int>& ids) {
  std::string r;
  for (int v : ids) r += (r.empty() ? "" : ", ") + g.values[v].name;
  return r;
}
}  // namespace

std::vector<Tensor> Session::run(const std::vector<std::string>& input_names, const std::vector<Tensor>& inputs,
                                 const std::vector<std::string>& output_names) const {
  return run(input_names, inputs, output_names, RunOptions{});
}

std::vector<Tensor> Session::run(const std::vector<std::string>& input_names, const std::vector<Tensor>& inputs,
                                 const std::vector<std::string>& output_names, const RunOptions& run_options) const {
  const Graph& g = graph_;
  using clock = std::chrono::steady_clock;
  const auto run_start = clock::now();
  if (input_names.size() != inputs.size())
    fail(ErrorCode::InvalidArgument, "run: " + std::to_string(input_names.size()) + " input names for " +
                                         std::to_string(inputs.size()) + " input tensors");
  // at[v] is value v during this run: the session's own constant, or a tensor in `made` (feeds and
  // node outputs). Constants are never copied per run.
  std::vector<Tensor> made(g.values.size());
  std::vector<const Tensor*> at(g.values.size(), nullptr);
  std::vector<bool> fed(g.values.size(), false);
  for (size_t v = 0; v < g.values.size(); ++v) at[v] = g.values[v].constant.get();

  // Check the feeds against the model: names, types, ranks, fixed dims, and that a symbolic dim
  // ("batch") has one value across all inputs.
  std::map<std::string, int64_t> symbols;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const std::string& name = input_names[i];
    int v = -1;
    for (int in : g.inputs)
      if (g.values[in].name == name) v = in;
    if (v < 0) fail(ErrorCode::InvalidArgument, "run: '" + name + "' is not an input of the model (its inputs are: " + names_of(g, g.inputs) + ")");
    if (fed[v]) fail(ErrorCode::InvalidArgument, "run: input '" + name + "' is given twice");
    const Tensor& t = inputs[i];
    const Value& val = g.values[v];
    if (t.dtype() != val.dtype)
      fail(ErrorCode::InvalidArgument, "run: input '" + name + "' has element type " + dtype_name(t.dtype()) +
                                           ", the model expects " + dtype_name(val.dtype));
    if (t.raw() == nullptr && t.numel() != 0) fail(ErrorCode::InvalidArgument, "run: input '" + name + "' has no data");
    if (val.shape) {
      const SymShape& s = *val.shape;
      if (t.rank() != s.size())
        fail(ErrorCode::InvalidArgument, "run: input '" + name + "' has shape " + shape_to_string(t.shape()) +
                                             ", the model expects rank " + std::to_string(s.size()) + " " + sym_shape_to_string(s));
      for (size_t d = 0; d < s.size(); ++d) {
        const int64_t got = t.shape()[d];
        if (s[d].known() && s[d].value != got)
          fail(ErrorCode::InvalidArgument, "run: input '" + name + "' has shape " + shape_to_string(t.shape()) +
                                               ", the model expects " + sym_shape_to_string(s));
        if (!s[d].known() && !s[d].symbol.empty()) {
          auto [it, inserted] = symbols.emplace(s[d].symbol, got);
          if (!inserted && it->second != got)
            fail(ErrorCode::InvalidArgument, "run: input '" + name + "' gives dim '" + s[d].symbol + "' the value " +
                                                 std::to_string(got) + ", another input gave it " + std::to_string(it->second));
        }
      }
    }
    made[v] = t;
    at[v] = &made[v];
    fed[v] = true;
  }
  for (int v : g.inputs)
    if (!fed[v]) fail(ErrorCode::InvalidArgument, "run: input '" + g.values[v].name + "' is missing");

  std::vector<int> wanted;
  if (output_names.empty()) {
    wanted = g.outputs;
  } else {
    for (const std::string& name : output_names) {
      int v = -1;
      for (int o : g.outputs)
        if (g.values[o].name == name) v = o;
      if (v < 0) fail(ErrorCode::InvalidArgument, "run: '" + name + "' is not an output of the model (its outputs are: " + names_of(g, g.outputs) + ")");
      wanted.push_back(v);
    }
  }
  // Caller memory for outputs: checked against each output's type and shape once it is known.
  const auto& bound = run_options.bound_outputs;
  if (!bound.empty() && bound.size() != wanted.size())
    fail(ErrorCode::InvalidArgument, "run: " + std::to_string(bound.size()) + " bound outputs for " + std::to_string(wanted.size()) +
                                         " requested outputs");
  std::vector<const Tensor*> bound_of(g.values.size(), nullptr);
  for (size_t i = 0; i < bound.size(); ++i)
    if (bound[i]) {
      if (!bound[i]->raw() && bound[i]->numel() != 0)
        fail(ErrorCode::InvalidArgument, "run: the buffer bound to output '" + g.values[wanted[i]].name + "' has no data");
      bound_of[wanted[i]] = bound[i];
    }
  auto check_bound = [&](int v, DType t, const Shape& shape) {
    const Tensor& b = *bound_of[v];
    if (b.dtype() != t || b.shape() != shape)
      fail(ErrorCode::InvalidArgument, "run: output '" + g.values[v].name + "' is " + dtype_name(t) + shape_to_string(shape) +
                                           " but the buffer bound to it is " + dtype_name(b.dtype()) + shape_to_string(b.shape()));
  };
  std::vector<NodeEvent> events;
  int64_t run_index = 0;
  if (profile_) {
    std::lock_guard<std::mutex> lock(profile_mutex_);
    run_index = runs_started_++;
  }
  auto micros = [&](clock::time_point t) { return std::chrono::duration<double, std::micro>(t - created_).count(); };

  std::unique_ptr<RunState> state = acquire();
  std::vector<bool> fresh(g.values.size(), false);  // owned storage made by this run
  // Shape-only outputs in the run state's memo: unchanged from the last run, or kept (also new ones).
  std::vector<bool> unchanged(g.values.size(), false), kept(g.values.size(), false);
  std::vector<Tensor> previous;  // a recomputed shape-only node's outputs as the last run made them
  try {
    state->parallel.run([&] {
      for (int n : order_) {
        if (!runs_[n]) continue;
        if (run_options.cancel && run_options.cancel->load(std::memory_order_relaxed))
          fail(ErrorCode::Cancelled, "run cancelled (before node '" + g.nodes[n].name + "')");
        // A shape-only node: reused as the last run made it when what it reads is unchanged (a
        // Shape or Size node's input shape, or every other node's inputs reused or constant), else
        // computed, into storage of its own when every input it reads is kept too, and kept for the
        // next run when it fits the budget.
        const ShapeOnly shape_only = shape_only_[n];
        bool keep = shape_only != ShapeOnly::No;
        if (keep) {
          const Node& node = g.nodes[n];
          bool same = state->memo_has[n] != 0;
          if (shape_only == ShapeOnly::ReadsShape) {
            same = same && at[node.inputs[0]]->shape() == state->memo_shape[n];
          } else {
            for (int v : node.inputs) {
              if (v < 0 || g.values[v].constant) continue;
              same = same && unchanged[v];
              keep = keep && kept[v];
            }
          }
          if (same) {
            for (int v : node.outputs) {
              at[v] = &state->memo[v];
              unchanged[v] = kept[v] = true;
            }
            continue;
          }
          state->memo_has[n] = 0;  // stale: dropped before anything can fail, kept aside to compare
          state->memo_bytes -= state->memo_node_bytes[n];
          state->memo_node_bytes[n] = 0;
          previous.clear();
          for (int v : node.outputs) previous.push_back(std::exchange(state->memo[v], Tensor()));
        }
        const auto node_start = profile_ ? clock::now() : clock::time_point{};
        const Node& node = g.nodes[n];
        std::vector<ValueType> ins;
        std::vector<const Tensor*> in_tensors;
        for (int v : node.inputs) {
          ValueType vt;
          if (v >= 0) {
            const Tensor& t = *at[v];
            vt.dtype = t.dtype();
            vt.shape = to_sym(t.shape());
            vt.value = &t;
          }
          ins.push_back(std::move(vt));
          in_tensors.push_back(v >= 0 ? at[v] : nullptr);
        }
        InferContext ictx(node, std::move(ins), node.outputs.size(), true);
        kernels_[n]->infer(ictx);
        std::vector<Tensor*> out_tensors;
        for (size_t o = 0; o < node.outputs.size(); ++o) {
          const int v = node.outputs[o];
          if (v < 0) {
            out_tensors.push_back(nullptr);
            continue;
          }
          const ValueType& ot = ictx.output(o);
          if (!ot.shape_known()) fail(ErrorCode::RuntimeError, node.label() + ": output shape is unknown at run time");
          const Shape shape = ot.concrete_shape();
          const int slot = plan_.slot_of_value[v];
          if (o == 0 && view_of_input_[n] >= 0) {
            const Tensor& src = *at[node.inputs[view_of_input_[n]]];
            made[v] = Tensor::view(ot.dtype, shape, src.storage(), const_cast<void*>(src.raw()));
          } else {
            const size_t bytes = checked_bytes(ot.dtype, checked_numel(shape, node.label()), node.label() + ": output " + std::to_string(o),
                                               max_tensor_bytes_);
            // In place only when the input really has this shape and type (the plan saw symbols).
            const int ip = o == 0 ? plan_.in_place_input[n] : -1;
            const bool slot_ok = ip < 0 || (at[node.inputs[ip]]->shape() == shape && at[node.inputs[ip]]->dtype() == ot.dtype);
            if (bound_of[v]) {  // straight into the caller's memory
              check_bound(v, ot.dtype, shape);
              made[v] = *bound_of[v];
              fresh[v] = true;
            } else if (slot >= 0 && slot_ok && !keep) {  // a shape-only output to keep: storage of its own
              if (!state->slot_storage[slot] || state->slot_capacity[slot] < bytes) {  // empty tensors get memory too
                state->slot_storage[slot] = allocate_aligned(bytes);
                state->slot_capacity[slot] = bytes;
              }
              made[v] = Tensor::view(ot.dtype, shape, state->slot_storage[slot], state->slot_storage[slot].get());
            } else {
              auto storage = allocate_aligned(bytes);
              made[v] = Tensor::view(ot.dtype, shape, storage, storage.get());
              fresh[v] = true;
            }
          }
          at[v] = &made[v];
          out_tensors.push_back(&made[v]);
        }
        if (!(view_of_input_[n] >= 0 && node.outputs.size() == 1)) {
          ComputeContext cctx{node, std::move(in_tensors), std::move(out_tensors), state->parallel, isa_};
          kernels_[n]->compute(cctx);
        }
        if (keep) {  // kept for the next run when it fits the budget
          size_t bytes = 0;
          for (int v : node.outputs) bytes += made[v].byte_size();
          if (state->memo_bytes + bytes <= kMaxMemoBytes) {
            // An output equal to what the last run made counts as unchanged: when only the batch
            // changes, Shape's output changes but a Gather of its sequence length does not, and
            // what reads that is reused.
            for (size_t o = 0; o < node.outputs.size(); ++o) {
              const int v = node.outputs[o];
              state->memo[v] = made[v];
              kept[v] = true;
              const Tensor& p = previous[o];
              unchanged[v] = p.dtype() == made[v].dtype() && p.shape() == made[v].shape() &&
                             (p.byte_size() == 0 || std::memcmp(p.raw(), made[v].raw(), p.byte_size()) == 0);
            }
            state->memo_has[n] = 1;
            state->memo_node_bytes[n] = bytes;
            state->memo_bytes += bytes;
            if (shape_only == ShapeOnly::ReadsShape) state->memo_shape[n] = at[node.inputs[0]]->shape();
          }
        }
        if (profile_) {
          const auto end = clock::now();
          events.push_back({run_index, n, micros(node_start), std::chrono::duration<double, std::micro>(end - node_start).count()});
        }
      }
    });
  } catch (const Error& e) {
    release(std::move(state));
    if (e.code() == ErrorCode::Cancelled) log(LogLevel::Info, [&] { return g.model_label + ": " + e.what(); });
    throw;
  } catch (...) {
    release(std::move(state));
    throw;
  }
  release(std::move(state));
  if (profile_) {
    std::lock_guard<std::mutex> lock(profile_mutex_);
    for (const NodeEvent& e : events) {
      if (events_.size() >= kMaxProfileEvents) {
        ++dropped_events_;
        continue;
      }
      events_.push_back(e);
    }
  }

  std::vector<Tensor> result;
  for (size_t i = 0; i < wanted.size(); ++i) {
    const int v = wanted[i];
    const Tensor* b = i < bound.size() ? bound[i] : nullptr;
    if (b && at[v]->raw() != b->raw()) {  // a view, an input or a constant: copied into the buffer
      check_bound(v, at[v]->dtype(), at[v]->shape());
      if (b->byte_size()) std::memcpy(const_cast<void*>(b->raw()), at[v]->raw(), b->byte_size());
    }
    result.push_back(b ? *b : fresh[v] ? made[v] : at[v]->clone());
  }
  log(LogLevel::Verbose, [&] {
    return g.model_label + ": run took " + std::to_string(std::chrono::duration<double, std::milli>(clock::now() - run_start).count()) + " ms";
  });
  return result;
}

}  // namespace normrt
