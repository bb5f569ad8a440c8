// normrt: inspect, run and benchmark ONNX models.
//   normrt info MODEL [--json]
//   normrt run MODEL [--data DIR] [--input NAME=FILE.pb]... [--save DIR] [--rtol R] [--atol A]
//   normrt bench MODEL... [--dim NAME=V[,V...]]... [--threads N[,N...]] [--iterations N | --seconds S]
//                [--json | --markdown] [--profile FILE] [--check DIR]
// Exit status: 0 success (outputs match), 1 outputs differ, 2 any error. Errors are one line on stderr.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <filesystem>
#include <iostream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/half.h"
#include "onnx/loader.h"
#include "onnx/op_registry.h"
#include "runtime/memory_plan.h"
#include "runtime/passes.h"
#include "onnx/session_factory.h"
#include "runtime/error.h"
#include "runtime/json.h"
#include "runtime/profile.h"
#include "runtime/tensor_compare.h"

namespace fs = std::filesystem;
using namespace normrt;

namespace {

constexpr const char* kUsage =
    "usage:\n"
    "  normrt info MODEL [--json] [--no-optimize]\n"
    "  normrt run MODEL [--data DIR] [--input NAME=FILE.pb]... [--save DIR] [--rtol R] [--atol A]\n"
    "                   [--threads N] [--isa ISA] [--no-optimize]\n"
    "  normrt bench MODEL... [--dim NAME=V[,V...]]... [--threads N[,N...]] [--iterations N | --seconds S]\n"
    "                     [--warmup N] [--isa ISA] [--json | --markdown] [--no-optimize] [--profile FILE.json]\n"
    "                     [--check DIR]   one row per model x threads x dims; --check compares with\n"
    "                     DIR/output_N.pb (inputs DIR/input_N.pb) before timing\n"
    "  normrt ops [--markdown]          the ops and opsets this build supports\n"
    "ISA is auto, scalar, avx2, avx512 or neon. --no-optimize turns the graph passes (fusions) off.\n"
    "Exit status: 0 ok, 1 outputs differ, 2 error.\n";

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// Outputs that do not match the expected ones: exit status 1, not 2.
struct OutputsDiffer : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Minimal argument reader: positional words and --flag [value] pairs, in order.
struct Args {
  std::vector<std::string> words;
  size_t pos = 0;
  bool done() const { return pos >= words.size(); }
  std::string next() { return words[pos++]; }
  std::string value(const std::string& flag) {
    if (done()) throw UsageError(flag + " needs a value");
    return next();
  }
};

int64_t parse_int(const std::string& s, const std::string& what, int64_t lo, int64_t hi) {
  try {
    size_t used = 0;
    long long v = std::stoll(s, &used);
    if (used == s.size() && v >= lo && v <= hi) return v;
  } catch (const std::exception&) {
  }
  throw UsageError(what + " must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got '" + s + "'");
}

double parse_double(const std::string& s, const std::string& what) {
  try {
    size_t used = 0;
    double v = std::stod(s, &used);
    if (used == s.size() && v >= 0 && std::isfinite(v)) return v;
  } catch (const std::exception&) {
  }
  throw UsageError(what + " must be a non-negative number, got '" + s + "'");
}

std::string type_and_shape(const IoInfo& io) {
  return dtype_name(io.dtype) + (io.shape ? sym_shape_to_string(*io.shape) : "[?]");
}

kernels::Isa parse_isa(const std::string& s) {
  bool ok;
  kernels::Isa isa = kernels::isa_from_string(s, &ok);
  if (!ok) throw UsageError("--isa must be one of auto, scalar, avx2, avx512, neon, got '" + s + "'");
  return isa;
}

// ---- info ----
int cmd_info(Args& a) {
  std::string model;
  bool json = false, optimize = true;
  while (!a.done()) {
    std::string w = a.next();
    if (w == "--json") json = true;
    else if (w == "--no-optimize") optimize = false;
    else if (w.rfind("--", 0) == 0) throw UsageError("unknown option " + w + " for info");
    else if (model.empty()) model = w;
    else throw UsageError("info takes one model");
  }
  if (model.empty()) throw UsageError("info needs a model path");
  Graph g = onnx::load_model_file(model);
  const auto& reg = onnx::OpRegistry::builtin();
  std::map<std::string, int> histogram;
  std::map<std::string, std::string> unsupported;  // "domain:op" -> reason
  for (const Node& n : g.nodes) {
    const std::string key = (n.domain.empty() ? "" : n.domain + ":") + n.op_type;
    ++histogram[key];
    const int64_t opset = g.opset_for(n.domain);
    if (opset < 0) unsupported[key] = "no opset imported for its domain";
    else if (!reg.find(n.domain, n.op_type, opset))
      unsupported[key] = (reg.knows_op(n.domain, n.op_type) ? "not supported at opset " : "no kernel (opset ") +
                         std::to_string(opset) + (reg.knows_op(n.domain, n.op_type) ? "" : ")");
  }
  // Inputs and outputs as the session sees them (with inferred types) when it can be created.
  std::vector<IoInfo> ins, outs;
  std::string session_error;
  OptimizationReport fusions;
  int folded = 0;
  MemoryPlan plan;  // the intermediate values' buffers and the nodes computed over an input
  try {
    SessionOptions so{1};
    so.optimize = optimize;
    auto s = onnx::open_session(model, so);
    ins = s->inputs();
    outs = s->outputs();
    fusions = s->optimization();
    folded = s->folded_nodes();
    plan = s->memory_plan();
  } catch (const Error& e) {
    session_error = e.what();
    for (int v : g.inputs) ins.push_back({g.values[v].name, g.values[v].dtype, g.values[v].shape});
    for (int v : g.outputs) outs.push_back({g.values[v].name, g.values[v].dtype, g.values[v].shape});
  }
  if (json) {
    std::ostringstream o;
    auto io_json = [&](const std::vector<IoInfo>& v) {
      o << "[";
      for (size_t i = 0; i < v.size(); ++i) {
        o << (i ? "," : "") << "{\"name\":\"" << json_escape(v[i].name) << "\",\"type\":\"" << dtype_name(v[i].dtype) << "\",\"shape\":";
        if (!v[i].shape) o << "null";
        else {
          o << "[";
          for (size_t d = 0; d < v[i].shape->size(); ++d) {
            const Dim& dim = (*v[i].shape)[d];
            o << (d ? "," : "");
            if (dim.known()) o << dim.value;
            else o << "\"" << json_escape(dim.symbol.empty() ? "?" : dim.symbol) << "\"";
          }
          o << "]";
        }
        o << "}";
      }
      o << "]";
    };
    o << "{\"model\":\"" << json_escape(model) << "\",\"graph\":\"" << json_escape(g.name) << "\",\"producer\":\""
      << json_escape(g.producer) << "\",\"opsets\":{";
    bool first = true;
    for (auto& [d, v] : g.opsets) o << (first ? "" : ",") << "\"" << json_escape(d.empty() ? "ai.onnx" : d) << "\":" << v, first = false;
    o << "},\"nodes\":" << g.nodes.size() << ",\"inputs\":";
    io_json(ins);
    o << ",\"outputs\":";
    io_json(outs);
    o << ",\"ops\":{";
    first = true;
    for (auto& [k, c] : histogram) o << (first ? "" : ",") << "\"" << json_escape(k) << "\":" << c, first = false;
    o << "},\"unsupported_ops\":[";
    first = true;
    for (auto& [k, why] : unsupported) o << (first ? "" : ",") << "{\"op\":\"" << json_escape(k) << "\",\"reason\":\"" << json_escape(why) << "\"}", first = false;
    o << "],\"optimizations\":{";
    first = true;
    for (auto& [k, c] : fusions.fired) o << (first ? "" : ",") << "\"" << json_escape(k) << "\":" << c, first = false;
    o << "},\"nodes_after_optimization\":" << fusions.nodes_after << ",\"folded_nodes\":" << folded;
    o << ",\"memory_plan\":{\"buffers\":" << plan.num_slots << ",\"planned_values\":" << plan.planned_values
      << ",\"in_place_nodes\":" << plan.in_place_nodes << "}";
    o << ",\"session_error\":" << (session_error.empty() ? "null" : "\"" + json_escape(session_error) + "\"") << "}";
    std::cout << o.str() << "\n";
    return 0;
  }
  std::cout << "model:    " << model << "\n";
  if (!g.name.empty()) std::cout << "graph:    " << g.name << "\n";
  if (!g.producer.empty()) std::cout << "producer: " << g.producer << "\n";
  std::cout << "opsets:  ";
  for (auto& [d, v] : g.opsets) std::cout << " " << (d.empty() ? "ai.onnx" : d) << "=" << v;
  std::cout << "\ninputs:\n";
  for (auto& io : ins) std::cout << "  " << io.name << "  " << type_and_shape(io) << "\n";
  std::cout << "outputs:\n";
  for (auto& io : outs) std::cout << "  " << io.name << "  " << type_and_shape(io) << "\n";
  std::cout << "ops (" << g.nodes.size() << " nodes):\n";
  for (auto& [k, c] : histogram) std::cout << "  " << k << "  " << c << "\n";
  std::cout << "unsupported ops: " << (unsupported.empty() ? "none" : "") << "\n";
  for (auto& [k, why] : unsupported) std::cout << "  " << k << "  (" << why << ")\n";
  if (session_error.empty()) {
    std::cout << "optimizations: " << (optimize ? "" : "off (--no-optimize)");
    if (optimize && fusions.fired.empty()) std::cout << "none fired";
    for (auto& [k, c] : fusions.fired) std::cout << " " << k << "=" << c;
    if (optimize) std::cout << " (" << fusions.nodes_before << " -> " << fusions.nodes_after << " nodes)";
    std::cout << "\nconstant-folded nodes: " << folded << "\n";
    std::cout << "memory plan: " << plan.planned_values << " intermediate values in " << plan.num_slots << (plan.num_slots == 1 ? " buffer, " : " buffers, ")
              << plan.in_place_nodes << " nodes computed over their input\n";
  } else {
    std::cout << "session: cannot be created: " << session_error << "\n";
  }
  return 0;
}

// ---- ops ----
// Every op the registry holds, one line per (domain, op) with its opset ranges; --markdown writes
// the table docs/OPS.md holds (a ctest checks that file against this output).
int cmd_ops(Args& a) {
  bool markdown = false;
  while (!a.done()) {
    std::string w = a.next();
    if (w == "--markdown") markdown = true;
    else throw UsageError("unknown option " + w + " for ops");
  }
  std::map<std::pair<std::string, std::string>, std::vector<std::string>> ops;
  for (const onnx::OpEntry& e : onnx::OpRegistry::builtin().entries()) {
    if (e.domain == kInternalDomain) continue;  // written by graph passes, not by models
    const std::string range = e.until == onnx::kMaxDefaultOpset && e.domain.empty() ? std::to_string(e.since) + "+"
                              : e.since == e.until                                  ? std::to_string(e.since)
                                                                                    : std::to_string(e.since) + "-" + std::to_string(e.until);
    ops[{e.domain.empty() ? "ai.onnx" : e.domain, e.op_type}].push_back(range);
  }
  if (markdown) {
    std::printf("| domain | op | opsets |\n| --- | --- | --- |\n");
  }
  for (const auto& [key, ranges] : ops) {
    std::string joined;
    for (const auto& r : ranges) joined += (joined.empty() ? "" : ", ") + r;
    if (markdown) std::printf("| %s | %s | %s |\n", key.first.c_str(), key.second.c_str(), joined.c_str());
    else std::printf("%-14s %-34s %s\n", key.first.c_str(), key.second.c_str(), joined.c_str());
  }
  if (!markdown) std::printf("%zu ops; default-domain opsets up to %lld\n", ops.size(), static_cast<long long>(onnx::kMaxDefaultOpset));
  return 0;
}

// ---- run ----
int cmd_run(Args& a) {
  std::string model, data_dir, save_dir;
  std::vector<std::pair<std::string, std::string>> named_inputs;
  double rtol = 1e-3, atol = 1e-7;
  SessionOptions opts;
  while (!a.done()) {
    std::string w = a.next();
    if (w == "--data") data_dir = a.value(w);
    else if (w == "--save") save_dir = a.value(w);
    else if (w == "--rtol") rtol = parse_double(a.value(w), w);
    else if (w == "--atol") atol = parse_double(a.value(w), w);
    else if (w == "--threads") opts.threads = static_cast<int>(parse_int(a.value(w), w, 0, 4096));
    else if (w == "--isa") opts.isa = parse_isa(a.value(w));
    else if (w == "--no-optimize") opts.optimize = false;
    else if (w == "--input") {
      std::string v = a.value(w);
      size_t eq = v.find('=');
      if (eq == std::string::npos || eq == 0) throw UsageError("--input takes NAME=FILE.pb, got '" + v + "'");
      named_inputs.emplace_back(v.substr(0, eq), v.substr(eq + 1));
    } else if (w.rfind("--", 0) == 0) throw UsageError("unknown option " + w + " for run");
    else if (model.empty()) model = w;
    else throw UsageError("run takes one model");
  }
  if (model.empty()) throw UsageError("run needs a model path");
  auto session = onnx::open_session(model, opts);
  const auto& ins = session->inputs();
  std::map<std::string, Tensor> feeds;
  if (!data_dir.empty()) {
    if (!fs::is_directory(data_dir)) fail(ErrorCode::IoError, "--data '" + data_dir + "' is not a folder");
    for (size_t k = 0; k < ins.size(); ++k) {
      fs::path p = fs::path(data_dir) / ("input_" + std::to_string(k) + ".pb");
      if (fs::exists(p)) feeds[ins[k].name] = onnx::load_tensor_file(p.string());
    }
  }
  for (auto& [name, file] : named_inputs) feeds[name] = onnx::load_tensor_file(file);
  std::vector<std::string> names;
  std::vector<Tensor> tensors;
  for (auto& [n, t] : feeds) names.push_back(n), tensors.push_back(t);
  std::vector<Tensor> results = session->run(names, tensors);
  const auto& outs = session->outputs();
  if (!save_dir.empty()) {
    fs::create_directories(save_dir);
    for (size_t k = 0; k < results.size(); ++k)
      onnx::save_tensor_file(results[k], outs[k].name, (fs::path(save_dir) / ("output_" + std::to_string(k) + ".pb")).string());
  }
  bool all_ok = true;
  for (size_t k = 0; k < results.size(); ++k) {
    const Tensor& r = results[k];
    std::printf("%-24s %s%s", outs[k].name.c_str(), dtype_name(r.dtype()).c_str(), shape_to_string(r.shape()).c_str());
    fs::path expected = data_dir.empty() ? fs::path() : fs::path(data_dir) / ("output_" + std::to_string(k) + ".pb");
    if (!data_dir.empty() && fs::exists(expected)) {
      TensorComparison c = compare_tensors(r, onnx::load_tensor_file(expected.string()), rtol, atol);
      if (!c.problem.empty()) {
        std::printf("  MISMATCH: %s\n", c.problem.c_str());
      } else {
        std::printf("  max_abs_err=%.3g max_rel_err=%.3g %s\n", c.max_abs, c.max_rel,
                    c.mismatches ? ("FAIL (" + std::to_string(c.mismatches) + " elements outside tolerance)").c_str() : "ok");
      }
      all_ok &= c.ok();
    } else {
      double lo = INFINITY, hi = -INFINITY, sum = 0;
      for (int64_t i = 0; i < r.numel(); ++i) {
        double v = r.double_at(i);
        lo = std::min(lo, v), hi = std::max(hi, v), sum += v;
      }
      std::printf("  min=%.6g max=%.6g mean=%.6g\n", lo, hi, r.numel() ? sum / r.numel() : 0.0);
    }
  }
  return all_ok ? 0 : 1;
}

// ---- bench ----
Tensor make_input(const IoInfo& io, const std::map<std::string, int64_t>& dims, std::mt19937& rng) {
  if (!io.shape) fail(ErrorCode::InvalidArgument, "input '" + io.name + "' has unknown rank; normrt bench cannot make data for it");
  Shape shape;
  for (const Dim& d : *io.shape) {
    if (d.known()) {
      shape.push_back(d.value);
      continue;
    }
    auto it = dims.find(d.symbol);
    if (d.symbol.empty() || it == dims.end())
      fail(ErrorCode::InvalidArgument, "input '" + io.name + "' " + sym_shape_to_string(*io.shape) + " has the free dim '" +
                                           (d.symbol.empty() ? "?" : d.symbol) + "'; give it with --dim " +
                                           (d.symbol.empty() ? "NAME" : d.symbol) + "=VALUE");
    shape.push_back(it->second);
  }
  Tensor t = Tensor::allocate(io.dtype, shape, "input '" + io.name + "'");
  std::uniform_real_distribution<float> uni(-1.0f, 1.0f);
  // Floats get uniform noise; integer inputs (token ids, masks) get 1: a valid id and "attend".
  for (int64_t i = 0; i < t.numel(); ++i) {
    switch (io.dtype) {
      case DType::Float32: t.data<float>()[i] = uni(rng); break;
      case DType::Float64: t.data<double>()[i] = uni(rng); break;
      case DType::Float16: t.data<uint16_t>()[i] = kernels::float_to_half(uni(rng)); break;
      case DType::BFloat16: t.data<uint16_t>()[i] = kernels::float_to_bfloat16(uni(rng)); break;
      case DType::Int64: t.data<int64_t>()[i] = 1; break;
      case DType::Int32: t.data<int32_t>()[i] = 1; break;
      default: std::memset(static_cast<char*>(t.raw()) + i * dtype_size(io.dtype), 1, 1); break;
    }
  }
  return t;
}

// Comma-separated integers: "128,512".
std::vector<int64_t> parse_int_list(const std::string& s, const std::string& what, int64_t lo, int64_t hi) {
  std::vector<int64_t> r;
  size_t pos = 0;
  while (pos <= s.size()) {
    const size_t comma = std::min(s.find(',', pos), s.size());
    r.push_back(parse_int(s.substr(pos, comma - pos), what, lo, hi));
    pos = comma + 1;
  }
  return r;
}

// VmHWM (peak resident memory) in MB: it starts afresh at exec, and resetting it (clear_refs 5)
// gives each benchmark row its own peak.
double peak_rss_mb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024.0;
}
void reset_peak_rss() {
  std::ofstream f("/proc/self/clear_refs");
  if (f) f << "5";
}

