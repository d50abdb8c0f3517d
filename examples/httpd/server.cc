// The HTTP/1.1 server of examples/httpd; see server.h for the model and shutdown.
#include "server.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <goro/runtime.hpp>
#include <goro/time.hpp>

#include "response_writer.h"

namespace httpd {
namespace {

// The TechEmpower plaintext response body.
constexpr std::string_view kPlaintextBody = "Hello, World!";
constexpr std::string_view kPlaintextPath = "/plaintext";
// A connection's read buffer starts here and doubles as a request needs, up to
// max_request_bytes. 16 KiB fits a batch of 16 pipelined wrk requests many times over.
constexpr std::size_t kInitialBufferBytes = 16 * 1024;
// Output of one batch beyond this is written before the next request is processed, so a
// long pipeline of file requests does not pile up in memory.
constexpr std::size_t kMaxPendingOutput = 256 * 1024;
// How long the accept loop waits after an unexpected accept error before trying again;
// it also limits that error's log line to 10 a second. (EMFILE and ENFILE back off inside
// goro::net.)
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(100);
// A connection moves its read and write deadlines forward only once they are nearer than
// idle_timeout minus idle_timeout / kDeadlineSlackDivisor, because each move is a timer
// update in the netpoller. An idle connection therefore closes after between 7/8 of
// idle_timeout and all of it.
constexpr int kDeadlineSlackDivisor = 8;
// A read deadline in the past makes a blocked read return errc::timeout at once. The
// default time_point would clear the deadline instead.
const std::chrono::steady_clock::time_point kWakeNow{std::chrono::steady_clock::duration(1)};

// How long a connection that the server closes after a response keeps reading and
// discarding what the client still sends; see linger().
constexpr auto kLingerTimeout = std::chrono::seconds(1);

// Errors that end a connection in normal operation and are not logged: the idle timeout,
// a close by shutdown(), and a client that went away.
bool is_routine_disconnect(const std::error_code& ec) {
  return ec == goro::net::errc::timeout || ec == goro::net::errc::closed ||
         ec == std::errc::connection_reset || ec == std::errc::broken_pipe;
}

void close_quietly(goro::net::conn& socket) {
  try {
    socket.close();
  } catch (const goro::net::op_error&) {
    // Already closed, by shutdown() or by the connection's own goroutine.
  }
}

std::string_view path_of(std::string_view target) {
  return target.substr(0, target.find_first_of("?#"));
}

}  // namespace

struct server::connection {
  goro::net::conn socket;
  std::uint64_t id = 0;
  std::string remote;  // the client's address, for log lines
  // True while the connection waits for the first byte of a request. Sequentially
  // consistent; see the shutdown protocol in server.h.
  std::atomic<bool> idle{true};

