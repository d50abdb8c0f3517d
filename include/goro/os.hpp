// goro::os: files, with Go's os package as the model.
//
//   std::string page = goro::os::read_file("/srv/www/index.html");
//   goro::os::file f = goro::os::open("/srv/www/big.iso");
//   char buf[65536];
//   while (std::size_t n = f.read(buf, sizeof buf)) conn.write(buf, n);
//
// Every system call runs in goro::blocking: a slow disk or network file system holds the
// calling thread, and the scheduler moves the goroutine's P to another thread meanwhile.
// Errors throw goro::os::path_error, a std::system_error whose code() is the errno value and
// whose what() reads like Go's *os.PathError: "open /x: no such file or directory".
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "goro/export.hpp"

namespace goro::os {

class GORO_EXPORT path_error : public std::system_error {
 public:
  // what() is "op path: reason"; reason defaults to cause.message().
  path_error(std::error_code cause, std::string op, std::string path, std::string reason = {});
  ~path_error() override;

  const char* what() const noexcept override { return message_.c_str(); }
  const std::string& op() const noexcept { return op_; }  // "open", "read", "stat", ...
  const std::string& path() const noexcept { return path_; }

 private:
  std::string op_;
  std::string path_;
  std::string message_;
};

// File metadata from stat: Go's os.FileInfo.
struct file_info {
  std::string name;  // the last element of the path
  std::int64_t size = 0;
  std::uint32_t mode = 0;  // st_mode: file type and permission bits
  std::chrono::system_clock::time_point modification_time;
  bool is_directory() const noexcept;
  bool is_regular() const noexcept;
};

// An open file. Movable, not copyable; the destructor closes it. Unlike a goro::net::conn, a
// file must not be used from two goroutines at once without a lock, and close() must not run
// while another call uses it.
class GORO_EXPORT file {
 public:
  file() = default;
  file(file&& other) noexcept;
  file& operator=(file&& other) noexcept;
  file(const file&) = delete;
  file& operator=(const file&) = delete;
  ~file();

  // The same as goro::os::open(path), for callers that spell it as a member of the class.
  static file open(std::string_view path);

  // Reads up to n bytes; returns 0 at end of file (or when n is 0).
  std::size_t read(void* buf, std::size_t n);
  // Writes all n bytes or throws.
  void write(const void* buf, std::size_t n);
  // Closes the file; a second close throws path_error "close <name>: file already closed".
  void close();
  file_info stat() const;

  const std::string& name() const noexcept { return name_; }  // the path it was opened with
  int fd() const noexcept { return fd_; }  // -1 once closed
  bool is_open() const noexcept { return fd_ >= 0; }

 private:
  friend GORO_EXPORT file open_file(std::string_view path, int flags, unsigned permissions);
  file(int fd, std::string name) noexcept : fd_(fd), name_(std::move(name)) {}
  int fd_ = -1;
  std::string name_;
};

// Opens `path` with open(2) flags (O_CLOEXEC is always added) and, if the call creates the
// file, `permissions` before the umask. Go's os.OpenFile.
GORO_EXPORT file open_file(std::string_view path, int flags, unsigned permissions = 0666);
// Opens for reading (Go's os.Open).
GORO_EXPORT file open(std::string_view path);
// Creates or truncates, for reading and writing, with permissions 0666 before the umask
// (Go's os.Create).
GORO_EXPORT file create(std::string_view path);

// The whole content of `path`.
GORO_EXPORT std::string read_file(std::string_view path);
// Replaces the content of `path` with `data`, creating it with `permissions` (before the
// umask) if it does not exist.
GORO_EXPORT void write_file(std::string_view path, std::string_view data,
                            unsigned permissions = 0666);
// Follows symbolic links, as Go's os.Stat does.
GORO_EXPORT file_info stat(std::string_view path);

}  // namespace goro::os