struct BenchRow {
  std::string model, inputs, isa;
  int threads = 0;
  size_t runs = 0;
  double min_ms = 0, median_ms = 0, p90_ms = 0, p99_ms = 0, max_ms = 0, runs_per_s = 0, peak_mb = 0;
};

// Runs the model on its data folder's inputs and compares with its expected outputs (--check).
void check_outputs(const Session& session, const std::string& dir, double rtol, double atol) {
  if (!fs::is_directory(dir)) fail(ErrorCode::IoError, "--check '" + dir + "' is not a folder");
  std::vector<std::string> names;
  std::vector<Tensor> feeds;
  for (size_t k = 0; k < session.inputs().size(); ++k) {
    const fs::path p = fs::path(dir) / ("input_" + std::to_string(k) + ".pb");
    if (!fs::exists(p)) fail(ErrorCode::IoError, "--check: " + p.string() + " is missing");
    names.push_back(session.inputs()[k].name);
    feeds.push_back(onnx::load_tensor_file(p.string()));
  }
  const std::vector<Tensor> got = session.run(names, feeds);
  size_t compared = 0;
  for (size_t k = 0; k < got.size(); ++k) {
    const fs::path p = fs::path(dir) / ("output_" + std::to_string(k) + ".pb");
    if (!fs::exists(p)) continue;
    const TensorComparison c = compare_tensors(got[k], onnx::load_tensor_file(p.string()), rtol, atol);
    ++compared;
    if (!c.ok())
      throw OutputsDiffer("--check: output '" + session.outputs()[k].name + "' differs from " + p.string() + ": " +
                               (c.problem.empty() ? std::to_string(c.mismatches) + " elements outside tolerance (max_abs_err " +
                                                        std::to_string(c.max_abs) + ")"
                                                  : c.problem));
  }
  if (!compared) fail(ErrorCode::IoError, "--check: no output_N.pb in '" + dir + "'");
  std::fprintf(stderr, "normrt bench: %s: %zu outputs match %s\n", session.graph().model_label.c_str(), compared, dir.c_str());
}

