// Reading the kernel's text files (/proc, /sys) without allocating.
//
// Model: the bootstrap reads a handful of small kernel files (cgroup membership, mount table,
// CPU quota, THP size, map-count limit) before the allocator exists and within a start-up
// budget of a few tens of thousands of instructions. So every read goes through open(2) and
// read(2) into a caller's stack buffer, scanning uses memchr/memmem (vectorised in glibc)
// rather than byte loops, and nothing here touches stdio, iostreams or the heap.
//
// Every path is resolved under a `root` directory, "/" in production, so that tests can build
// a fake /proc and /sys tree in a temporary directory and point the readers at it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace goro::rt::os {

// Maximum length of a path built by join_path, including the terminating NUL. Linux's
// PATH_MAX (4096) bounds every path the kernel accepts, so a longer one could not be opened.
inline constexpr std::size_t kMaxPathBytes = 4096;

// Writes `root` + `path` into out[0..capacity) as a NUL-terminated string and returns its
// length, or -1 if it does not fit. Trailing slashes of `root` are dropped, so root "/" and
// root "" both leave `path` unchanged; `path` is expected to start with '/'.
long join_path(char* out, std::size_t capacity, const char* root, std::string_view path);

// Opens `root` + `path` read-only with O_CLOEXEC. Returns the fd, or -1 with errno set
// (ENAMETOOLONG when the joined path does not fit in kMaxPathBytes).
int open_under(const char* root, std::string_view path);

// Reads the whole of `root` + `path` into buffer[0..capacity-1] and NUL-terminates it.
// Returns the number of bytes read, or -1 if the file cannot be opened or read, or if it
// fills the buffer (then it is larger than any well-formed value the caller expects).
long read_small_file(const char* root, std::string_view path, char* buffer,
                     std::size_t capacity);

// Parses a whole string as a decimal int64 with an optional leading '-'. Rejects an empty
// string, a '+' sign, spaces, any other character and overflow.
bool parse_int64(std::string_view text, std::int64_t* out);

// Removes one trailing "\n" if present (kernel value files end with a newline).
std::string_view trim_newline(std::string_view text);

// Hands out a file's contents in blocks of whole lines, using a caller-provided buffer.
//
// Each block ends just after a '\n' (or at end of file), so a scanner can search a block
// with memchr/memmem without caring about lines cut at a read boundary. A line longer than
// the whole buffer cannot be returned whole: it is skipped and counted in skipped_lines().
class line_block_reader {
 public:
  line_block_reader(int fd, char* buffer, std::size_t capacity)
      : fd_(fd), buffer_(buffer), capacity_(capacity) {}

  // Stores the next block in *block and returns true, or returns false at end of file or on
  // a read error (then failed() is true).
  bool next(std::string_view* block);

  bool failed() const { return failed_; }
  std::size_t skipped_lines() const { return skipped_lines_; }

 private:
  // Reads more bytes after the pending ones; returns false at end of file or on error.
  bool fill();

  int fd_;
  char* buffer_;
  std::size_t capacity_;
  std::size_t pending_begin_ = 0;  // unreturned bytes are buffer_[pending_begin_, pending_end_)
  std::size_t pending_end_ = 0;
  std::size_t skipped_lines_ = 0;
  bool eof_ = false;
  bool failed_ = false;
  bool discarding_ = false;  // inside a line too long for the buffer, dropping bytes to its '\n'
};

}  // namespace goro::rt::os
