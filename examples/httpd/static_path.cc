// Request target to file path, and Content-Type by extension; see static_path.h.
#include "static_path.h"

#include <array>
#include <utility>

#include "request_parser.h"

namespace httpd {
namespace {

int hex_digit_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

target_path reject(int status, std::string_view detail) {
  target_path result;
  result.error_status = status;
  result.error_detail = detail;
  return result;
}

}  // namespace

target_path resolve_target_path(std::string_view target) {
  // Absolute form: drop "scheme://authority"; the path starts at the next '/'.
  std::size_t scheme_end = target.find("://");
  if (!target.empty() && target.front() != '/' && scheme_end != std::string_view::npos) {
    std::size_t path_start = target.find('/', scheme_end + 3);
    target = path_start == std::string_view::npos ? std::string_view("/") : target.substr(path_start);
  }
  if (target.empty() || target.front() != '/') return reject(400, "request target is not a path");

  std::size_t query = target.find_first_of("?#");
  std::string_view path = target.substr(0, query);

  target_path result;
  result.names_directory = path.back() == '/';
  std::string segment;
  auto finish_segment = [&]() -> bool {
    if (segment == "..") return false;
    if (!segment.empty() && segment != ".") {
      if (!result.relative.empty()) result.relative += '/';
      result.relative += segment;
    }
    segment.clear();
    return true;
  };

  // Decode first and split after, so that "%2e%2e" and "..%2f" are caught as well.
  for (std::size_t i = 1; i < path.size(); ++i) {
    char c = path[i];
    if (c == '%') {
      int high = i + 2 < path.size() ? hex_digit_value(path[i + 1]) : -1;
      int low = i + 2 < path.size() ? hex_digit_value(path[i + 2]) : -1;
      if (high < 0 || low < 0) return reject(400, "invalid percent-encoding in the request target");
      c = static_cast<char>(high * 16 + low);
      i += 2;
      if (c == '\0') return reject(400, "NUL byte in the request target");
    }
    if (c == '/') {
      if (!finish_segment()) return reject(403, "\"..\" in the request path");
      continue;
    }
    segment += c;
  }
  if (!finish_segment()) return reject(403, "\"..\" in the request path");
  return result;
}

std::string_view content_type_for(std::string_view file_name) {
  // The table built into Go's mime package (Go 1.19, mime/type.go) plus .txt, which Go
  // takes from the system's mime.types.
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 17> kTypes = {{
      {"avif", "image/avif"},
      {"css", "text/css; charset=utf-8"},
      {"gif", "image/gif"},
      {"htm", "text/html; charset=utf-8"},
      {"html", "text/html; charset=utf-8"},
      {"jpeg", "image/jpeg"},
      {"jpg", "image/jpeg"},
      {"js", "text/javascript; charset=utf-8"},
      {"json", "application/json"},
      {"mjs", "text/javascript; charset=utf-8"},
      {"pdf", "application/pdf"},
      {"png", "image/png"},
      {"svg", "image/svg+xml"},
      {"txt", "text/plain; charset=utf-8"},
      {"wasm", "application/wasm"},
      {"webp", "image/webp"},
      {"xml", "text/xml; charset=utf-8"},
  }};
  std::size_t slash = file_name.rfind('/');
  std::string_view base = slash == std::string_view::npos ? file_name : file_name.substr(slash + 1);
  std::size_t dot = base.rfind('.');
  if (dot != std::string_view::npos && dot + 1 < base.size()) {
    std::string_view extension = base.substr(dot + 1);
    for (const auto& [known, type] : kTypes) {
      if (equals_ignore_case(extension, known)) return type;
    }
  }
  return "application/octet-stream";
}

}  // namespace httpd
