// httpd: an HTTP/1.1 server on goro, one goroutine per connection.
//
//   httpd [--listen HOST:PORT] [--root DIR] [--idle-timeout DURATION]
//         [--read-header-timeout DURATION] [--shutdown-timeout DURATION]
//         [--max-body-bytes N]
//
// GET /plaintext returns "Hello, World!" (the TechEmpower plaintext test); with --root,
// other paths serve the files below DIR. A connection closes when it sends nothing for
// --idle-timeout, and without a response when a request's line and header fields take
// longer than --read-header-timeout from its first bytes (see server.h). Once listening, it prints
// "httpd: listening on HOST:PORT" on stdout (the real port when --listen gives port 0).
// SIGINT or SIGTERM shuts it down gracefully (see server.h). Exit status: 0 after a
// shutdown, 1 when it cannot listen or serve the root, 2 for invalid options.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include <goro/goro.hpp>
#include <goro/net.hpp>
#include <goro/signal.hpp>

#include "date_cache.h"
#include "server.h"

namespace {

constexpr const char* kUsage =
    "usage: httpd [--listen HOST:PORT] [--root DIR] [--idle-timeout DURATION]\n"
    "             [--read-header-timeout DURATION] [--shutdown-timeout DURATION]\n"
    "             [--max-body-bytes N]\n"
    "\n"
    "  --listen HOST:PORT           address to listen on (default 127.0.0.1:8080; port 0\n"
    "                               picks a free port)\n"
    "  --root DIR                   serve the files below DIR (default: only /plaintext)\n"
    "  --idle-timeout DURATION      close a connection that sends nothing for this long,\n"
    "                               such as 60s or 500ms (default 60s); the close may\n"
    "                               come as early as 7/8 of it\n"
    "  --read-header-timeout DURATION\n"
    "                               close a connection, without a response, when a\n"
    "                               request's line and header fields have not all\n"
    "                               arrived this long after its first bytes (default\n"
    "                               10s); a slow body is not limited by it\n"
    "  --shutdown-timeout DURATION  on SIGINT or SIGTERM, wait this long for requests in\n"
    "                               flight before closing their connections (default 5s)\n"
    "  --max-body-bytes N           max request body in bytes; a larger one gets 413\n"
    "                               (default 1048576)\n";

struct options {
  std::string listen = "127.0.0.1:8080";
  std::string root;
  std::chrono::nanoseconds idle_timeout = std::chrono::seconds(60);
  std::chrono::nanoseconds read_header_timeout = std::chrono::seconds(10);
  std::chrono::nanoseconds shutdown_timeout = std::chrono::seconds(5);
  std::size_t max_body_bytes = 1024 * 1024;
};

// Parses a duration such as "60s", "500ms", "2m" or "1500us" (a number and a unit).
std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0 || digits > 12) return std::nullopt;
  long long count = std::stoll(std::string(text.substr(0, digits)));
  std::string_view unit = text.substr(digits);
  if (unit == "us") return std::chrono::microseconds(count);
  if (unit == "ms") return std::chrono::milliseconds(count);
  if (unit == "s") return std::chrono::seconds(count);
  if (unit == "m") return std::chrono::minutes(count);
  return std::nullopt;
}

// Parses argv into `out`. Returns false after printing the problem on stderr.
bool parse_options(int argc, char** argv, options& out) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    std::string_view name = arg;
    std::optional<std::string_view> value;
    if (std::size_t equals = arg.find('='); equals != std::string_view::npos) {
      name = arg.substr(0, equals);
      value = arg.substr(equals + 1);
    }
    bool known = name == "--listen" || name == "--root" || name == "--idle-timeout" ||
                 name == "--read-header-timeout" || name == "--shutdown-timeout" ||
                 name == "--max-body-bytes";
    if (!known) {
      std::fprintf(stderr, "httpd: unknown option %s\n%s", argv[i], kUsage);
      return false;
    }
    if (!value) {
      if (i + 1 == argc) {
        std::fprintf(stderr, "httpd: missing value for %s\n%s", argv[i], kUsage);
        return false;
      }
      value = argv[++i];
    }

    if (name == "--listen") {
      out.listen = *value;
    } else if (name == "--root") {
      out.root = *value;
    } else if (name == "--max-body-bytes") {
      std::size_t digits = value->find_first_not_of("0123456789");
      if (value->empty() || digits != std::string_view::npos || value->size() > 15) {
        std::fprintf(stderr, "httpd: invalid --max-body-bytes \"%.*s\": want a number of bytes\n",
                     static_cast<int>(value->size()), value->data());
        return false;
      }
      out.max_body_bytes = std::stoull(std::string(*value));
    } else {
      std::optional<std::chrono::nanoseconds> duration = parse_duration(*value);
      if (!duration || duration->count() <= 0) {
        std::fprintf(stderr,
                     "httpd: invalid %.*s \"%.*s\": want a positive duration such as 60s, "
                     "500ms or 2m\n",
                     static_cast<int>(name.size()), name.data(), static_cast<int>(value->size()),
                     value->data());
        return false;
      }
      if (name == "--idle-timeout") {
        out.idle_timeout = *duration;
      } else if (name == "--read-header-timeout") {
        out.read_header_timeout = *duration;
      } else {
        out.shutdown_timeout = *duration;
      }
    }
  }
  return true;
}

int run_httpd(int argc, char** argv) {
  options opts;
  if (!parse_options(argc, argv, opts)) return 2;

  httpd::server_config config;
  config.idle_timeout = opts.idle_timeout;
  config.read_header_timeout = opts.read_header_timeout;
  config.shutdown_timeout = opts.shutdown_timeout;
  config.limits.max_body_bytes = opts.max_body_bytes;
  if (!opts.root.empty()) {
    try {
      config.files.emplace(opts.root);
    } catch (const std::system_error& e) {
      std::fprintf(stderr, "httpd: cannot serve --root: %s\n", e.what());
      return 1;
    }
  }

  // Watch the signals before listening, so a signal sent as soon as the address is printed
  // already shuts down gracefully.
  goro::chan<int> signals(1);
  goro::signal::notify(signals, {SIGINT, SIGTERM});

  goro::net::listener listener;
  try {
    listener = goro::net::listen("tcp", opts.listen);
  } catch (const goro::net::op_error& e) {
    std::fprintf(stderr, "httpd: %s\n", e.what());
    return 1;
  }

  httpd::date_cache dates;
  dates.start();
  httpd::server server(std::move(config), dates);
  server.start(listener);
  std::printf("httpd: listening on %s\n", listener.local_addr().to_string().c_str());
  std::fflush(stdout);

  int sig = *signals.recv();
  std::fprintf(stderr, "httpd: %s: shutting down\n", goro::signal::to_string(sig).c_str());
  httpd::shutdown_report report = server.shutdown();
  dates.stop();
  long long timeout_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(opts.shutdown_timeout).count();
  std::fprintf(stderr,
               "httpd: shut down: %d idle connections closed, %d closed at the %lld ms "
               "shutdown timeout\n",
               report.idle_closed, report.forced_closed, timeout_ms);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return goro::run(argc, argv, [argc, argv] { return run_httpd(argc, argv); });
}
