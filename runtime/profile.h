// What a profiled session (SessionOptions::profile) recorded, in two forms: a Chrome trace (the
// JSON "traceEvents" format that Perfetto and chrome://tracing open; one complete event per node
// per run) and a table of where the time went, by op type and by node.
#pragma once
#include <string>
#include <vector>

#include "runtime/session.h"

namespace normrt {

std::string chrome_trace_json(const Session& session);
void write_chrome_trace(const Session& session, const std::string& path);  // throws IoError

struct ProfileShare {
  std::string name;  // op type, or node name (op type)
  int64_t calls = 0;
  double total_us = 0, share = 0;  // share of all recorded node time, 0..1
};
// Sorted by total time, largest first; at most `top` rows (0: all).
std::vector<ProfileShare> profile_by_op_type(const Session& session, size_t top = 0);
std::vector<ProfileShare> profile_by_node(const Session& session, size_t top = 0);

}  // namespace normrt
