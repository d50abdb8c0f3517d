// Files below a root directory; see file_server.h.
#include "file_server.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <system_error>
#include <utility>

#include <goro/runtime.hpp>

#include "response_writer.h"
#include "static_path.h"

namespace httpd {
namespace {

// Closes a descriptor when it goes out of scope.
class file_descriptor {
 public:
  explicit file_descriptor(int fd = -1) : fd_(fd) {}
  file_descriptor(file_descriptor&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  file_descriptor& operator=(file_descriptor&& other) noexcept {
    std::swap(fd_, other.fd_);
    return *this;
  }
  ~file_descriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

struct opened_file {
  file_descriptor fd;
  std::size_t size = 0;
  bool is_directory = false;
  int error_status = 0;  // 0 when fd is open, else the response status
  std::string_view error_detail;
};

opened_file failure(int status, std::string_view detail) {
  opened_file result;
  result.error_status = status;
  result.error_detail = detail;
  return result;
}

bool is_within(std::string_view path, std::string_view root) {
  if (root == "/") return true;
  return path == root || (path.size() > root.size() && path.substr(0, root.size()) == root &&
                          path[root.size()] == '/');
}

// Resolves and opens `path`, which must stay below `root` once symbolic links are
// followed. Blocks on the file system, so it runs in goro::blocking.
opened_file open_below_root(const std::string& root, const std::string& path) {
  char resolved[PATH_MAX];
  if (::realpath(path.c_str(), resolved) == nullptr) {
    if (errno == ENOENT || errno == ENOTDIR) return failure(404, "no such file");
    if (errno == EACCES) return failure(403, "permission denied");
    return failure(500, "cannot resolve the path");
  }
  if (!is_within(resolved, root)) return failure(403, "the path leads outside the root directory");

  opened_file result;
  result.fd = file_descriptor(::open(resolved, O_RDONLY | O_CLOEXEC));
  if (result.fd.get() < 0) {
    return errno == EACCES ? failure(403, "permission denied") : failure(500, "cannot open the file");
  }
  struct stat status;
  if (::fstat(result.fd.get(), &status) != 0) return failure(500, "cannot stat the file");
  if (S_ISDIR(status.st_mode)) {
    result.is_directory = true;
  } else if (!S_ISREG(status.st_mode)) {
    return failure(403, "not a regular file");
  }
  result.size = static_cast<std::size_t>(status.st_size);
  return result;
}

// Reads up to n bytes at offset into buf; returns the count, 0 at end of file, -1 on error.
ssize_t read_piece(int fd, char* buf, std::size_t n, std::size_t offset) {
  return goro::blocking([&] {
    ssize_t got;
    do {
      got = ::pread(fd, buf, n, static_cast<off_t>(offset));
    } while (got < 0 && errno == EINTR);
    return got;
  });
}

}  // namespace

file_server::file_server(const std::string& root) {
  char resolved[PATH_MAX];
  if (::realpath(root.c_str(), resolved) == nullptr) {
    throw std::system_error(errno, std::generic_category(), "root directory " + root);
  }
  struct stat status;
  if (::stat(resolved, &status) != 0) {
    throw std::system_error(errno, std::generic_category(), "root directory " + root);
  }
  if (!S_ISDIR(status.st_mode)) {
    throw std::system_error(ENOTDIR, std::generic_category(), "root directory " + root);
  }
  root_ = resolved;
}

bool file_server::serve(const request& req, bool keep_alive, std::string_view date,
                        std::string& out, const write_function& write) const {
  bool head_only = req.method == "HEAD";
  response_head head;
  head.keep_alive = keep_alive;
  head.version_minor = req.version_minor;

  target_path target = resolve_target_path(req.target);
  if (target.error_status != 0) {
    head.status = target.error_status;
    append_text_response(out, head, target.error_detail, date, head_only);
    return true;
  }

  // Open the file, or the index.html of a directory.
  std::string path = root_ + "/" + target.relative;
  opened_file file = goro::blocking([&] { return open_below_root(root_, path); });
  if (file.error_status == 0 && file.is_directory) {
    if (!target.names_directory) {
      // Relative links in the index page need the trailing slash, so redirect to it.
      std::string location = "Location: ";
      location += req.target.substr(0, req.target.find_first_of("?#"));
      location += "/\r\n";
      head.status = 301;
      head.extra_fields = location;
      append_text_response(out, head, "", date, head_only);
      return true;
    }
    path += "/index.html";
    file = goro::blocking([&] { return open_below_root(root_, path); });
    if (file.error_status == 404 || (file.error_status == 0 && file.is_directory)) {
      file = failure(403, "directory has no index.html");
    }
  }
  if (file.error_status != 0) {
    head.status = file.error_status;
    append_text_response(out, head, file.error_detail, date, head_only);
    return true;
  }
  head.content_type = content_type_for(path);

  // A small file goes into the batch's output whole.
  if (file.size <= kPieceBytes) {
    std::string contents(file.size, '\0');
    std::size_t done = 0;
    while (done < file.size) {
      ssize_t got = read_piece(file.fd.get(), contents.data() + done, file.size - done, done);
      if (got <= 0) break;
      done += static_cast<std::size_t>(got);
    }
    contents.resize(done);  // the file may have shrunk since fstat
    head.content_length = done;
    append_response_head(out, head, date);
    if (!head_only) out += contents;
    return true;
  }

  // A larger one follows the output so far, one piece at a time.
  head.content_length = file.size;
  append_response_head(out, head, date);
  bool written = write(out);
  out.clear();
  if (!written) return false;
  if (head_only) return true;
  std::string piece(kPieceBytes, '\0');
  std::size_t offset = 0;
  while (offset < file.size) {
    ssize_t got = read_piece(file.fd.get(), piece.data(), std::min(kPieceBytes, file.size - offset),
                             offset);
    // A file that shrank after the head promised its length cannot be completed, so the
    // connection closes and the client sees a short body.
    if (got <= 0) return false;
    if (!write(std::string_view(piece.data(), static_cast<std::size_t>(got)))) return false;
    offset += static_cast<std::size_t>(got);
  }
  return true;
}

}  // namespace httpd
