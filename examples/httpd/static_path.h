// Mapping a request target to a file below the server's root directory, and a file's
// Content-Type from its extension. Pure string work; the server opens the file.
#pragma once

#include <string>
#include <string_view>

namespace httpd {

struct target_path {
  // 0 when `relative` is valid, else the response status: 400 for a malformed target,
  // 403 for a path that climbs out of the root with "..".
  int error_status = 0;
  std::string_view error_detail;
  // The decoded path below the root without a leading '/', segments joined by '/', such as
  // "css/site.css"; empty for the root itself.
  std::string relative;
  // The target's path ends in '/', so it names a directory.
  bool names_directory = false;
};

// Decodes the path of an origin-form ("/a/b?q") or absolute-form ("http://host/a/b")
// request target. The query is dropped, %XX escapes are decoded, and empty and "."
// segments are skipped. A ".." segment gets 403 rather than being resolved, so no
// target can name a file outside the root; a decoded NUL byte or an invalid escape gets
// 400.
target_path resolve_target_path(std::string_view target);

// Returns the Content-Type for a file name from its extension (case-insensitive), such as
// "text/html; charset=utf-8" for "index.html"; "application/octet-stream" when unknown.
std::string_view content_type_for(std::string_view file_name);

}  // namespace httpd
