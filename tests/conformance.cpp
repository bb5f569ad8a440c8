// Runs ONNX's node conformance cases (../shared/onnx-node-tests/node, read in place) and compares
// normrt's outputs with ONNX's tolerances (rtol 1e-3, atol 1e-7).
//   normrt_conformance [NODE_DIR] [--filter SUBSTRING] [--verbose]
// A case whose model uses an op, opset or type normrt does not support is counted as skipped and
// listed by reason; any other failure fails the run. A missing folder is a printed skip (exit 77)
// outside CI and a failure when CI is set.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "kernels/isa.h"
#include "onnx/loader.h"
#include "onnx/session_factory.h"
#include "runtime/error.h"
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

}  // namespace

int main(int argc, char** argv) {
  std::string dir = NORMRT_NODE_TESTS_DIR, filter;
  bool verbose = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--filter" && i + 1 < argc) filter = argv[++i];
    else if (a == "--verbose") verbose = true;
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
