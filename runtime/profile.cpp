#include "runtime/profile.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>

#include "runtime/error.h"
#include "runtime/json.h"

namespace normrt {

namespace {
std::string json_string(const std::string& s) { return "\"" + json_escape(s) + "\""; }

std::vector<ProfileShare> shares(const Session& s, size_t top, bool by_node) {
  const auto events = s.profile();
  const Graph& g = s.graph();
  std::map<std::string, ProfileShare> acc;
  double all = 0;
  for (const NodeEvent& e : events) {
    const Node& n = g.nodes[e.node];
    const std::string key = by_node ? n.name + " (" + n.op_type + ")" : n.op_type;
    ProfileShare& p = acc[key];
    p.name = key;
    ++p.calls;
    p.total_us += e.duration_us;
    all += e.duration_us;
  }
  std::vector<ProfileShare> r;
  for (auto& [k, p] : acc) {
    p.share = all > 0 ? p.total_us / all : 0;
    r.push_back(p);
  }
  std::sort(r.begin(), r.end(), [](const ProfileShare& a, const ProfileShare& b) { return a.total_us > b.total_us; });
  if (top && r.size() > top) r.resize(top);
  return r;
}
}  // namespace

std::string chrome_trace_json(const Session& session) {
  const Graph& g = session.graph();
  std::string out = "{\"displayTimeUnit\":\"ms\",\"traceEvents\":[";
  bool first = true;
  char buf[160];
  for (const NodeEvent& e : session.profile()) {
    const Node& n = g.nodes[e.node];
    out += first ? "\n" : ",\n";
    first = false;
    out += "{\"name\":" + json_string(n.name.empty() ? n.op_type : n.name) + ",\"cat\":" + json_string(n.op_type);
    std::snprintf(buf, sizeof buf, ",\"ph\":\"X\",\"ts\":%.3f,\"dur\":%.3f,\"pid\":1,\"tid\":1,\"args\":{\"run\":%lld,\"op\":",
                  e.start_us, e.duration_us, static_cast<long long>(e.run));
    out += buf;
    out += json_string(n.op_type) + "}}";
  }
  out += "\n]}\n";
  return out;
}

void write_chrome_trace(const Session& session, const std::string& path) {
  std::ofstream f(path, std::ios::binary);
  if (!f) fail(ErrorCode::IoError, "cannot write the profile to '" + path + "'");
  f << chrome_trace_json(session);
  if (!f) fail(ErrorCode::IoError, "writing the profile to '" + path + "' failed");
}

std::vector<ProfileShare> profile_by_op_type(const Session& session, size_t top) { return shares(session, top, false); }
std::vector<ProfileShare> profile_by_node(const Session& session, size_t top) { return shares(session, top, true); }

}  // namespace normrt
