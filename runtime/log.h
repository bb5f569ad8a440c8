// Process-wide logging: messages go to one sink (the C API's callback, say) when their level is at
// least the sink's minimum; with no sink nothing is formatted. Sessions log their creation summary
// (Info), each run (Verbose), cancelled runs (Info) and failures the C API reports (Error).
#pragma once
#include <functional>
#include <string>

namespace normrt {

enum class LogLevel { Verbose = 0, Info = 1, Warning = 2, Error = 3 };

using LogSink = std::function<void(LogLevel, const std::string&)>;

// Replaces the sink (an empty one turns logging off). The sink may be called from any thread
// that creates or runs a session, and from several at once; calls to it are not serialized.
void set_log_sink(LogSink sink, LogLevel min_level);
bool log_enabled(LogLevel level);
void log_message(LogLevel level, const std::string& message);

// log(level, [&] { return text; }): the text is built only when someone listens.
template <class F>
void log(LogLevel level, F&& make_message) {
  if (log_enabled(level)) log_message(level, make_message());
}

}  // namespace normrt
