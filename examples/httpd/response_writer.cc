// HTTP/1.1 response heads; see response_writer.h.
#include "response_writer.h"

#include <array>
#include <charconv>
#include <cstdio>

namespace httpd {

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 301: return "Moved Permanently";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

namespace {

void append_number(std::string& out, std::size_t value) {
  std::array<char, 24> digits;
  auto [end, error] = std::to_chars(digits.data(), digits.data() + digits.size(), value);
  (void)error;  // 24 characters hold any 64-bit value
  out.append(digits.data(), end);
}

}  // namespace

void append_response_head(std::string& out, const response_head& head, std::string_view date) {
  out += "HTTP/1.1 ";
  append_number(out, static_cast<std::size_t>(head.status));
  out += ' ';
  out += reason_phrase(head.status);
  out += "\r\nServer: ";
  out += kServerName;
  out += "\r\nDate: ";
  out += date;
  out += "\r\nContent-Length: ";
  append_number(out, head.content_length);
  if (!head.content_type.empty()) {
    out += "\r\nContent-Type: ";
    out += head.content_type;
  }
  if (!head.keep_alive) {
    out += "\r\nConnection: close";
  } else if (head.version_minor == 0) {
    out += "\r\nConnection: keep-alive";
  }
  out += "\r\n";
  out += head.extra_fields;
  out += "\r\n";
}

void append_text_response(std::string& out, response_head head, std::string_view detail,
                          std::string_view date, bool head_only) {
  std::string body = std::to_string(head.status);
  body += ' ';
  body += reason_phrase(head.status);
  if (!detail.empty()) {
    body += ": ";
    body += detail;
  }
  body += '\n';

  head.content_type = "text/plain; charset=utf-8";
  head.content_length = body.size();
  append_response_head(out, head, date);
  if (!head_only) out += body;
}

std::string format_http_date(std::time_t t) {
  static constexpr std::array<const char*, 7> kDays = {"Sun", "Mon", "Tue", "Wed",
                                                       "Thu", "Fri", "Sat"};
  static constexpr std::array<const char*, 12> kMonths = {
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::tm utc{};
  gmtime_r(&t, &utc);

  // Formatted by hand, because strftime takes day and month names from LC_TIME.
  std::array<char, 40> text;
  int length = std::snprintf(text.data(), text.size(), "%s, %02d %s %04d %02d:%02d:%02d GMT",
                             kDays[static_cast<std::size_t>(utc.tm_wday)], utc.tm_mday,
                             kMonths[static_cast<std::size_t>(utc.tm_mon)], utc.tm_year + 1900,
                             utc.tm_hour, utc.tm_min, utc.tm_sec);
  return std::string(text.data(), static_cast<std::size_t>(length));
}

}  // namespace httpd
