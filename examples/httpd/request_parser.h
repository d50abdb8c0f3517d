// HTTP/1.1 request parsing over a byte buffer (RFC 9112), with no I/O.
//
// parse_request looks at the bytes a connection has received so far and reports one of
// three outcomes: a complete request (and how many bytes it took), "incomplete" (read more
// and call again with the longer buffer), or an error with the response status to send before
// closing the connection. The parser keeps no state between calls, so bytes may arrive split
// at any boundary. A connection parses all complete requests in its buffer in a loop, which
// is how pipelined requests are served.
//
// Re-parsing an incomplete request from its first byte costs at most O(limit) per read,
// because every part of a request is bounded by `request_limits`.
//
// What the parser accepts and rejects:
//   * Lines end in CRLF. A bare CR or LF, an obsolete folded header line, whitespace
//     between a field name and its colon, or a control character in a field value: 400.
//   * Empty lines before the request line are skipped (RFC 9112 section 2.2).
//   * HTTP/1.0 and HTTP/1.1; a higher 1.x minor version is read as 1.1. Any other major
//     version: 505. HTTP/1.1 without exactly one Host field: 400.
//   * The request line and header section together may take max_header_bytes and
//     max_header_count fields; more: 431.
//   * Bodies: Content-Length, or Transfer-Encoding: chunked (decoded, trailer fields read
//     and dropped). A body longer than max_body_bytes: 413. Both Content-Length and
//     Transfer-Encoding, differing Content-Length values, or Transfer-Encoding whose last
//     coding is not chunked: 400. Any coding other than chunked (gzip, chunked): 501.
//     Transfer-Encoding in an HTTP/1.0 request: 400.
//   * Connection: close ends the connection after the response. HTTP/1.0 keeps the
//     connection only with Connection: keep-alive.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace httpd {

struct request_limits {
  // The request line, the header fields and the empty line that ends them, in bytes. 8 KiB
  // fits what browsers, curl and wrk send with room to spare; exceeding it gets 431.
  std::size_t max_header_bytes = 8 * 1024;
  // Header fields per request; a long list of tiny fields costs a linear search each.
  std::size_t max_header_count = 100;
  // The decoded body in bytes; exceeding it gets 413.
  std::size_t max_body_bytes = 1024 * 1024;
};

// The maximum bytes one request can occupy on the wire under `limits`: the header section,
// the body, and for a chunked body its framing and trailer fields, which count against a
// second allowance of max_header_bytes. A connection buffer of this size never has to hold
// an incomplete request that the parser has not already rejected.
std::size_t max_request_bytes(const request_limits& limits);

struct header_field {
  std::string_view name;   // as sent; compare case-insensitively
  std::string_view value;  // leading and trailing spaces and tabs removed
};

// A parsed request. Views point into the buffer given to parse_request (or into
// decoded_body), so they are valid until that buffer changes.
struct request {
  std::string_view method;
  std::string_view target;  // the request target as sent, such as "/a/b?q=1"
  int version_minor = 1;    // HTTP/1.<version_minor>
  std::vector<header_field> headers;
  std::string_view body;
  bool keep_alive = true;        // whether the connection may carry another request
  bool expect_continue = false;  // HTTP/1.1 "Expect: 100-continue"

  // Storage for a chunked body after decoding; body views it.
  std::string decoded_body;

  // Returns the value of the first field called `name` (case-insensitive), or an empty view.
  std::string_view find_header(std::string_view name) const;
};

enum class parse_status { complete, incomplete, error };

struct parse_result {
  parse_status status = parse_status::incomplete;
  // Bytes of the buffer that the complete request occupies, leading empty lines included.
  std::size_t consumed = 0;
  // With parse_status::incomplete: the header section is complete and only body bytes are
  // missing (a server sends "100 Continue" at this point when the client expects it).
  bool headers_complete = false;
  // With parse_status::error: the response status (400, 413, 431, 501 or 505) and a
  // short description for the response body and the log, such as "invalid request line".
  int error_status = 0;
  std::string_view error_detail;
};

// Parses the request at the start of `input` into `out` (whose previous contents are
// replaced). With parse_status::incomplete, `out` is partly filled and must not be used.
parse_result parse_request(std::string_view input, const request_limits& limits, request& out);

// Compares two ASCII strings ignoring case, as HTTP field names and tokens are compared.
bool equals_ignore_case(std::string_view a, std::string_view b);

}  // namespace httpd
