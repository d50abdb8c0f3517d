// Where a CPU profile or an execution trace is written: a file that goro opens itself, or a
// caller's std::ostream.
//
// Model. The execution trace and the CPU profile can be started by an environment variable
// (GOROTRACE, GOROCPUPROFILE), so the code that opens and writes their files is reachable
// from every goro::run. A std::ofstream there would link libstdc++'s whole iostream and
// locale machinery (about 400 KB when libstdc++ is linked statically) into every program.
// file_sink writes with open(2) and write(2) instead. stream_sink, the only user of
// std::ostream here, is constructed only by the public functions that take a std::ostream&,
// so a program that never calls them keeps iostream out of its binary under --gc-sections.
//
// Contract: callers use a sink from one thread at a time (the trace and profile APIs serialise
// start and stop), and call finish() at most once, after the last write().
#pragma once

#include <cstddef>
#include <memory>
#include <ostream>
#include <string>

namespace goro::rt {

class output_sink {
 public:
  virtual ~output_sink() = default;

  // Writes all `size` bytes; false if the output failed, now or on an earlier write.
  virtual bool write(const char* data, std::size_t size) = 0;

  // Flushes, and closes a file that the sink opened; false if any write or the close failed.
  virtual bool finish() = 0;
};

// A file created or truncated by open(2), written unbuffered with write(2) (callers write in
// large pieces) and closed by finish() or the destructor.
class file_sink final : public output_sink {
 public:
  // Opens `path` for writing with mode 0666 before the umask, as std::ofstream does. Returns
  // null and sets `error` to the errno value if the file cannot be opened.
  static std::unique_ptr<file_sink> create(const std::string& path, int& error);

  ~file_sink() override;
  file_sink(const file_sink&) = delete;
  file_sink& operator=(const file_sink&) = delete;

  bool write(const char* data, std::size_t size) override;
  bool finish() override;

 private:
  explicit file_sink(int fd) : fd_(fd) {}

  int fd_;  // -1 once closed
  bool failed_ = false;
};

// A caller's stream, which the caller keeps open and owns.
class stream_sink final : public output_sink {
 public:
  explicit stream_sink(std::ostream& out) : out_(out) {}

  bool write(const char* data, std::size_t size) override {
    out_.write(data, static_cast<std::streamsize>(size));
    return !out_.fail();
  }
  bool finish() override {
    out_.flush();
    return !out_.fail();
  }

 private:
  std::ostream& out_;
};

}  // namespace goro::rt
