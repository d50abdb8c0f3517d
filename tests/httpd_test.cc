// examples/httpd and examples/echo as real processes on 127.0.0.1, driven by curl and by
// raw sockets: keep-alive, pipelining, error statuses, files, the idle and header
// timeouts and graceful shutdown.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "child_process.h"

namespace {

using namespace std::chrono_literals;
using goro_test::child_process;
using goro_test::child_result;
using goro_test::program_tag;

constexpr const char* kCurl = "/usr/bin/curl";
// Safety nets only: every wait below ends as soon as its event happens.
constexpr auto kStartTimeout = 20s;
constexpr auto kExitTimeout = 30s;
constexpr int kSocketTimeoutSeconds = 20;

// A server binary running as a child process, and the port it printed.
struct server_process {
  std::unique_ptr<child_process> child;
  int port = 0;
};

// Starts `program` with --listen 127.0.0.1:0 and `args`, and reads the port from its
// "<name>: listening on 127.0.0.1:PORT" line.
[[maybe_unused]] server_process start_server(const std::string& program,
                                             std::vector<std::string> args) {
  std::vector<std::string> argv = {program, "--listen", "127.0.0.1:0"};
  argv.insert(argv.end(), args.begin(), args.end());
  server_process server;
  server.child = std::make_unique<child_process>(program_tag{}, argv);
  constexpr std::string_view kMarker = "listening on 127.0.0.1:";
  bool listening = server.child->wait_for_stdout(kMarker, kStartTimeout) &&
                   server.child->wait_for_stdout("\n", kStartTimeout);
  if (!listening) {
    ADD_FAILURE() << program << " printed no address: "
                  << goro_test::describe(server.child->wait(kExitTimeout));
    return server;
  }
  const std::string& out = server.child->stdout_so_far();
  server.port = std::atoi(out.c_str() + out.find(kMarker) + kMarker.size());
  return server;
}

// Runs a program to completion and returns how it ended.
child_result run_program(const std::vector<std::string>& argv) {
  child_process child(program_tag{}, argv);
  return child.wait(kExitTimeout);
}

// A blocking TCP socket connected to 127.0.0.1:port, with send and receive timeouts as a
// safety net. receive_buffer, when not 0, sets SO_RCVBUF before connecting.
class client_socket {
 public:
  explicit client_socket(int port, int receive_buffer = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
      ADD_FAILURE() << "socket failed: " << std::strerror(errno);
      return;
    }
    timeval timeout{kSocketTimeoutSeconds, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    if (receive_buffer > 0) {
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    }
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      ADD_FAILURE() << "connect to 127.0.0.1:" << port << " failed: " << std::strerror(errno);
    }
  }
  client_socket(const client_socket&) = delete;
  client_socket& operator=(const client_socket&) = delete;
  ~client_socket() {
    if (fd_ >= 0) ::close(fd_);
  }

