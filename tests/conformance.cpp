// Runs ONNX's node conformance cases (../shared/onnx-node-tests/node, read in place) and compares
// normrt's outputs with ONNX's tolerances (rtol 1e-3, atol 1e-7).
//   normrt_conformance [NODE_DIR] [--filter SUBSTRING] [--verbose] [--edge-dims]
// A case whose model uses an op, opset or type normrt does not support is counted as skipped and
// listed by reason; any other failure fails the run. A missing folder is a printed skip (exit 77)
// outside CI and a failure when CI is set.
// --edge-dims runs every supported case's model instead on zero-filled inputs with dims of 0 and
// of 1 (each dim of each input alone, every dim of one size at once, dim d of every input at once),
// at 1 and at 2 threads. A session or run may refuse such inputs with normrt's error; anything
// else (a crash, another exception, and under the sanitizers any undefined behaviour) fails.
// Empty tensors reach the kernels with empty ranges and, from float buffers, possibly null
// pointers; dims of 1 make operands broadcast and ranks look degenerate. This is where that is
// tried op by op.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "kernels/isa.h"
#include "onnx/loader.h"
#include "onnx/op_registry.h"
#include "onnx/session_factory.h"
#include "runtime/error.h"
#include "runtime/op_kernel.h"
#include "runtime/tensor_compare.h"

namespace fs = std::filesystem;
using namespace normrt;

#ifndef NORMRT_NODE_TESTS_DIR
#define NORMRT_NODE_TESTS_DIR "../shared/onnx-node-tests/node"
#endif

namespace {

bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci && *ci && std::string(ci) != "false" && std::string(ci) != "0";
}

// "op X in domain D at opset N: ..." -> a short reason key for the skip table.
std::string skip_reason(const std::string& msg) {
  size_t p = msg.find(": op ");
  if (p != std::string::npos) {
    size_t end = msg.find(" in domain", p);
    size_t at = msg.find(" at opset", p);
    std::string op = msg.substr(p + 5, end - p - 5);
    bool opset = msg.find("at that opset") != std::string::npos;
    return (opset ? "opset of " : "op ") + op + (opset ? msg.substr(at, msg.find(':', at) - at) : "");
  }
  if (msg.find("is not a tensor") != std::string::npos) return "sequence/optional values";
  if (msg.find("element type") != std::string::npos || msg.find("type ") != std::string::npos) return "element type";
  return "other: " + msg.substr(msg.rfind(": ") + 2);
}

using DimList = std::vector<std::pair<size_t, size_t>>;  // (graph input, dim) pairs

// The dims one variant sets together: each input dim alone; every dim of one size (the dims that
// are one dim of the op, a head size or a sequence length, usually share their size, and changing
// them together keeps the op's shapes consistent where changing one alone is refused); dim d of
// every input.
std::vector<DimList> edge_dim_lists(const Graph& model) {
  std::vector<DimList> lists;
  std::map<int64_t, DimList> by_size;
  std::map<size_t, DimList> by_index;
  for (size_t k = 0; k < model.inputs.size(); ++k) {
    const auto& shape = model.values[model.inputs[k]].shape;
    for (size_t d = 0; shape && d < shape->size(); ++d) {
      lists.push_back({{k, d}});
      if ((*shape)[d].known()) by_size[(*shape)[d].value].push_back({k, d});
      by_index[d].push_back({k, d});
    }
  }
  for (const auto& entry : by_size)
    if (entry.second.size() > 1) lists.push_back(entry.second);
  for (const auto& entry : by_index)
    if (entry.second.size() > 1) lists.push_back(entry.second);
  return lists;
}

enum class Outcome { Ran, Refused, NotFed, Failed };

// One variant: a session over `g` and a run on zero-filled inputs.
Outcome run_variant(const Graph& g, int threads, const std::string& what, bool verbose) {
  try {
    Session session(g, onnx::create_kernel, SessionOptions{threads});
    std::vector<std::string> names;
    std::vector<Tensor> inputs;
    for (const IoInfo& io : session.inputs()) {
      const ValueType type{io.dtype, io.shape};
      if (!type.shape_known()) {
        if (verbose) std::printf("  not run %s: input '%s' has an unknown shape\n", what.c_str(), io.name.c_str());
        return Outcome::NotFed;
      }
      names.push_back(io.name);
      inputs.push_back(Tensor::allocate(io.dtype, type.concrete_shape(), io.name));
    }
    session.run(names, inputs);
    if (verbose) std::printf("  ran %s\n", what.c_str());
    return Outcome::Ran;
  } catch (const Error& e) {
    if (verbose) std::printf("  refused %s: %s\n", what.c_str(), e.what());
    return Outcome::Refused;
  } catch (const std::exception& e) {
    std::printf("FAIL %s at %d threads: not normrt's error: %s\n", what.c_str(), threads, e.what());
    return Outcome::Failed;
  }
}

