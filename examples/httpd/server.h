// The HTTP/1.1 server of examples/httpd: one goroutine per connection, with graceful
// shutdown.
//
// Each connection reads into its own buffer, parses every complete request in it and
// writes all their responses with one write, which is what makes pipelining cheap. It closes
// when no bytes arrive for between 7/8 of idle_timeout and all of it, between requests and
// inside one.
//
// Timeouts, as Go's http.Server has them:
//   * idle_timeout bounds each wait for bytes, as above.
//   * read_header_timeout (Go's ReadHeaderTimeout) bounds the time from a request's first
//     bytes to the end of its header section, so a client that sends its headers a byte at a
//     time cannot hold a connection and its goroutine forever. When it passes, the connection
//     closes without a response, as Go's does (conn.serve in net/http/server.go does not
//     reply to a read timeout). An idle keep-alive connection is not subject to it, because
//     its clock starts with the first bytes of the next request.
//   * Nothing bounds a body that arrives slowly but within idle_timeout per read; that would
//     be Go's ReadTimeout, which this server does not have.
//
// Shutdown, as Go's http.Server.Shutdown does it:
//   1. The server is marked as shutting down and the listener is closed, so no connection
//      is accepted any more.
//   2. Every connection that is idle (no bytes of a request received) is woken by a read
//      deadline in the past and closes.
//   3. A connection inside a request finishes it and responds with "Connection: close".
//   4. After shutdown_timeout, the connections still open are closed.
// A connection that was active in step 2 checks the flag before its next read. The flag
// and each connection's idle flag are sequentially consistent, so of "set idle, then read
// the shutdown flag" and "set the shutdown flag, then read idle" at least one side observes
// the other's store, and the connection is never left waiting for its full idle timeout.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include <goro/net.hpp>
#include <goro/sync.hpp>

#include "date_cache.h"
#include "file_server.h"
#include "request_parser.h"

namespace httpd {

struct server_config {
  // Files are served from here when set; otherwise only /plaintext exists.
  std::optional<file_server> files;
  std::chrono::nanoseconds idle_timeout = std::chrono::seconds(60);
  // From a request's first bytes to the end of its header section; see the file comment.
  std::chrono::nanoseconds read_header_timeout = std::chrono::seconds(10);
  std::chrono::nanoseconds shutdown_timeout = std::chrono::seconds(5);
  request_limits limits;
};

// Connection counts from shutdown().
struct shutdown_report {
  int idle_closed = 0;    // idle connections woken and closed
  int forced_closed = 0;  // connections closed at shutdown_timeout with a request unfinished
};

class server {
 public:
  server(server_config config, const date_cache& dates);
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  // Starts a goroutine that accepts connections on `listener`, each served by a goroutine
  // of its own, until shutdown() closes it.
  void start(goro::net::listener listener);

  // Shuts down as the file comment describes, and returns once the accept goroutine and
  // every connection goroutine have finished.
  shutdown_report shutdown();

 private:
  struct connection;

  void accept_connections(goro::net::listener listener);
  void serve_connection(std::shared_ptr<connection> client);
  // Parses the complete requests in `input` and appends their responses to `out`. Returns the bytes consumed, and
  // sets close_after when the connection must close once `out` has been written. Sets
  // header_incomplete when the bytes after those consumed begin a request whose header
  // section has not fully arrived.
  std::size_t respond_to_requests(std::string_view input, connection& client, std::string& out,
                                  bool& close_after, bool& header_incomplete);
  // Closes the server's side of a connection after the response that ends it. Closing with
  // unread bytes in the socket (a rejected body, further pipelined requests) makes the
  // kernel send a reset, which can discard the response before the client reads it. So the
  // write side is shut down first, and what arrives is read and dropped until the client
  // closes or kLingerTimeout passes, as nginx's lingering close does. The connection counts
  // as idle meanwhile, so shutdown() does not wait for it.
  void linger(connection& client, std::string& buffer);
  using clock_type = std::chrono::steady_clock;

  enum class direction { read, write };

  // Moves the connection's read or write deadline to idle_timeout from now, unless it is
  // already almost that far away, and then back to `limit` if that is earlier. Sets the
  // socket's deadline only when the result differs from the one last set. Throws
  // goro::net::op_error if the socket is closed.
  void extend_deadline(connection& client, direction side,
                       clock_type::time_point limit = clock_type::time_point::max());
  // Writes bytes to the client with the idle timeout as write deadline. Returns false, after
  // logging any error that is not a routine disconnect, if the write failed.
  bool send(connection& client, std::string_view bytes);
  void finish_connection(const std::shared_ptr<connection>& client);

  server_config config_;
  const date_cache& dates_;

  goro::mutex mutex_;
  goro::condition_variable changed_;  // notified when a connection or the accept loop ends
  // Guarded by mutex_: the open connections by id, the listener, and whether the accept
  // goroutine runs.
  std::unordered_map<std::uint64_t, std::shared_ptr<connection>> connections_;
  std::uint64_t next_id_ = 1;
  goro::net::listener listener_;
  bool serving_ = false;
  // Written under mutex_ too, and read without it by the connections; see the file comment
  // for why it is sequentially consistent.
  std::atomic<bool> shutting_down_{false};
};

}  // namespace httpd
