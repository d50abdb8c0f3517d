// GET and HEAD for the files below a root directory.
//
// A request target maps to a path below the root (static_path.h). The path is resolved
// with realpath, and a file whose real path is outside the root (through a symbolic link)
// gets 403, as a ".." segment does. A request for a directory gets its index.html, or 403
// when it has none. Files are read through goro::os and realpath runs in goro::blocking, so
// a slow disk blocks a thread but not a P.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "request_parser.h"

namespace httpd {

// Writes bytes to the client; returns false when the connection failed.
using write_function = std::function<bool(std::string_view)>;

class file_server {
 public:
  // Files up to this size are read whole and appended to the batch's output; larger ones
  // are sent in pieces of this size, so a connection buffers at most this much of a file.
  static constexpr std::size_t kPieceBytes = 64 * 1024;

  // Serves the directory `root`. Throws std::system_error if it does not exist or is not
  // a directory.
  explicit file_server(const std::string& root);

  // Appends the response to `req` to `out`. For a file larger than kPieceBytes, first
  // writes `out` and the response head with `write`, then the file in pieces. Returns false
  // if a write failed, after which the connection must close.
  bool serve(const request& req, bool keep_alive, std::string_view date, std::string& out,
             const write_function& write) const;

  const std::string& root() const { return root_; }

 private:
  std::string root_;  // the real path of the root, without a trailing '/'
};

}  // namespace httpd
