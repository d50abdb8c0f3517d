// Files below a root directory; see file_server.h.
#include "file_server.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <system_error>
#include <utility>

#include <goro/os.hpp>
#include <goro/runtime.hpp>

#include "response_writer.h"
#include "static_path.h"

namespace httpd {
namespace {

struct opened_file {
  goro::os::file file;
  std::size_t size = 0;
  bool is_directory = false;
  int error_status = 0;  // 0 when file is open, else the response status
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

// Returns the real path of `path` (symbolic links followed), or the errno value of failure.
std::pair<std::string, int> real_path(const std::string& path) {
  return goro::blocking([&] {
    char resolved[PATH_MAX];
    if (::realpath(path.c_str(), resolved) == nullptr) return std::pair<std::string, int>("", errno);
    return std::pair<std::string, int>(resolved, 0);
  });
}

// Resolves and opens `path`, which must stay below `root` once symbolic links are followed.
opened_file open_below_root(const std::string& root, const std::string& path) {
  auto [resolved, error] = real_path(path);
  if (error == ENOENT || error == ENOTDIR) return failure(404, "no such file");
  if (error == EACCES) return failure(403, "permission denied");
  if (error != 0) return failure(500, "cannot resolve the path");
  if (!is_within(resolved, root)) return failure(403, "the path leads outside the root directory");

  opened_file result;
  try {
    result.file = goro::os::open(resolved);
    goro::os::file_info info = result.file.stat();
    if (!info.is_directory() && !info.is_regular()) return failure(403, "not a regular file");
    result.is_directory = info.is_directory();
    result.size = static_cast<std::size_t>(info.size);
  } catch (const goro::os::path_error& e) {
    if (e.code() == std::errc::permission_denied) return failure(403, "permission denied");
    if (e.code() == std::errc::no_such_file_or_directory) return failure(404, "no such file");
    std::fprintf(stderr, "httpd: %s\n", e.what());
    return failure(500, "cannot open the file");
  }
  return result;
}

// Reads up to n bytes into buf; returns 0 at end of file or, after logging it, on an error.
std::size_t read_piece(goro::os::file& file, char* buf, std::size_t n) {
  try {
    return file.read(buf, n);
  } catch (const goro::os::path_error& e) {
    std::fprintf(stderr, "httpd: %s\n", e.what());
    return 0;
  }
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
  opened_file file = open_below_root(root_, path);
  if (file.error_status == 0 && file.is_directory) {
    if (!target.names_directory) {
      // Relative links in the index page need the trailing slash, so redirect to it. As Go's
      // FileServer does, the location is relative (the last path segment and a slash) and
      // keeps the query: copying the target would copy the host of an absolute-form target
      // ("GET http://other.example/docs") into the redirect.
      const std::string_view target_text = req.target;
      const std::size_t path_end = std::min(target_text.find_first_of("?#"), target_text.size());
      const std::string_view request_path = target_text.substr(0, path_end);
      std::string location = "Location: ";
      location += request_path.substr(request_path.rfind('/') + 1);
      location += '/';
      if (path_end < target_text.size() && target_text[path_end] == '?') {
        location += target_text.substr(path_end, target_text.find('#', path_end) - path_end);
      }
      location += "\r\n";
      head.status = 301;
      head.extra_fields = location;
      append_text_response(out, head, "", date, head_only);
      return true;
    }
    path += "/index.html";
    file = open_below_root(root_, path);
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
      std::size_t got = read_piece(file.file, contents.data() + done, file.size - done);
      if (got == 0) break;
      done += got;
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
    std::size_t got = read_piece(file.file, piece.data(), std::min(kPieceBytes, file.size - offset));
    // A file that shrank after the head promised its length cannot be completed, so the
    // connection closes and the client receives a short body.
    if (got == 0) return false;
    if (!write(std::string_view(piece.data(), got))) return false;
    offset += got;
  }
  return true;
}

}  // namespace httpd
