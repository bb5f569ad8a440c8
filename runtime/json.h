// JSON text helpers shared by the profiler's Chrome trace and the CLI's --json outputs.
#pragma once
#include <string>

namespace normrt {

// `s` with '"', '\' and control characters escaped, ready to sit between JSON quotes.
std::string json_escape(const std::string& s);

}  // namespace normrt
