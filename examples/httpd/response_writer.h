// HTTP/1.1 response heads and small text responses, appended to a connection's output
// buffer, so that the responses to a batch of pipelined requests leave in one write.
//
// Every response carries Server, Date, Content-Length and, when set, Content-Type, in that
// order. Connection: close is added when the server closes the connection after the
// response, and Connection: keep-alive when an HTTP/1.0 client asked to keep it.
#pragma once

#include <cstddef>
#include <ctime>
#include <string>
#include <string_view>

namespace httpd {

// The value of the Server header field.
inline constexpr std::string_view kServerName = "goro";

struct response_head {
  int status = 200;
  std::string_view content_type;  // no Content-Type field when empty
  std::size_t content_length = 0;
  bool keep_alive = true;  // false: the connection closes after this response
  int version_minor = 1;   // the request's HTTP/1.<version_minor>
  // Further field lines, each ending in CRLF, such as "Allow: GET, HEAD\r\n".
  std::string_view extra_fields;
};

// Returns the reason phrase for a status code, such as "Not Found" for 404, or "Unknown".
std::string_view reason_phrase(int status);

// Appends the status line and header section of `head`; `date` is an IMF-fixdate.
void append_response_head(std::string& out, const response_head& head, std::string_view date);

// Appends a plain-text response whose body is "<status> <reason>: <detail>\n", or
// "<status> <reason>\n" when detail is empty. With head_only (a HEAD request), the body is
// left out and Content-Length still gives its length.
void append_text_response(std::string& out, response_head head, std::string_view detail,
                          std::string_view date, bool head_only);

// Formats a time as an HTTP date (IMF-fixdate), such as "Sun, 06 Nov 1994 08:49:37 GMT".
std::string format_http_date(std::time_t t);

}  // namespace httpd
