// goro::os: files whose every system call runs in goro::blocking (see include/goro/os.hpp).
#include "goro/os.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "goro/runtime.hpp"
#include "lib/error_text.h"

namespace goro::os {

namespace {

// A system call's result and, when it failed, its errno, read on the thread that made the
// call (leaving goro::blocking may switch threads).
template <class T>
struct call_result {
  T value;
  std::error_code error;
};

// Runs a system call in goro::blocking, retrying on EINTR.
template <class Call>
auto retry_blocking(Call&& call) {
  using T = decltype(call());
  return goro::blocking([&] {
    for (;;) {
      T value = call();
      if (value >= 0) return call_result<T>{value, {}};
      if (errno != EINTR) return call_result<T>{value, {errno, std::system_category()}};
    }
  });
}

// close(2) in goro::blocking. No retry on EINTR: Linux has released the descriptor whatever
// close returns, and a retry could close a descriptor another thread just opened.
std::error_code close_blocking(int fd) {
  return goro::blocking([fd]() -> std::error_code {
    if (::close(fd) == 0 || errno == EINTR) return {};
    return {errno, std::system_category()};
  });
}

path_error closed_file_error(const char* op, const std::string& name) {
  return path_error(std::make_error_code(std::errc::bad_file_descriptor), op, name,
                    "file already closed");
}

file_info info_from_stat(const struct stat& st, std::string_view path) {
  file_info info;
  std::size_t slash = path.find_last_of('/');
  // "/a/b/" names b, as Go's Stat does after cleaning the path.
  while (path.size() > 1 && path.back() == '/') {
    path.remove_suffix(1);
    slash = path.find_last_of('/');
  }
  info.name = std::string(slash == std::string_view::npos || path.size() == 1
                              ? path
                              : path.substr(slash + 1));
  info.size = static_cast<std::int64_t>(st.st_size);
  info.mode = static_cast<std::uint32_t>(st.st_mode);
  info.modification_time = std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec)));
  return info;
}

}  // namespace

path_error::path_error(std::error_code cause, std::string op, std::string path,
                       std::string reason)
    : std::system_error(cause), op_(std::move(op)), path_(std::move(path)) {
  message_ = op_ + " " + path_ + ": " + (reason.empty() ? rt::go_error_text(cause) : reason);
}

path_error::~path_error() = default;

bool file_info::is_directory() const noexcept { return S_ISDIR(mode); }
bool file_info::is_regular() const noexcept { return S_ISREG(mode); }

file open_file(std::string_view path, int flags, unsigned permissions) {
  std::string name(path);
  auto fd = retry_blocking(
      [&] { return ::open(name.c_str(), flags | O_CLOEXEC, static_cast<mode_t>(permissions)); });
  if (fd.error) throw path_error(fd.error, "open", name);
  return file(fd.value, std::move(name));
}

file open(std::string_view path) { return open_file(path, O_RDONLY); }

file file::open(std::string_view path) { return os::open(path); }

file create(std::string_view path) { return open_file(path, O_RDWR | O_CREAT | O_TRUNC, 0666); }

file::file(file&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), name_(std::move(other.name_)) {}

file& file::operator=(file&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) (void)close_blocking(fd_);
    fd_ = std::exchange(other.fd_, -1);
    name_ = std::move(other.name_);
  }
  return *this;
}

file::~file() {
  if (fd_ >= 0) (void)close_blocking(fd_);
}

std::size_t file::read(void* buf, std::size_t n) {
  if (fd_ < 0) throw closed_file_error("read", name_);
  if (n == 0) return 0;
  auto got = retry_blocking([&] { return ::read(fd_, buf, n); });
  if (got.error) throw path_error(got.error, "read", name_);
  return static_cast<std::size_t>(got.value);
}

void file::write(const void* buf, std::size_t n) {
  if (fd_ < 0) throw closed_file_error("write", name_);
  const char* bytes = static_cast<const char*>(buf);
  std::size_t done = 0;
  while (done < n) {
    auto wrote = retry_blocking([&] { return ::write(fd_, bytes + done, n - done); });
    if (wrote.error) throw path_error(wrote.error, "write", name_);
    done += static_cast<std::size_t>(wrote.value);
  }
}

void file::close() {
  if (fd_ < 0) throw closed_file_error("close", name_);
  if (std::error_code ec = close_blocking(std::exchange(fd_, -1))) {
    throw path_error(ec, "close", name_);
  }
}

file_info file::stat() const {
  if (fd_ < 0) throw closed_file_error("stat", name_);
  struct stat st{};
  if (auto rc = retry_blocking([&] { return ::fstat(fd_, &st); }); rc.error) {
    throw path_error(rc.error, "stat", name_);
  }
  return info_from_stat(st, name_);
}

file_info stat(std::string_view path) {
  std::string name(path);
  struct stat st{};
  if (auto rc = retry_blocking([&] { return ::stat(name.c_str(), &st); }); rc.error) {
    throw path_error(rc.error, "stat", name);
  }
  return info_from_stat(st, name);
}

std::string read_file(std::string_view path) {
  file f = open(path);
  // The size is only a hint: the file may grow or shrink while it is read, and files in
  // /proc report 0. Reads go straight into the string, not through a buffer on the stack.
  constexpr std::size_t kMinRead = 512;
  std::int64_t size_hint = f.stat().size;
  std::string data;
  std::size_t expected = static_cast<std::size_t>(std::max<std::int64_t>(size_hint, 0));
  data.resize(std::max(expected + 1, kMinRead));
  std::size_t length = 0;
  for (;;) {
    if (length == data.size()) data.resize(data.size() * 2);
    std::size_t got = f.read(data.data() + length, data.size() - length);
    if (got == 0) break;
    length += got;
  }
  data.resize(length);
  f.close();
  return data;
}

void write_file(std::string_view path, std::string_view data, unsigned permissions) {
  file f = open_file(path, O_WRONLY | O_CREAT | O_TRUNC, permissions);
  f.write(data.data(), data.size());
  f.close();
}

}  // namespace goro::os