  void send_all(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t sent = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (sent <= 0) {
        ADD_FAILURE() << "send failed: " << std::strerror(errno);
        return;
      }
      bytes.remove_prefix(static_cast<std::size_t>(sent));
    }
  }

  // Reads exactly n bytes; fewer when the peer closes or the timeout passes.
  std::string read_exact(std::size_t n) {
    std::string data;
    char buffer[16 * 1024];
    while (data.size() < n) {
      ssize_t got = ::recv(fd_, buffer, std::min(sizeof buffer, n - data.size()), 0);
      if (got <= 0) break;
      data.append(buffer, static_cast<std::size_t>(got));
    }
    return data;
  }

  // Reads until the peer closes the connection (or the timeout passes; see closed_cleanly).
  std::string read_to_end() {
    std::string data;
    char buffer[16 * 1024];
    for (;;) {
      ssize_t got = ::recv(fd_, buffer, sizeof buffer, 0);
      if (got > 0) {
        data.append(buffer, static_cast<std::size_t>(got));
        continue;
      }
      closed_cleanly_ = got == 0;
      reset_ = got < 0 && errno == ECONNRESET;
      return data;
    }
  }

  // Reads one response with a Content-Length body (a HEAD response when head_only).
  std::string read_response(bool head_only = false) {
    std::string data;
    while (data.find("\r\n\r\n") == std::string::npos) {
      std::string more = read_exact(1);
      if (more.empty()) return data;
      data += more;
    }
    std::size_t length = 0;
    std::size_t field = data.find("Content-Length: ");
    if (field != std::string::npos) length = std::stoul(data.substr(field + 16));
    if (!head_only) data += read_exact(length);
    return data;
  }

  // Whether the last read_to_end ended at the peer's close rather than a timeout or error.
  bool closed_cleanly() const { return closed_cleanly_; }
  // Whether the last read_to_end ended at a reset from the peer.
  bool was_reset() const { return reset_; }

  // Waits up to `timeout` for bytes or a close from the peer, and returns whether either came.
  bool readable_within(std::chrono::milliseconds timeout) {
    pollfd entry{fd_, POLLIN, 0};
    int ready = ::poll(&entry, 1, static_cast<int>(timeout.count()));
    if (ready < 0) ADD_FAILURE() << "poll failed: " << std::strerror(errno);
    return ready > 0;
  }

 private:
  int fd_ = -1;
  bool closed_cleanly_ = false;
  bool reset_ = false;
};

class HttpdTest : public ::testing::Test {
 protected:
  void SetUp() override {
#ifndef GORO_HTTPD_PATH
    GTEST_SKIP() << "examples/httpd is not built (it needs goro/net.hpp, goro/os.hpp and "
                    "goro/signal.hpp)";
#else
    if (::access(kCurl, X_OK) != 0) GTEST_SKIP() << kCurl << " is missing; apt-get install curl";
#endif
  }

  server_process start(std::vector<std::string> args = {}) {
#ifdef GORO_HTTPD_PATH
    return start_server(GORO_HTTPD_PATH, std::move(args));
#else
    (void)args;
    return {};
#endif
  }

  static std::string url(const server_process& server, std::string_view path) {
    return "http://127.0.0.1:" + std::to_string(server.port) + std::string(path);
  }

  // Sends SIGTERM and waits for the server to exit.
  static child_result stop(server_process& server) {
    ::kill(server.child->pid(), SIGTERM);
    return server.child->wait(kExitTimeout);
  }

  // A temporary --root directory, removed at the end of the test.
  std::filesystem::path make_root() {
    char pattern[] = "/tmp/goro-httpd-test-XXXXXX";
    const char* made = ::mkdtemp(pattern);
    EXPECT_NE(made, nullptr) << "mkdtemp failed: " << std::strerror(errno);
    root_ = made != nullptr ? made : "";
    return root_;
  }

  void TearDown() override {
    if (!root_.empty()) std::filesystem::remove_all(root_);
  }

 private:
  std::filesystem::path root_;
};

void write_file(const std::filesystem::path& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary);
  out << contents;
}

// Bytes that differ at every position of a 64 KiB piece, so a misplaced piece shows.
std::string patterned_bytes(std::size_t n) {
  std::string data(n, '\0');
  for (std::size_t i = 0; i < n; ++i) data[i] = static_cast<char>((i * 7 + i / 65536) % 251);
  return data;
}

TEST_F(HttpdTest, PlaintextHeaders) {
  server_process server = start();
  ASSERT_NE(server.port, 0);
  child_result curl = run_program({kCurl, "-s", "-i", url(server, "/plaintext")});
  ASSERT_TRUE(curl.exited) << goro_test::describe(curl);
  ASSERT_EQ(curl.exit_status, 0) << goro_test::describe(curl);
  EXPECT_EQ(curl.out.substr(0, 17), "HTTP/1.1 200 OK\r\n");
  EXPECT_NE(curl.out.find("\r\nServer: goro\r\n"), std::string::npos) << curl.out;
  EXPECT_NE(curl.out.find("\r\nDate: "), std::string::npos) << curl.out;
  EXPECT_NE(curl.out.find(" GMT\r\n"), std::string::npos) << curl.out;
  EXPECT_NE(curl.out.find("\r\nContent-Type: text/plain\r\n"), std::string::npos) << curl.out;
  EXPECT_NE(curl.out.find("\r\nContent-Length: 13\r\n"), std::string::npos) << curl.out;
  EXPECT_EQ(curl.out.substr(curl.out.size() - 17), "\r\n\r\nHello, World!");

  child_result result = stop(server);
  EXPECT_TRUE(result.exited) << goro_test::describe(result);
  EXPECT_EQ(result.exit_status, 0) << goro_test::describe(result);
}