  // Used only by the connection's own goroutine.
  std::chrono::steady_clock::time_point read_deadline;  // as last set on socket
  std::chrono::steady_clock::time_point write_deadline;
  std::string date;
  std::uint64_t date_generation = 0;
  request parsed;  // reused, so its header vector keeps its capacity
  bool sent_continue = false;
};

server::server(server_config config, const date_cache& dates)
    : config_(std::move(config)), dates_(dates) {}

void server::start(goro::net::listener listener) {
  {
    std::lock_guard<goro::mutex> lock(mutex_);
    if (shutting_down_.load()) return;
    listener_ = listener;
    serving_ = true;
  }
  goro::go([this, listener] { accept_connections(listener); });
}

void server::accept_connections(goro::net::listener listener) {
  for (;;) {
    goro::net::conn socket;
    try {
      socket = listener.accept();
    } catch (const goro::net::op_error& e) {
      if (e.code() == goro::net::errc::closed) break;
      std::fprintf(stderr, "httpd: %s; retrying in %lld ms\n", e.what(),
                   static_cast<long long>(kAcceptRetryDelay.count()));
      goro::sleep(kAcceptRetryDelay);
      continue;
    }

    auto client = std::make_shared<connection>();
    client->socket = socket;
    try {
      client->remote = socket.remote_addr().to_string();
    } catch (const goro::net::op_error&) {
      client->remote = "unknown address";
    }
    bool accepted = false;
    {
      std::lock_guard<goro::mutex> lock(mutex_);
      if (!shutting_down_.load()) {
        client->id = next_id_++;
        connections_.emplace(client->id, client);
        accepted = true;
      }
    }
    if (!accepted) {
      close_quietly(socket);
      continue;
    }
    goro::go([this, client] { serve_connection(client); });
  }

  std::lock_guard<goro::mutex> lock(mutex_);
  serving_ = false;
  changed_.notify_all();
}

void server::serve_connection(std::shared_ptr<connection> client) {
  goro::net::conn& socket = client->socket;
  std::string buffer(kInitialBufferBytes, '\0');
  std::size_t used = 0;  // bytes of buffer received and not yet processed
  std::string out;
  const std::size_t max_buffer = max_request_bytes(config_.limits);
  // Whether the request at the start of buffer lacks part of its header section, and the
  // time by which that section must be complete: read_header_timeout after the read that
  // brought the request's first bytes.
  bool awaiting_header = false;
  clock_type::time_point header_deadline;

  for (;;) {
    // Wait for more bytes. An idle connection leaves here once shutdown has begun. While a
    // header section is incomplete, header_deadline replaces the idle deadline if it comes
    // first. A pipelined read rarely ends inside a header section, so this seldom costs a
    // timer update, and extend_deadline restores the idle deadline once the section is in.
    bool idle = used == 0;
    client->idle.store(idle);
    try {
      if (awaiting_header) {
        extend_deadline(*client, direction::read, header_deadline);
      } else {
        extend_deadline(*client, direction::read);
      }
    } catch (const goro::net::op_error&) {
      break;  // closed by shutdown()
    }
    if (idle && shutting_down_.load()) break;
    if (used == buffer.size()) {
      // The parser rejects a request before it exceeds max_request_bytes, so the buffer
      // never has to grow past that.
      buffer.resize(std::min(buffer.size() * 2, max_buffer));
    }
    std::error_code ec;
    std::size_t received = socket.read(buffer.data() + used, buffer.size() - used, ec);
    if (ec == goro::net::errc::timeout && used > 0 && clock_type::now() < client->read_deadline) {
      // shutdown() woke the connection because it looked idle, but a request had begun
      // to arrive meanwhile; that request may still finish. A timeout at the idle or the
      // header deadline comes at or after client->read_deadline and does not get here.
      client->read_deadline = {};
      continue;
    }
    if (ec) {
      // A timeout at header_deadline ends here too: the connection closes without a
      // response, as Go's server does when ReadHeaderTimeout passes.
      if (!is_routine_disconnect(ec)) {
        std::fprintf(stderr, "httpd: read from %s failed: %s\n", client->remote.c_str(),
                     ec.message().c_str());
      }
      break;
    }
    if (received == 0) break;  // the client closed its end
    client->idle.store(false);
    used += received;

    // Respond to every complete request with one write, then keep the incomplete rest.
    bool close_after = false;
    bool header_incomplete = false;
    std::size_t consumed = respond_to_requests(std::string_view(buffer.data(), used), *client,
                                               out, close_after, header_incomplete);
    if (!out.empty() && !send(*client, out)) break;
    out.clear();
    if (close_after) {
      linger(*client, buffer);
      break;
    }
    std::memmove(buffer.data(), buffer.data() + consumed, used - consumed);
    used -= consumed;

    // Start the header clock when the incomplete rest is a request that this read began:
    // either nothing was waiting before it, or it completed the request that was.
    if (!header_incomplete) {
      awaiting_header = false;
    } else if (!awaiting_header || consumed > 0) {
      awaiting_header = true;
      header_deadline = clock_type::now() + config_.read_header_timeout;
    }
  }

  finish_connection(client);
}

std::size_t server::respond_to_requests(std::string_view input, connection& client,
                                        std::string& out, bool& close_after,
                                        bool& header_incomplete) {
  auto write = [this, &client](std::string_view bytes) { return send(client, bytes); };

  std::size_t start = 0;
  for (;;) {
    parse_result result = parse_request(input.substr(start), config_.limits, client.parsed);
    const request& req = client.parsed;
    if (result.status == parse_status::incomplete) {
      header_incomplete = start < input.size() && !result.headers_complete;
      if (result.headers_complete && req.expect_continue && !client.sent_continue) {
        out += "HTTP/1.1 100 Continue\r\n\r\n";
        client.sent_continue = true;
      }
      return start;
    }

    dates_.refresh(client.date, client.date_generation);
    if (result.status == parse_status::error) {
      // The framing of anything after a malformed request is unknown, so the connection
      // closes after the error response.
      response_head head;
      head.status = result.error_status;
      head.keep_alive = false;
      append_text_response(out, head, result.error_detail, client.date, false);
      close_after = true;
      return start;
    }
    client.sent_continue = false;
    start += result.consumed;

    // Once shutdown has begun, each connection responds to the request it has and closes.
    bool keep_alive = req.keep_alive && !shutting_down_.load(std::memory_order_relaxed);
    bool head_only = req.method == "HEAD";
    response_head head;
    head.keep_alive = keep_alive;
    head.version_minor = req.version_minor;
    if (!head_only && req.method != "GET") {
      head.status = 405;
      head.extra_fields = "Allow: GET, HEAD\r\n";
      append_text_response(out, head, "", client.date, false);
    } else if (path_of(req.target) == kPlaintextPath) {
      head.content_type = "text/plain";
      head.content_length = kPlaintextBody.size();
      append_response_head(out, head, client.date);
      if (!head_only) out += kPlaintextBody;
    } else if (config_.files) {
      if (!config_.files->serve(req, keep_alive, client.date, out, write)) {
        out.clear();
        close_after = true;
        return start;
      }
    } else {
      head.status = 404;
      append_text_response(out, head, "only /plaintext exists without --root", client.date,
                           head_only);
    }

    if (!keep_alive) {
      close_after = true;
      return start;
    }
    if (out.size() >= kMaxPendingOutput) {
      if (!send(client, out)) {
        out.clear();
        close_after = true;
        return start;
      }
      out.clear();
    }
  }
}

void server::extend_deadline(connection& client, direction side, clock_type::time_point limit) {
  clock_type::time_point now = clock_type::now();
  clock_type::time_point& deadline =
      side == direction::read ? client.read_deadline : client.write_deadline;
  auto slack = config_.idle_timeout / kDeadlineSlackDivisor;
  clock_type::time_point next = deadline;
  if (deadline - now <= config_.idle_timeout - slack) next = now + config_.idle_timeout;
  next = std::min(next, limit);
  if (next == deadline) return;

  deadline = next;
  if (side == direction::read) {
    client.socket.set_read_deadline(deadline);
  } else {
    client.socket.set_write_deadline(deadline);
  }
}

void server::linger(connection& client, std::string& buffer) {
  std::error_code ec;
  client.idle.store(true);
  try {
    client.socket.close_write();
    client.socket.set_read_deadline(clock_type::now() + kLingerTimeout);
  } catch (const goro::net::op_error&) {
    return;  // closed by shutdown(), or the client is gone
  }
  if (shutting_down_.load()) return;
  while (client.socket.read(buffer.data(), buffer.size(), ec) > 0 && !ec) {
  }
}

bool server::send(connection& client, std::string_view bytes) {
  std::error_code ec;
  try {
    extend_deadline(client, direction::write);
  } catch (const goro::net::op_error& e) {
    ec = e.code();
  }
  if (!ec) client.socket.write(bytes.data(), bytes.size(), ec);
  if (ec && !is_routine_disconnect(ec)) {
    std::fprintf(stderr, "httpd: write to %s failed: %s\n", client.remote.c_str(),
                 ec.message().c_str());
  }
  return !ec;
}

void server::finish_connection(const std::shared_ptr<connection>& client) {
  close_quietly(client->socket);
  std::lock_guard<goro::mutex> lock(mutex_);
  connections_.erase(client->id);
  changed_.notify_all();
}

shutdown_report server::shutdown() {
  shutdown_report report;

  // Stop accepting, and collect the connections that wait between requests.
  std::vector<std::shared_ptr<connection>> idle;
  goro::net::listener listener;
  {
    std::lock_guard<goro::mutex> lock(mutex_);
    shutting_down_.store(true);
    listener = listener_;
    for (const auto& [id, client] : connections_) {
      if (client->idle.load()) idle.push_back(client);
    }
  }
  if (listener) {
    try {
      listener.close();
    } catch (const goro::net::op_error&) {
      // start() was never called, or the accept goroutine ended on its own.
    }
  }

  // Wake the idle ones. Each one then reads the flag and closes.
  for (const auto& client : idle) {
    try {
      client->socket.set_read_deadline(kWakeNow);
    } catch (const goro::net::op_error&) {
      // It closed on its own meanwhile.
    }
  }
  report.idle_closed = static_cast<int>(idle.size());

  // Give the others shutdown_timeout to finish their requests, then close them.
  std::unique_lock<goro::mutex> lock(mutex_);
  auto finished = [this] { return connections_.empty() && !serving_; };
  if (!changed_.wait_for(lock, config_.shutdown_timeout, finished)) {
    std::vector<std::shared_ptr<connection>> remaining;
    for (const auto& [id, client] : connections_) remaining.push_back(client);
    lock.unlock();
    for (const auto& client : remaining) close_quietly(client->socket);
    report.forced_closed = static_cast<int>(remaining.size());
    lock.lock();
    changed_.wait(lock, finished);
  }
  return report;
}

}  // namespace httpd