// The model's file name, or folder/model.onnx when the file is just "model.onnx".
std::string display_name(const std::string& model) {
  const fs::path p(model);
  if (p.filename() == "model.onnx" && p.has_parent_path()) return (p.parent_path().filename() / p.filename()).string();
  return p.filename().string();
}

void print_profile(const Session& s, const std::string& path, const std::string& label) {
  std::printf("\nprofile of %s (Chrome trace: %s)\n", label.c_str(), path.c_str());
  auto table = [](const char* title, const std::vector<ProfileShare>& rows) {
    std::printf("| %s | calls | total ms | share |\n| --- | ---: | ---: | ---: |\n", title);
    for (const ProfileShare& r : rows)
      std::printf("| %s | %lld | %.3f | %.1f%% |\n", r.name.c_str(), static_cast<long long>(r.calls), r.total_us / 1000.0, 100.0 * r.share);
  };
  table("op type", profile_by_op_type(s, 10));
  std::printf("\n");
  table("node", profile_by_node(s, 10));
}

int cmd_bench(Args& a) {
  std::vector<std::string> models;
  std::vector<std::pair<std::string, std::vector<int64_t>>> dims;  // in the order given
  std::vector<int64_t> thread_counts{0};
  SessionOptions opts;
  int64_t iterations = 0, warmup = 3;
  double seconds = 0;
  bool json = false, markdown = false;
  std::string profile_path, check_dir;
  while (!a.done()) {
    std::string w = a.next();
    if (w == "--dim") {
      std::string v = a.value(w);
      size_t eq = v.find('=');
      if (eq == std::string::npos || eq == 0) throw UsageError("--dim takes NAME=VALUE[,VALUE...], got '" + v + "'");
      dims.emplace_back(v.substr(0, eq), parse_int_list(v.substr(eq + 1), "--dim " + v.substr(0, eq), 0, int64_t(1) << 40));
    } else if (w == "--threads") thread_counts = parse_int_list(a.value(w), w, 0, 4096);
    else if (w == "--iterations") iterations = parse_int(a.value(w), w, 1, 100000000);
    else if (w == "--seconds") seconds = parse_double(a.value(w), w);
    else if (w == "--warmup") warmup = parse_int(a.value(w), w, 0, 1000000);
    else if (w == "--isa") opts.isa = parse_isa(a.value(w));
    else if (w == "--no-optimize") opts.optimize = false;
    else if (w == "--json") json = true;
    else if (w == "--markdown") markdown = true;
    else if (w == "--profile") profile_path = a.value(w);
    else if (w == "--check") check_dir = a.value(w);
    else if (w.rfind("--", 0) == 0) throw UsageError("unknown option " + w + " for bench");
    else models.push_back(w);
  }
  if (models.empty()) throw UsageError("bench needs a model path");
  if (iterations && seconds > 0) throw UsageError("give --iterations or --seconds, not both");
  if (json && markdown) throw UsageError("give --json or --markdown, not both");
  if (!check_dir.empty() && models.size() != 1) throw UsageError("--check takes the expected outputs of one model");
  if (!iterations && seconds <= 0) seconds = 2.0;
  opts.profile = !profile_path.empty();

  // One row per model x threads x combination of --dim values (the last --dim varies fastest).
  struct Job {
    std::string model;
    int threads;
    std::map<std::string, int64_t> dims;
  };
  std::vector<Job> jobs;
  for (const std::string& m : models)
    for (int64_t t : thread_counts) {
      std::vector<std::map<std::string, int64_t>> combos{{}};
      for (const auto& [name, values] : dims) {
        std::vector<std::map<std::string, int64_t>> next;
        for (const auto& c : combos)
          for (int64_t v : values) {
            auto d = c;
            d[name] = v;
            next.push_back(std::move(d));
          }
        combos = std::move(next);
      }
      for (auto& c : combos) jobs.push_back({m, static_cast<int>(t), std::move(c)});
    }
  const bool progress = isatty(2);
  std::vector<BenchRow> rows;
  std::vector<std::pair<std::unique_ptr<Session>, std::pair<std::string, std::string>>> profiled;  // printed after the table
  using clock = std::chrono::steady_clock;
  for (size_t j = 0; j < jobs.size(); ++j) {
    const Job& job = jobs[j];
    std::string desc;
    for (const auto& [k, v] : job.dims) desc += " " + k + "=" + std::to_string(v);
    if (progress)
      std::fprintf(stderr, "\r\033[K[%zu/%zu] %s threads=%d%s", j + 1, jobs.size(), fs::path(job.model).filename().c_str(), job.threads, desc.c_str());
    release_cached_blocks();  // the previous row's buffers: each row's peak is its own
    trim_heap();
    reset_peak_rss();
    SessionOptions o = opts;
    o.threads = job.threads;
    auto session = onnx::open_session(job.model, o);
    if (!check_dir.empty()) check_outputs(*session, check_dir, 1e-3, 1e-5);
    std::mt19937 rng(42);
    std::vector<std::string> names;
    std::vector<Tensor> feeds;
    BenchRow row;
    for (const IoInfo& io : session->inputs()) {
      names.push_back(io.name);
      feeds.push_back(make_input(io, job.dims, rng));
      row.inputs += (row.inputs.empty() ? "" : " ") + io.name + ":" + dtype_name(io.dtype) + shape_to_string(feeds.back().shape());
    }
    for (int64_t i = 0; i < warmup; ++i) session->run(names, feeds);
    session->clear_profile();  // the profile covers the timed runs only
    std::vector<double> ms;
    const auto start = clock::now();
    for (;;) {
      const auto t0 = clock::now();
      session->run(names, feeds);
      ms.push_back(std::chrono::duration<double, std::milli>(clock::now() - t0).count());
      if (iterations ? static_cast<int64_t>(ms.size()) >= iterations
                     : std::chrono::duration<double>(clock::now() - start).count() >= seconds && ms.size() >= 5)
        break;
    }
    std::sort(ms.begin(), ms.end());
    auto pct = [&](double p) {  // nearest rank
      size_t k = static_cast<size_t>(std::ceil(p * ms.size()));
      return ms[std::min(ms.size() - 1, k ? k - 1 : 0)];
    };
    row.model = job.model;
    row.isa = kernels::isa_name(session->isa());
    row.threads = session->threads();
    row.runs = ms.size();
    row.min_ms = ms.front();
    row.median_ms = ms.size() % 2 ? ms[ms.size() / 2] : 0.5 * (ms[ms.size() / 2 - 1] + ms[ms.size() / 2]);
    row.p90_ms = pct(0.9);
    row.p99_ms = pct(0.99);
    row.max_ms = ms.back();
    row.runs_per_s = 1000.0 / row.median_ms;
    row.peak_mb = peak_rss_mb();
    rows.push_back(row);
    if (!profile_path.empty()) {
      std::string path = profile_path;
      if (jobs.size() > 1) {  // one trace per row: name.N.json
        const fs::path p(profile_path);
        path = (p.parent_path() / (p.stem().string() + "." + std::to_string(j + 1) + p.extension().string())).string();
      }
      write_chrome_trace(*session, path);
      if (!json) profiled.emplace_back(std::move(session), std::make_pair(path, display_name(job.model) + " threads=" + std::to_string(row.threads) + desc));
    }
  }
  if (progress) std::fprintf(stderr, "\r\033[K");
  if (json) {
    std::printf("[");
    for (size_t i = 0; i < rows.size(); ++i) {
      const BenchRow& r = rows[i];
      std::printf("%s\n{\"model\":\"%s\",\"inputs\":\"%s\",\"threads\":%d,\"isa\":\"%s\",\"iterations\":%zu,\"min_ms\":%.4f,"
                  "\"median_ms\":%.4f,\"p90_ms\":%.4f,\"p99_ms\":%.4f,\"max_ms\":%.4f,\"runs_per_second\":%.3f,\"peak_rss_mb\":%.1f}",
                  i ? "," : "", json_escape(r.model).c_str(), json_escape(r.inputs).c_str(), r.threads, r.isa.c_str(), r.runs, r.min_ms,
                  r.median_ms, r.p90_ms, r.p99_ms, r.max_ms, r.runs_per_s, r.peak_mb);
    }
    std::printf("\n]\n");
    return 0;
  }
  const std::vector<std::string> head{"model", "inputs", "threads", "isa", "runs", "median ms", "p90 ms", "min ms", "max ms", "runs/s", "peak MB"};
  std::vector<std::vector<std::string>> cells;
  char buf[64];
  auto num = [&](double v, const char* fmt) { return std::snprintf(buf, sizeof buf, fmt, v), std::string(buf); };
  for (const BenchRow& r : rows)
    cells.push_back({display_name(r.model), r.inputs, std::to_string(r.threads), r.isa, std::to_string(r.runs),
                     num(r.median_ms, "%.3f"), num(r.p90_ms, "%.3f"), num(r.min_ms, "%.3f"), num(r.max_ms, "%.3f"),
                     num(r.runs_per_s, "%.1f"), num(r.peak_mb, "%.1f")});
  if (markdown) {
    auto line = [](const std::vector<std::string>& c) {
      std::string l = "|";
      for (const auto& x : c) l += " " + x + " |";
      std::printf("%s\n", l.c_str());
    };
    line(head);
    std::printf("| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (const auto& c : cells) line(c);
  } else {
  std::vector<size_t> width(head.size());
  for (size_t i = 0; i < head.size(); ++i) width[i] = head[i].size();
  for (const auto& c : cells)
    for (size_t i = 0; i < c.size(); ++i) width[i] = std::max(width[i], c[i].size());
  auto line = [&](const std::vector<std::string>& c) {
    std::string l;
    for (size_t i = 0; i < c.size(); ++i) {
      const std::string pad(width[i] - c[i].size(), ' ');
      l += (i ? "  " : "") + (i < 2 || i == 3 ? c[i] + pad : pad + c[i]);  // text left, numbers right
    }
    while (!l.empty() && l.back() == ' ') l.pop_back();
    std::printf("%s\n", l.c_str());
  };
  line(head);
  for (const auto& c : cells) line(c);
  }
  for (const auto& [session, what] : profiled) print_profile(*session, what.first, what.second);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) a.words.emplace_back(argv[i]);
  if (a.done()) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  const std::string cmd = a.next();
  try {
    if (cmd == "info") return cmd_info(a);
    if (cmd == "run") return cmd_run(a);
    if (cmd == "bench") return cmd_bench(a);
    if (cmd == "ops") return cmd_ops(a);
    if (cmd == "--help" || cmd == "-h" || cmd == "help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    throw UsageError("unknown command '" + cmd + "'");
  } catch (const UsageError& e) {
    std::fprintf(stderr, "normrt: %s\n%s", e.what(), kUsage);
    return 2;
  } catch (const OutputsDiffer& e) {
    std::fprintf(stderr, "normrt: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "normrt: error: %s\n", e.what());
    return 2;
  }
}
