#include "runtime/log.h"

#include <atomic>
#include <memory>
#include <mutex>

namespace normrt {

namespace {
struct Logger {
  std::mutex mutex;
  std::shared_ptr<const LogSink> sink;             // replaced whole, so a call in flight keeps its copy
  std::atomic<int> min_level{int(LogLevel::Error) + 1};  // above every level: off
};
Logger& logger() {
  static Logger* l = new Logger();  // never destroyed: sessions may log during static destruction
  return *l;
}
}  // namespace

void set_log_sink(LogSink sink, LogLevel min_level) {
  Logger& l = logger();
  std::lock_guard<std::mutex> lock(l.mutex);
  l.sink = sink ? std::make_shared<const LogSink>(std::move(sink)) : nullptr;
  l.min_level = l.sink ? int(min_level) : int(LogLevel::Error) + 1;
}

bool log_enabled(LogLevel level) { return int(level) >= logger().min_level.load(std::memory_order_relaxed); }

void log_message(LogLevel level, const std::string& message) {
  Logger& l = logger();
  std::shared_ptr<const LogSink> sink;
  {
    std::lock_guard<std::mutex> lock(l.mutex);
    sink = l.sink;
  }
  if (sink && int(level) >= l.min_level.load(std::memory_order_relaxed)) (*sink)(level, message);
}

}  // namespace normrt