TEST_F(HttpdTest, KeepAliveReusesConnection) {
  server_process server = start();
  ASSERT_NE(server.port, 0);
  child_result curl =
      run_program({kCurl, "-s", "-v", url(server, "/plaintext"), url(server, "/plaintext")});
  ASSERT_TRUE(curl.exited) << goro_test::describe(curl);
  ASSERT_EQ(curl.exit_status, 0) << goro_test::describe(curl);
  EXPECT_EQ(curl.out, "Hello, World!Hello, World!");
  EXPECT_NE(curl.err.find("Re-using existing connection"), std::string::npos) << curl.err;
  stop(server);
}

TEST_F(HttpdTest, PipelinedResponsesInOrder) {
  server_process server = start();
  ASSERT_NE(server.port, 0);
  client_socket client(server.port);
  client.send_all(
      "GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n"
      "HEAD /plaintext HTTP/1.1\r\nHost: a\r\n\r\n"
      "GET /missing HTTP/1.1\r\nHost: a\r\n\r\n"
      "POST /plaintext HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
      "GET /plaintext?last HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
  std::string all = client.read_to_end();
  EXPECT_TRUE(client.closed_cleanly());

  std::vector<std::size_t> starts;
  for (std::size_t at = all.find("HTTP/1.1 "); at != std::string::npos;
       at = all.find("HTTP/1.1 ", at + 1)) {
    starts.push_back(at);
  }
  ASSERT_EQ(starts.size(), 5u) << all;
  EXPECT_EQ(all.compare(starts[0], 15, "HTTP/1.1 200 OK"), 0) << all;
  EXPECT_EQ(all.compare(starts[1], 15, "HTTP/1.1 200 OK"), 0) << all;
  EXPECT_EQ(all.compare(starts[2], 22, "HTTP/1.1 404 Not Found"), 0) << all;
  EXPECT_EQ(all.compare(starts[3], 31, "HTTP/1.1 405 Method Not Allowed"), 0) << all;
  EXPECT_EQ(all.compare(starts[4], 15, "HTTP/1.1 200 OK"), 0) << all;
  // The HEAD response has the GET's Content-Length and no body.
  std::string head = all.substr(starts[1], starts[2] - starts[1]);
  EXPECT_NE(head.find("Content-Length: 13\r\n"), std::string::npos) << head;
  EXPECT_EQ(head.substr(head.size() - 4), "\r\n\r\n") << head;
  std::string last = all.substr(starts[4]);
  EXPECT_NE(last.find("\r\nConnection: close\r\n"), std::string::npos) << last;
  EXPECT_EQ(last.substr(last.size() - 13), "Hello, World!");
  stop(server);
}

TEST_F(HttpdTest, MalformedRequestLineIs400) {
  server_process server = start();
  ASSERT_NE(server.port, 0);
  // curl sends the target as given, so the request line has four parts.
  child_result curl = run_program({kCurl, "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                   "--request-target", "/a b", url(server, "/")});
  EXPECT_EQ(curl.out, "400") << goro_test::describe(curl);

  client_socket client(server.port);
  client.send_all("GARBAGE\r\n\r\n");
  std::string response = client.read_to_end();
  EXPECT_TRUE(client.closed_cleanly());
  EXPECT_EQ(response.substr(0, 24), "HTTP/1.1 400 Bad Request") << response;
  EXPECT_NE(response.find("\r\nConnection: close\r\n"), std::string::npos) << response;
  stop(server);
}

TEST_F(HttpdTest, OversizedHeadersAre431) {
  server_process server = start();
  ASSERT_NE(server.port, 0);
  std::string big_header = "X-Big: " + std::string(9000, 'x');
  child_result curl = run_program({kCurl, "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H",
                                   big_header, url(server, "/plaintext")});
  EXPECT_EQ(curl.out, "431") << goro_test::describe(curl);
  stop(server);
}

TEST_F(HttpdTest, OversizedBodyIs413) {
  server_process server = start({"--max-body-bytes", "100"});
  ASSERT_NE(server.port, 0);
  child_result curl = run_program({kCurl, "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                   "--data-binary", std::string(200, 'b'),
                                   url(server, "/plaintext")});
  EXPECT_EQ(curl.out, "413") << goro_test::describe(curl);
  stop(server);
}

TEST_F(HttpdTest, ServesFilesFromRoot) {
  std::filesystem::path root = make_root();
  std::filesystem::create_directory(root / "docs");
  write_file(root / "index.html", "<h1>home</h1>\n");
  write_file(root / "docs" / "notes.txt", "plain notes\n");
  // Larger than one piece (64 KiB), so it is sent in several writes.
  std::string large = patterned_bytes(300 * 1024 + 17);
  write_file(root / "large.bin", large);

  server_process server = start({"--root", root.string()});
  ASSERT_NE(server.port, 0);

  std::filesystem::path downloaded = root / "downloaded";
  child_result curl = run_program({kCurl, "-s", "-o", downloaded.string(), "-w",
                                   "%{http_code} %{content_type}", url(server, "/large.bin")});
  EXPECT_EQ(curl.out, "200 application/octet-stream") << goro_test::describe(curl);
  std::ifstream in(downloaded, std::ios::binary);
  std::string got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(got.size(), large.size());
  EXPECT_TRUE(got == large) << "the downloaded bytes differ from the file";

  curl = run_program({kCurl, "-s", "-w", " %{http_code} %{content_type}", url(server, "/docs/notes.txt")});
  EXPECT_EQ(curl.out, "plain notes\n 200 text/plain; charset=utf-8");
  curl = run_program({kCurl, "-s", "-w", " %{http_code}", url(server, "/")});
  EXPECT_EQ(curl.out, "<h1>home</h1>\n 200");
  curl = run_program({kCurl, "-s", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}",
                      url(server, "/docs")});
  EXPECT_EQ(curl.out, "301 " + url(server, "/docs/"));
  // The redirect is relative and keeps the query; an absolute-form target's host is not
  // copied into it (curl --request-target sends the request line as given).
  curl = run_program({kCurl, "-s", "-D", "-", "-o", "/dev/null", "--request-target",
                      "http://other.example/docs?page=2", url(server, "/")});
  EXPECT_NE(curl.out.find("Location: docs/?page=2\r\n"), std::string::npos) << curl.out;
  curl = run_program({kCurl, "-s", "-o", "/dev/null", "-w", "%{http_code}", url(server, "/docs/")});
  EXPECT_EQ(curl.out, "403");  // a directory without index.html
  stop(server);
}

TEST_F(HttpdTest, MissingAndOutsideFiles) {
  std::filesystem::path root = make_root();
  std::filesystem::create_directory(root / "public");
  write_file(root / "secret.txt", "secret\n");
  std::filesystem::create_symlink(root / "secret.txt", root / "public" / "link.txt");

  server_process server = start({"--root", (root / "public").string()});
  ASSERT_NE(server.port, 0);
  auto status_of = [&](std::string_view path) {
    return run_program({kCurl, "-s", "--path-as-is", "-o", "/dev/null", "-w", "%{http_code}",
                        url(server, path)})
        .out;
  };
  EXPECT_EQ(status_of("/no-such-file"), "404");
  EXPECT_EQ(status_of("/../secret.txt"), "403");
  EXPECT_EQ(status_of("/%2e%2e/secret.txt"), "403");
  EXPECT_EQ(status_of("/link.txt"), "403");  // a symbolic link that leads outside the root
  stop(server);
}

TEST_F(HttpdTest, IdleConnectionTimesOut) {
  server_process server = start({"--idle-timeout", "300ms"});
  ASSERT_NE(server.port, 0);
  client_socket client(server.port);
  // The server sets the deadline when the request arrives and may close the connection
  // from 7/8 of the timeout on, so the wait is measured from before the request.
  auto started = std::chrono::steady_clock::now();
  client.send_all("GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n");
  std::string response = client.read_response();
  EXPECT_EQ(response.substr(0, 15), "HTTP/1.1 200 OK");

  std::string rest = client.read_to_end();
  auto waited = std::chrono::steady_clock::now() - started;
  EXPECT_TRUE(client.closed_cleanly()) << "the server did not close the idle connection";
  EXPECT_EQ(rest, "");
  EXPECT_GE(waited, 250ms);
  EXPECT_LT(waited, std::chrono::seconds(kSocketTimeoutSeconds));
  stop(server);
}

TEST_F(HttpdTest, IncompleteHeadersTimeOut) {
  server_process server = start({"--read-header-timeout", "300ms", "--idle-timeout", "20s"});
  ASSERT_NE(server.port, 0);
  client_socket client(server.port);
  // The header clock starts when the server reads these bytes, so the wait is measured
  // from before they are sent. The empty line that would end the header section never comes.
  auto started = std::chrono::steady_clock::now();
  client.send_all("GET /plaintext HTTP/1.1\r\nHost: a\r\n");

  std::string rest = client.read_to_end();
  auto waited = std::chrono::steady_clock::now() - started;
  EXPECT_TRUE(client.closed_cleanly()) << "the server did not close the connection";
  EXPECT_EQ(rest, "") << "the server sent a response to an incomplete request";
  EXPECT_GE(waited, 250ms);
  // The idle timeout could close it from 17.5 s on.
  EXPECT_LT(waited, 10s);
  stop(server);
}

TEST_F(HttpdTest, TrickledHeadersTimeOut) {
  server_process server = start({"--read-header-timeout", "300ms", "--idle-timeout", "20s"});
  ASSERT_NE(server.port, 0);
  client_socket client(server.port);
  auto started = std::chrono::steady_clock::now();
  client.send_all("GET /plaintext HTTP/1.1\r\n");

  // One header byte every 50 ms, far within the idle timeout, for at most 100 bytes (5 s).
  // Each wait for the next byte also watches for the server's close.
  const std::string trickle = "Host: a\r\nX-Slow: " + std::string(100, 'x');
  bool server_closed = false;
  std::size_t bytes_sent = 0;
  for (; bytes_sent < 100; ++bytes_sent) {
    if (client.readable_within(50ms)) {
      server_closed = true;
      break;
    }
    client.send_all(std::string_view(trickle).substr(bytes_sent, 1));
  }
  ASSERT_TRUE(server_closed) << "the server kept the connection open through " << bytes_sent
                             << " header bytes sent 50 ms apart";

  std::string rest = client.read_to_end();
  auto waited = std::chrono::steady_clock::now() - started;
  // A byte sent just as the server closed can make its kernel respond with a reset.
  EXPECT_TRUE(client.closed_cleanly() || client.was_reset())
      << "the connection ended in neither a close nor a reset";
  EXPECT_EQ(rest, "") << "the server sent a response to an incomplete request";
  EXPECT_GE(waited, 250ms);
  EXPECT_LT(waited, 5s);
  stop(server);
}

TEST_F(HttpdTest, HeaderClockRestartsPerRequest) {
  server_process server = start({"--read-header-timeout", "1s", "--idle-timeout", "20s"});
  ASSERT_NE(server.port, 0);
  client_socket client(server.port);

  // The first request's header section arrives in two parts 200 ms apart (the pause is
  // the workload), and the second part also begins a second request that never finishes.
  // That request gets a full second of its own from the moment its first bytes arrive.
  client.send_all("GET /plaintext HTTP/1.1\r\n");
  std::this_thread::sleep_for(200ms);
  auto second_started = std::chrono::steady_clock::now();
  client.send_all("Host: a\r\n\r\nGET /plaintext HTTP/1.1\r\nHost: a\r\n");
  std::string response = client.read_response();
  EXPECT_EQ(response.substr(0, 15), "HTTP/1.1 200 OK") << response;

  std::string rest = client.read_to_end();
  auto waited = std::chrono::steady_clock::now() - second_started;
  EXPECT_TRUE(client.closed_cleanly()) << "the server did not close the connection";
  EXPECT_EQ(rest, "") << "the server sent a response to an incomplete request";
  EXPECT_GE(waited, 950ms) << "the second request's header clock started before its bytes came";
  EXPECT_LT(waited, 10s);
  stop(server);
}

TEST_F(HttpdTest, HeaderTimeoutSparesIdleConnection) {
  server_process server = start({"--read-header-timeout", "200ms", "--idle-timeout", "20s"});
  ASSERT_NE(server.port, 0);
  client_socket client(server.port);

  // The pauses are the workload: a keep-alive client that waits longer than the header
  // timeout before its first request and between requests.
  std::this_thread::sleep_for(500ms);
  client.send_all("GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n");
  std::string first = client.read_response();
  EXPECT_EQ(first.substr(0, 15), "HTTP/1.1 200 OK") << first;

  std::this_thread::sleep_for(500ms);
  client.send_all("GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n");
  std::string second = client.read_response();
  EXPECT_EQ(second.substr(0, 15), "HTTP/1.1 200 OK") << second;
  EXPECT_EQ(second.substr(second.size() - 13), "Hello, World!") << second;
  stop(server);
}

TEST_F(HttpdTest, GracefulShutdownFinishesRequests) {
  std::filesystem::path root = make_root();
  std::string large = patterned_bytes(8 * 1024 * 1024);
  write_file(root / "large.bin", large);
  server_process server = start({"--root", root.string()});
  ASSERT_NE(server.port, 0);

  // An idle keep-alive connection: one response received, nothing more sent.
  client_socket idle(server.port);
  idle.send_all("GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(idle.read_response().substr(0, 15), "HTTP/1.1 200 OK");

  // A download in flight: a small receive buffer and no reading past the head, so the
  // server waits on the write for most of the 8 MiB.
  client_socket download(server.port, 4096);
  download.send_all("GET /large.bin HTTP/1.1\r\nHost: a\r\n\r\n");
  std::string download_head = download.read_response(/*head_only=*/true);
  ASSERT_EQ(download_head.substr(0, 15), "HTTP/1.1 200 OK") << download_head;

  // A request whose headers the server has read (it sent 100 Continue) and whose body
  // is still to come.
  client_socket waiting(server.port);
  waiting.send_all(
      "GET /plaintext HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
  EXPECT_EQ(waiting.read_exact(25), "HTTP/1.1 100 Continue\r\n\r\n");

  ASSERT_EQ(::kill(server.child->pid(), SIGTERM), 0);

  // The idle connection is closed without a response.
  EXPECT_EQ(idle.read_to_end(), "");
  EXPECT_TRUE(idle.closed_cleanly());

  // The waiting request gets its response once its body arrives, and then the connection closes.
  waiting.send_all("hello");
  std::string answer = waiting.read_to_end();
  EXPECT_TRUE(waiting.closed_cleanly());
  EXPECT_EQ(answer.substr(0, 15), "HTTP/1.1 200 OK") << answer;
  EXPECT_NE(answer.find("\r\nConnection: close\r\n"), std::string::npos) << answer;
  EXPECT_EQ(answer.substr(answer.size() - 13), "Hello, World!");

  // The download completes with every byte, and then the connection closes.
  std::string body = download.read_to_end();
  EXPECT_TRUE(download.closed_cleanly());
  EXPECT_EQ(body.size(), large.size());
  EXPECT_TRUE(body == large) << "the downloaded bytes differ from the file";

  child_result result = server.child->wait(kExitTimeout);
  EXPECT_TRUE(result.exited) << goro_test::describe(result);
  EXPECT_EQ(result.exit_status, 0) << goro_test::describe(result);
  EXPECT_NE(result.err.find("httpd: terminated: shutting down"), std::string::npos) << result.err;
}

TEST_F(HttpdTest, ShutdownTimeoutClosesStuckRequest) {
  server_process server = start({"--shutdown-timeout", "200ms"});
  ASSERT_NE(server.port, 0);
  client_socket stuck(server.port);
  stuck.send_all(
      "GET /plaintext HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
  EXPECT_EQ(stuck.read_exact(25), "HTTP/1.1 100 Continue\r\n\r\n");

  ASSERT_EQ(::kill(server.child->pid(), SIGTERM), 0);
  // The body never comes, so the server closes the connection at the shutdown timeout.
  EXPECT_EQ(stuck.read_to_end(), "");
  child_result result = server.child->wait(kExitTimeout);
  EXPECT_TRUE(result.exited) << goro_test::describe(result);
  EXPECT_EQ(result.exit_status, 0) << goro_test::describe(result);
  EXPECT_NE(result.err.find("1 closed at the 200 ms shutdown timeout"), std::string::npos)
      << result.err;
}

TEST_F(HttpdTest, InvalidOptionExits2) {
#ifdef GORO_HTTPD_PATH
  child_result result = run_program({GORO_HTTPD_PATH, "--idle-timeout", "soon"});
  EXPECT_TRUE(result.exited) << goro_test::describe(result);
  EXPECT_EQ(result.exit_status, 2) << goro_test::describe(result);
  EXPECT_NE(result.err.find("invalid --idle-timeout \"soon\""), std::string::npos) << result.err;

  for (const char* value : {"0s", "10", "fast"}) {
    result = run_program({GORO_HTTPD_PATH, "--read-header-timeout", value});
    EXPECT_TRUE(result.exited) << goro_test::describe(result);
    EXPECT_EQ(result.exit_status, 2) << value << ": " << goro_test::describe(result);
    std::string message = std::string("invalid --read-header-timeout \"") + value +
                          "\": want a positive duration";
    EXPECT_NE(result.err.find(message), std::string::npos) << result.err;
  }

  result = run_program({GORO_HTTPD_PATH, "--root", "/no/such/dir", "--listen", "127.0.0.1:0"});
  EXPECT_TRUE(result.exited) << goro_test::describe(result);
  EXPECT_EQ(result.exit_status, 1) << goro_test::describe(result);
  EXPECT_NE(result.err.find("/no/such/dir"), std::string::npos) << result.err;
#endif
}

TEST(EchoServer, EchoesBytes) {
#ifndef GORO_ECHO_PATH
  GTEST_SKIP() << "examples/echo is not built (it needs goro/net.hpp)";
#else
  server_process server = start_server(GORO_ECHO_PATH, {});
  ASSERT_NE(server.port, 0);
  client_socket client(server.port);
  client.send_all("hello");
  EXPECT_EQ(client.read_exact(5), "hello");

  // More than the server's 32 KiB buffer, sent by another thread while this one reads, so
  // neither side waits for the other's socket buffers to drain.
  std::string large = patterned_bytes(1024 * 1024);
  std::thread sender([&] { client.send_all(large); });
  std::string back = client.read_exact(large.size());
  sender.join();
  EXPECT_EQ(back.size(), large.size());
  EXPECT_TRUE(back == large);

  // A second connection at the same time.
  client_socket other(server.port);
  other.send_all("second");
  EXPECT_EQ(other.read_exact(6), "second");
  server.child->kill();
#endif
}

}  // namespace