// Each case's model on inputs with one or more dims set to 0 or 1; see --edge-dims above. Returns
// the number of variants that failed (each printed).
int run_edge_dims(const std::vector<fs::path>& cases, bool verbose) {
  int variants = 0, unsupported = 0;
  std::map<Outcome, int> outcomes;
  for (const fs::path& c : cases) {
    Graph model;
    try {
      model = onnx::load_model_file((c / "model.onnx").string());
      Session probe(model, onnx::create_kernel, SessionOptions{1});
    } catch (const Error&) {
      ++unsupported;  // the plain conformance run counts and names these
      continue;
    }
    for (const DimList& list : edge_dim_lists(model))
      for (int64_t edge : {0, 1}) {
        Graph g = model;
        std::string what = c.filename().string() + " with";
        bool changed = false;
        for (auto [k, d] : list) {
          Dim& dim = (*g.values[g.inputs[k]].shape)[d];
          if (dim.known() && dim.value == edge) continue;
          dim = Dim::of(edge);
          changed = true;
          what += " " + g.values[g.inputs[k]].name + "[" + std::to_string(d) + "]";
        }
        if (!changed) continue;  // those dims already had that size
        what += " = " + std::to_string(edge);
        // Declared shapes past the inputs describe the original sizes; inference gives the new ones.
        for (Value& v : g.values)
          if (v.producer >= 0) v.shape.reset();
        for (int threads : {1, 2}) {  // 2: the paths that split work between threads see these dims too
          ++variants;
          ++outcomes[run_variant(g, threads, what, verbose)];
        }
      }
  }
  std::printf("conformance --edge-dims: %d variants of %d models (%d models unsupported): %d ran, %d refused with an error, "
              "%d not run (an input of unknown shape), %d failed\n",
              variants, static_cast<int>(cases.size()) - unsupported, unsupported, outcomes[Outcome::Ran], outcomes[Outcome::Refused],
              outcomes[Outcome::NotFed], outcomes[Outcome::Failed]);
  return outcomes[Outcome::Failed];
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = NORMRT_NODE_TESTS_DIR, filter;
  bool verbose = false, edge_dims = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--filter" && i + 1 < argc) filter = argv[++i];
    else if (a == "--verbose") verbose = true;
    else if (a == "--edge-dims") edge_dims = true;
    else dir = a;
  }
  if (const char* env = std::getenv("NORMRT_NODE_TESTS")) dir = env;
  // Under NORMRT_ISA=X every session takes that kernel path; a path this CPU lacks is a skip.
  if (const char* isa = std::getenv("NORMRT_ISA"); isa && *isa) {
    bool ok;
    const kernels::Isa want = kernels::isa_from_string(isa, &ok);
    if (!ok || !kernels::isa_available(want)) {
      std::printf("conformance: SKIPPED: ISA '%s' is not available here\n", isa);
      return 77;
    }
    std::printf("conformance: kernel ISA forced to %s\n", isa);
  }
  if (!fs::is_directory(dir)) {
    if (in_ci()) {
      std::printf("conformance: FAILED: folder '%s' is missing (CI is set)\n", dir.c_str());
      return 1;
    }
    std::printf("conformance: SKIPPED: folder '%s' is missing\n", dir.c_str());
    return 77;
  }
  std::vector<fs::path> cases;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory() && (filter.empty() || e.path().filename().string().find(filter) != std::string::npos))
      cases.push_back(e.path());
  std::sort(cases.begin(), cases.end());
  if (edge_dims) return run_edge_dims(cases, verbose) ? 1 : 0;

  int passed = 0, failed = 0, skipped = 0;
  std::map<std::string, std::vector<std::string>> skips;
  std::vector<std::string> failures;
  for (const fs::path& c : cases) {
    const std::string name = c.filename().string();
    const fs::path data = c / "test_data_set_0";
    std::unique_ptr<Session> session;
    try {
      session = onnx::open_session((c / "model.onnx").string(), SessionOptions{1});
    } catch (const Error& e) {
      if (e.code() == ErrorCode::NotImplemented) {
        ++skipped;
        skips[skip_reason(e.what())].push_back(name);
        continue;
      }
      ++failed;
      failures.push_back(name + ": session creation: " + e.what());
      continue;
    }
    try {
      std::vector<std::string> names;
      std::vector<Tensor> inputs;
      for (size_t k = 0; k < session->inputs().size(); ++k) {
        names.push_back(session->inputs()[k].name);
        inputs.push_back(onnx::load_tensor_file((data / ("input_" + std::to_string(k) + ".pb")).string()));
      }
      std::vector<Tensor> outputs = session->run(names, inputs);
      std::string problems;
      for (size_t k = 0; k < outputs.size(); ++k) {
        Tensor expected = onnx::load_tensor_file((data / ("output_" + std::to_string(k) + ".pb")).string());
        TensorComparison cmp = compare_tensors(outputs[k], expected, 1e-3, 1e-7);
        if (!cmp.ok())
          problems += " output " + std::to_string(k) + ": " +
                      (cmp.problem.empty() ? std::to_string(cmp.mismatches) + " elements off, max_abs_err=" + std::to_string(cmp.max_abs)
                                           : cmp.problem) + ";";
      }
      if (problems.empty()) {
        ++passed;
        if (verbose) std::printf("  pass %s\n", name.c_str());
      } else {
        ++failed;
        failures.push_back(name + ":" + problems);
      }
    } catch (const std::exception& e) {
      ++failed;
      failures.push_back(name + ": run: " + e.what());
    }
  }
  std::printf("skipped as unsupported, by reason:\n");
  for (auto& [reason, names] : skips) {
    std::string shown = names[0] + (names.size() > 1 ? ", ..." : "");
    if (verbose) {  // every case, not just the first
      shown.clear();
      for (const std::string& n : names) shown += (shown.empty() ? "" : ", ") + n;
    }
    std::printf("  %-40s %3zu  (%s)\n", reason.c_str(), names.size(), shown.c_str());
  }
  for (const std::string& f : failures) std::printf("FAIL %s\n", f.c_str());
  std::printf("conformance: %d cases in %s\n", static_cast<int>(cases.size()), dir.c_str());
  std::printf("conformance: %d passed, %d failed, %d skipped\n", passed, failed, skipped);
  return failed ? 1 : 0;
}
