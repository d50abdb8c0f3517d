// HTTP/1.1 request parsing; request_parser.h states what is accepted and rejected.
#include "request_parser.h"

#include <optional>

namespace httpd {
namespace {

constexpr std::string_view kCrlf = "\r\n";
constexpr std::size_t npos = std::string_view::npos;

// A chunk size above this many hex digits (60 bits) cannot fit any body limit, and parsing
// it would overflow std::size_t.
constexpr std::size_t kMaxChunkSizeDigits = 15;
// Content-Length values above this many decimal digits cannot fit any body limit.
constexpr std::size_t kMaxContentLengthDigits = 18;

parse_result fail(int status, std::string_view detail) {
  parse_result result;
  result.status = parse_status::error;
  result.error_status = status;
  result.error_detail = detail;
  return result;
}

parse_result incomplete(bool headers_complete) {
  parse_result result;
  result.status = parse_status::incomplete;
  result.headers_complete = headers_complete;
  return result;
}

char to_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// RFC 9110 section 5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "."
// / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA.
bool is_token_char(unsigned char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!is_token_char(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// Visible ASCII and bytes of 0x80 and above, which some clients send unencoded in paths.
bool is_target_char(unsigned char c) { return c > 0x20 && c != 0x7f; }

// RFC 9110 section 5.5: field-vchar, SP and HTAB; obs-text (0x80 and above) is allowed.
bool is_field_value_char(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

bool is_hex_digit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

std::size_t hex_value(char c) {
  if (c >= '0' && c <= '9') return static_cast<std::size_t>(c - '0');
  return static_cast<std::size_t>(to_lower(c) - 'a' + 10);
}

std::string_view trim_spaces(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Calls fn on each trimmed, non-empty element of a comma-separated field value.
template <class Fn>
void for_each_list_element(std::string_view value, Fn fn) {
  while (!value.empty()) {
    std::size_t comma = value.find(',');
    std::string_view element = trim_spaces(value.substr(0, comma));
    if (!element.empty()) fn(element);
    if (comma == npos) break;
    value.remove_prefix(comma + 1);
  }
}

// Checks the bytes after the last complete line. A line ending is always CRLF, so an LF in
// them, or a CR that something other than LF follows, can never become valid.
bool has_bare_line_ending(std::string_view tail) {
  for (std::size_t i = 0; i < tail.size(); ++i) {
    if (tail[i] == '\n') return true;
    if (tail[i] == '\r' && i + 1 < tail.size()) return true;
  }
  return false;
}

// Parses "name: value" (RFC 9112 section 5) into `field`; returns false if it is malformed.
bool parse_field_line(std::string_view line, header_field& field) {
  std::size_t colon = line.find(':');
  if (colon == npos) return false;
  // A name that ends in whitespace or a line that starts with it (obsolete line folding)
  // is not a token, so is_token rejects both.
  if (!is_token(line.substr(0, colon))) return false;

  std::string_view value = trim_spaces(line.substr(colon + 1));
  for (char c : value) {
    if (!is_field_value_char(static_cast<unsigned char>(c))) return false;
  }
  field.name = line.substr(0, colon);
  field.value = value;
  return true;
}

// Parses "METHOD SP target SP HTTP/x.y" into `out`; returns parse_status::complete on success.
parse_result parse_request_line(std::string_view line, request& out) {
  std::size_t method_end = line.find(' ');
  if (method_end == npos) return fail(400, "invalid request line");
  out.method = line.substr(0, method_end);
  if (!is_token(out.method)) return fail(400, "invalid method in the request line");

  std::string_view rest = line.substr(method_end + 1);
  std::size_t target_end = rest.find(' ');
  if (target_end == npos) return fail(400, "invalid request line");
  out.target = rest.substr(0, target_end);
  if (out.target.empty()) return fail(400, "missing request target");
  for (char c : out.target) {
    if (!is_target_char(static_cast<unsigned char>(c))) {
      return fail(400, "invalid character in the request target");
    }
  }

  std::string_view version = rest.substr(target_end + 1);
  bool well_formed = version.size() == 8 && version.substr(0, 5) == "HTTP/" &&
                     version[5] >= '0' && version[5] <= '9' && version[6] == '.' &&
                     version[7] >= '0' && version[7] <= '9';
  if (!well_formed) return fail(400, "invalid HTTP version in the request line");
  if (version[5] != '1') return fail(505, "only HTTP/1.0 and HTTP/1.1 are supported");
  // RFC 9110 section 2.5: a higher minor version is served as the highest one supported.
  out.version_minor = version[7] == '0' ? 0 : 1;

  parse_result result;
  result.status = parse_status::complete;
  return result;
}

// Framing facts gathered from the header fields.
struct body_framing {
  std::optional<std::size_t> content_length;
  bool content_length_too_large = false;
  bool has_transfer_encoding = false;
  bool last_coding_is_chunked = false;
  int chunked_count = 0;
  bool has_other_coding = false;
};

// Reads the header fields that decide framing and connection reuse.
parse_result interpret_headers(request& out, body_framing& framing) {
  int host_count = 0;
  bool connection_close = false;
  bool connection_keep_alive = false;
  bool expect_continue = false;

  for (const header_field& field : out.headers) {
    if (equals_ignore_case(field.name, "host")) {
      ++host_count;
    } else if (equals_ignore_case(field.name, "content-length")) {
      // Repeated fields or a list of identical values are allowed (RFC 9110 section 8.6).
      bool valid = true;
      bool empty = true;
      for_each_list_element(field.value, [&](std::string_view element) {
        empty = false;
        std::size_t value = 0;
        for (char c : element) {
          if (c < '0' || c > '9') valid = false;
        }
        if (!valid) return;
        if (element.size() > kMaxContentLengthDigits) {
          framing.content_length_too_large = true;
          return;
        }
        for (char c : element) value = value * 10 + static_cast<std::size_t>(c - '0');
        if (framing.content_length && *framing.content_length != value) valid = false;
        framing.content_length = value;
      });
      if (!valid || empty) return fail(400, "invalid Content-Length header");
    } else if (equals_ignore_case(field.name, "transfer-encoding")) {
      framing.has_transfer_encoding = true;
      for_each_list_element(field.value, [&](std::string_view coding) {
        framing.last_coding_is_chunked = equals_ignore_case(coding, "chunked");
        if (framing.last_coding_is_chunked) {
          ++framing.chunked_count;
        } else {
          framing.has_other_coding = true;
        }
      });
    } else if (equals_ignore_case(field.name, "connection")) {
      for_each_list_element(field.value, [&](std::string_view option) {
        if (equals_ignore_case(option, "close")) connection_close = true;
        if (equals_ignore_case(option, "keep-alive")) connection_keep_alive = true;
      });
    } else if (equals_ignore_case(field.name, "expect")) {
      expect_continue = equals_ignore_case(field.value, "100-continue");
    }
  }

  if (out.version_minor >= 1 && host_count != 1) {
    return fail(400, host_count == 0 ? "missing Host header" : "more than one Host header");
  }
  if (framing.has_transfer_encoding) {
    // RFC 9112 section 6.1: Transfer-Encoding in HTTP/1.0 means the framing is unreliable.
    if (out.version_minor == 0) return fail(400, "Transfer-Encoding in an HTTP/1.0 request");
    if (framing.content_length || framing.content_length_too_large) {
      return fail(400, "both Content-Length and Transfer-Encoding headers");
    }
    // A coding applied after chunked makes the body length unknowable, and chunked may be
    // applied only once (RFC 9112 sections 6.3 and 7).
    if (!framing.last_coding_is_chunked || framing.chunked_count > 1) {
      return fail(400, "Transfer-Encoding must end with chunked and name it once");
    }
    if (framing.has_other_coding) return fail(501, "only the chunked transfer coding is supported");
  }

  out.keep_alive = out.version_minor >= 1 ? !connection_close
                                          : connection_keep_alive && !connection_close;
  out.expect_continue = out.version_minor >= 1 && expect_continue;
  parse_result result;
  result.status = parse_status::complete;
  return result;
}

// Walks a chunked body that starts at input[start] (RFC 9112 section 7.1). When `sink` is
// not null, appends the chunk data to it. On success, result.consumed is the offset just
// past the trailer section. The framing (size lines, CRLFs, trailer fields) may take
// max_header_bytes beyond the body itself.
parse_result walk_chunked_body(std::string_view input, std::size_t start,
                               const request_limits& limits, std::string* sink) {
  std::size_t pos = start;
  std::size_t body_size = 0;
  std::size_t max_wire_bytes = limits.max_body_bytes + limits.max_header_bytes;

  for (;;) {
    std::size_t line_end = input.find(kCrlf, pos);
    // Incomplete with the allowance used up (>=): the connection buffer, max_request_bytes
    // long, is then full, and waiting for more would wait forever.
    if (pos - start > max_wire_bytes ||
        (line_end == npos && input.size() - start >= max_wire_bytes)) {
      return fail(413, "chunked request body too large");
    }
    if (line_end == npos) {
      if (has_bare_line_ending(input.substr(pos))) return fail(400, "invalid chunked body");
      return incomplete(true);
    }

    // chunk-size [ chunk-ext ] CRLF, where extensions start with ';' and are ignored.
    std::string_view line = input.substr(pos, line_end - pos);
    std::size_t digits = 0;
    while (digits < line.size() && is_hex_digit(line[digits])) ++digits;
    if (digits == 0) return fail(400, "invalid chunk size line");
    std::string_view extension = trim_spaces(line.substr(digits));
    if (!extension.empty() && extension.front() != ';') return fail(400, "invalid chunk size line");
    for (char c : extension) {
      if (!is_field_value_char(static_cast<unsigned char>(c))) {
        return fail(400, "invalid chunk extension");
      }
    }
    std::size_t leading_zeros = 0;
    while (leading_zeros + 1 < digits && line[leading_zeros] == '0') ++leading_zeros;
    if (digits - leading_zeros > kMaxChunkSizeDigits) return fail(413, "chunk size too large");
    std::size_t chunk_size = 0;
    for (std::size_t i = leading_zeros; i < digits; ++i) chunk_size = chunk_size * 16 + hex_value(line[i]);
    pos = line_end + kCrlf.size();

    if (chunk_size == 0) break;
    if (body_size + chunk_size > limits.max_body_bytes) return fail(413, "request body too large");
    if (input.size() - pos < chunk_size + kCrlf.size()) {
      if (input.size() - start >= max_wire_bytes) return fail(413, "chunked request body too large");
      return incomplete(true);
    }
    if (sink != nullptr) sink->append(input.substr(pos, chunk_size));
    body_size += chunk_size;
    pos += chunk_size;
    if (input.substr(pos, kCrlf.size()) != kCrlf) return fail(400, "chunk data not followed by CRLF");
    pos += kCrlf.size();
  }

  // The trailer section: field lines up to an empty line. The server uses none of them.
  for (;;) {
    std::size_t line_end = input.find(kCrlf, pos);
    if (line_end == npos) {
      if (has_bare_line_ending(input.substr(pos))) return fail(400, "invalid trailer section");
      if (input.size() - start >= max_wire_bytes) return fail(413, "chunked request body too large");
      return incomplete(true);
    }
    if (line_end + kCrlf.size() - start > max_wire_bytes) {
      return fail(413, "chunked request body too large");
    }
    if (line_end == pos) {
      pos += kCrlf.size();
      break;
    }
    header_field ignored;
    if (!parse_field_line(input.substr(pos, line_end - pos), ignored)) {
      return fail(400, "invalid trailer field");
    }
    pos = line_end + kCrlf.size();
  }

  parse_result result;
  result.status = parse_status::complete;
  result.consumed = pos;
  return result;
}

}  // namespace

bool equals_ignore_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (to_lower(a[i]) != to_lower(b[i])) return false;
  }
  return true;
}

std::size_t max_request_bytes(const request_limits& limits) {
  return 2 * limits.max_header_bytes + limits.max_body_bytes;
}

std::string_view request::find_header(std::string_view name) const {
  for (const header_field& field : headers) {
    if (equals_ignore_case(field.name, name)) return field.value;
  }
  return {};
}

parse_result parse_request(std::string_view input, const request_limits& limits, request& out) {
  out.method = {};
  out.target = {};
  out.version_minor = 1;
  out.headers.clear();
  out.body = {};
  out.keep_alive = true;
  out.expect_continue = false;
  out.decoded_body.clear();

  // Empty lines before the request line are skipped; they count against the header limit.
  std::size_t pos = 0;
  while (input.substr(pos, kCrlf.size()) == kCrlf) pos += kCrlf.size();

  // The request line and the header fields, one CRLF-terminated line at a time.
  bool request_line_done = false;
  for (;;) {
    std::size_t line_end = input.find(kCrlf, pos);
    if (line_end == npos) {
      if (has_bare_line_ending(input.substr(pos))) return fail(400, "line not terminated by CRLF");
      if (input.size() >= limits.max_header_bytes) return fail(431, "request header section too large");
      return incomplete(false);
    }
    if (line_end + kCrlf.size() > limits.max_header_bytes) {
      return fail(431, "request header section too large");
    }
    std::string_view line = input.substr(pos, line_end - pos);
    pos = line_end + kCrlf.size();

    if (!request_line_done) {
      parse_result line_result = parse_request_line(line, out);
      if (line_result.status != parse_status::complete) return line_result;
      request_line_done = true;
      continue;
    }
    if (line.empty()) break;
    if (out.headers.size() == limits.max_header_count) return fail(431, "too many request header fields");
    header_field field;
    if (!parse_field_line(line, field)) return fail(400, "invalid header field line");
    out.headers.push_back(field);
  }
  std::size_t header_end = pos;

  body_framing framing;
  parse_result header_result = interpret_headers(out, framing);
  if (header_result.status != parse_status::complete) return header_result;

  // The body: Content-Length bytes, a chunked body, or nothing.
  parse_result result;
  result.status = parse_status::complete;
  if (framing.content_length_too_large ||
      (framing.content_length && *framing.content_length > limits.max_body_bytes)) {
    return fail(413, "request body too large");
  }
  if (framing.content_length) {
    std::size_t length = *framing.content_length;
    if (input.size() - header_end < length) return incomplete(true);
    out.body = input.substr(header_end, length);
    result.consumed = header_end + length;
    return result;
  }
  if (framing.has_transfer_encoding) {
    // Find the end first without copying, so a body that is still arriving is not decoded
    // again at every read.
    parse_result walk = walk_chunked_body(input, header_end, limits, nullptr);
    if (walk.status != parse_status::complete) return walk;
    walk_chunked_body(input, header_end, limits, &out.decoded_body);
    out.body = out.decoded_body;
    return walk;
  }
  result.consumed = header_end;
  return result;
}

}  // namespace httpd
