// Raw diagnostic output for the runtime, the counterpart of Go's runtime `print`.
//
// Model: every runtime message (fatal errors, panics, tracebacks, GODEBUG traces) is written
// to fd 2 with write(2), unbuffered. Nothing here allocates, takes a lock that user code can
// hold, or touches stdio, so it is safe on failure paths: inside a SIGSEGV handler on the
// alternate signal stack, while the allocator is broken, or while the world is stopped.
//
// Invariants:
//   * Each `print` call formats into a stack buffer and issues write(2) calls for it; a line
//     built from several calls may interleave with another thread's output, as Go's does.
//     Callers that need whole lines (trace lines) build them in a `line_buffer` first.
//   * EINTR is retried; short writes continue; any other error drops the rest silently,
//     because a diagnostic writer has nowhere to report its own failure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace goro::rt {

// A fixed-capacity text buffer that never allocates. Text beyond the capacity is dropped and
// `truncated()` turns true, so a long line is cut rather than overflowing.
class line_buffer {
 public:
  line_buffer(char* storage, std::size_t capacity) : data_(storage), capacity_(capacity) {}

  line_buffer& str(std::string_view s);
  line_buffer& chr(char c);
  line_buffer& dec(std::int64_t v);
  line_buffer& udec(std::uint64_t v);
  // Lower-case hexadecimal with a 0x prefix, as Go's hex().
  line_buffer& hex(std::uint64_t v);
  // Go's fmtNSAsMS: integer milliseconds from 10 ms up, otherwise two significant digits
  // with at most three decimals, and "0" below one microsecond.
  line_buffer& ns_as_ms(std::int64_t ns);
  line_buffer& boolean(bool v) { return str(v ? "true" : "false"); }

  std::string_view view() const { return {data_, size_}; }
  std::size_t size() const { return size_; }
  bool truncated() const { return truncated_; }
  void clear() { size_ = 0; truncated_ = false; }

  // Writes the contents to fd and clears the buffer.
  void flush(int fd = 2);

 private:
  char* data_;
  std::size_t capacity_;
  std::size_t size_ = 0;
  bool truncated_ = false;
};

// A line_buffer with its own storage on the caller's stack.
template <std::size_t N>
class stack_line : public line_buffer {
 public:
  stack_line() : line_buffer(storage_, N) {}
  // The base points into storage_, so a copy would write into the original's buffer.
  stack_line(const stack_line&) = delete;
  stack_line& operator=(const stack_line&) = delete;

 private:
  char storage_[N];
};

// Writes all of `s` to fd (default stderr), retrying EINTR and short writes.
void write_all(std::string_view s, int fd = 2);

}  // namespace goro::rt
