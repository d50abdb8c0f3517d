#include "runtime/trace/print.h"

#include <cerrno>
#include <unistd.h>

namespace goro::rt {

line_buffer& line_buffer::str(std::string_view s) {
  for (char c : s) chr(c);
  return *this;
}

line_buffer& line_buffer::chr(char c) {
  if (size_ < capacity_) {
    data_[size_++] = c;
  } else {
    truncated_ = true;
  }
  return *this;
}

line_buffer& line_buffer::udec(std::uint64_t v) {
  char digits[24];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n > 0) chr(digits[--n]);
  return *this;
}

line_buffer& line_buffer::dec(std::int64_t v) {
  if (v < 0) {
    chr('-');
    // Negate in unsigned arithmetic so INT64_MIN does not overflow.
    return udec(~static_cast<std::uint64_t>(v) + 1);
  }
  return udec(static_cast<std::uint64_t>(v));
}

line_buffer& line_buffer::hex(std::uint64_t v) {
  static constexpr char kDigits[] = "0123456789abcdef";
  char digits[16];
  int n = 0;
  do {
    digits[n++] = kDigits[v & 0xf];
    v >>= 4;
  } while (v != 0);
  str("0x");
  while (n > 0) chr(digits[--n]);
  return *this;
}

line_buffer& line_buffer::ns_as_ms(std::int64_t ns) {
  if (ns <= 0) return chr('0');
  if (ns >= 10'000'000) return dec(ns / 1'000'000);

  // Two significant digits, at most three decimals: start from microseconds (three decimals
  // of a millisecond) and drop one decimal for every factor of ten above 99.
  std::int64_t x = ns / 1000;
  if (x == 0) return chr('0');
  int decimals = 3;
  while (x >= 100) {
    x /= 10;
    --decimals;
  }
  char digits[8];
  int n = 0;
  for (int i = 0; i < decimals || x != 0; ++i) {
    digits[n++] = static_cast<char>('0' + x % 10);
    x /= 10;
    if (i + 1 == decimals) digits[n++] = '.';
  }
  if (digits[n - 1] == '.') digits[n++] = '0';
  while (n > 0) chr(digits[--n]);
  return *this;
}

void line_buffer::flush(int fd) {
  write_all(view(), fd);
  clear();
}

void write_all(std::string_view s, int fd) {
  const char* p = s.data();
  std::size_t left = s.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

}  // namespace goro::rt
