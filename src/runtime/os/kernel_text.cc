#include "runtime/os/kernel_text.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace goro::rt::os {

long join_path(char* out, std::size_t capacity, const char* root, std::string_view path) {
  std::size_t root_length = root == nullptr ? 0 : std::strlen(root);
  while (root_length > 0 && root[root_length - 1] == '/') --root_length;

  std::size_t total = root_length + path.size();
  if (total + 1 > capacity) return -1;
  if (root_length > 0) std::memcpy(out, root, root_length);
  if (!path.empty()) std::memcpy(out + root_length, path.data(), path.size());
  out[total] = '\0';
  return static_cast<long>(total);
}

int open_under(const char* root, std::string_view path) {
  char full_path[kMaxPathBytes];
  if (join_path(full_path, sizeof full_path, root, path) < 0) {
    errno = ENAMETOOLONG;
    return -1;
  }
  int fd;
  do {
    fd = ::open(full_path, O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

long read_small_file(const char* root, std::string_view path, char* buffer,
                     std::size_t capacity) {
  if (capacity == 0) return -1;
  int fd = open_under(root, path);
  if (fd < 0) return -1;

  // Kernel attribute files are produced in one read, but loop anyway: a regular file in a
  // test tree, or a future kernel, may return short reads.
  std::size_t used = 0;
  long result = 0;
  for (;;) {
    ssize_t n = ::read(fd, buffer + used, capacity - 1 - used);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      result = -1;
      break;
    }
    if (n == 0) {
      result = static_cast<long>(used);
      break;
    }
    used += static_cast<std::size_t>(n);
    if (used == capacity - 1) {
      result = -1;  // no room left to tell a full file from a larger one
      break;
    }
  }
  ::close(fd);
  buffer[result < 0 ? 0 : used] = '\0';
  return result;
}

bool parse_int64(std::string_view text, std::int64_t* out) {
  bool negative = false;
  if (!text.empty() && text.front() == '-') {
    negative = true;
    text.remove_prefix(1);
  }
  if (text.empty()) return false;

  // Accumulate the magnitude as unsigned so that INT64_MIN, whose magnitude does not fit in
  // int64, still parses.
  constexpr std::uint64_t kMaxMagnitude = std::uint64_t{1} << 63;
  std::uint64_t magnitude = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    std::uint64_t digit = static_cast<std::uint64_t>(c - '0');
    if (magnitude > (kMaxMagnitude - digit) / 10) return false;
    magnitude = magnitude * 10 + digit;
  }
  if (!negative && magnitude == kMaxMagnitude) return false;

  *out = negative ? static_cast<std::int64_t>(~magnitude + 1) : static_cast<std::int64_t>(magnitude);
  return true;
}

std::string_view trim_newline(std::string_view text) {
  if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  return text;
}

bool line_block_reader::fill() {
  std::size_t pending = pending_end_ - pending_begin_;
  if (pending_begin_ > 0 && pending > 0) std::memmove(buffer_, buffer_ + pending_begin_, pending);
  pending_begin_ = 0;
  pending_end_ = pending;

  for (;;) {
    ssize_t n = ::read(fd_, buffer_ + pending_end_, capacity_ - pending_end_);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      failed_ = true;
      return false;
    }
    if (n == 0) {
      eof_ = true;
      return false;
    }
    pending_end_ += static_cast<std::size_t>(n);
    return true;
  }
}

bool line_block_reader::next(std::string_view* block) {
  for (;;) {
    char* begin = buffer_ + pending_begin_;
    std::size_t pending = pending_end_ - pending_begin_;

    if (discarding_) {
      // Drop the rest of an over-long line, up to and including its newline.
      auto* newline = static_cast<char*>(std::memchr(begin, '\n', pending));
      if (newline != nullptr) {
        pending_begin_ += static_cast<std::size_t>(newline - begin) + 1;
        discarding_ = false;
        ++skipped_lines_;
        continue;
      }
      pending_begin_ = pending_end_ = 0;
      if (eof_) {
        discarding_ = false;
        ++skipped_lines_;
        return false;
      }
      // At end of file the next pass counts the line; a read error ends the scan.
      if (!fill() && failed_) return false;
      continue;
    }

    if (pending > 0) {
      if (eof_) {
        // The last line may lack its newline; return it as it is.
        *block = std::string_view(begin, pending);
        pending_begin_ = pending_end_;
        return true;
      }
      // A backward loop, not memrchr: kernel files end in '\n', so it usually stops at once,
      // and one libc symbol fewer saves a lazy PLT resolution at start-up.
      std::size_t length = pending;
      while (length > 0 && begin[length - 1] != '\n') --length;
      if (length > 0) {
        *block = std::string_view(begin, length);
        pending_begin_ += length;
        return true;
      }
      if (pending == capacity_) {
        // One line fills the whole buffer: it cannot be returned whole.
        discarding_ = true;
        pending_begin_ = pending_end_ = 0;
        continue;
      }
    } else if (eof_ || failed_) {
      return false;
    }

    if (!fill() && failed_) return false;
  }
}

}  // namespace goro::rt::os
