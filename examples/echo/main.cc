// echo: a TCP echo server on goro, one goroutine per connection writing back every byte it
// reads.
//
//   echo [--listen HOST:PORT]
//
// Once listening, it prints "echo: listening on HOST:PORT" on stdout (the real port when
// --listen gives port 0). It runs until it is killed. Exit status: 1 when it cannot
// listen, 2 for invalid options.
#include <cstdio>
#include <string>
#include <string_view>
#include <system_error>

#include <goro/goro.hpp>
#include <goro/net.hpp>

namespace {

constexpr const char* kUsage =
    "usage: echo [--listen HOST:PORT]\n"
    "\n"
    "  --listen HOST:PORT  address to listen on (default 127.0.0.1:8081; port 0 picks a\n"
    "                      free port)\n";

// The read buffer per connection; a read takes whatever has arrived, up to this much.
constexpr std::size_t kBufferBytes = 32 * 1024;

void serve(goro::net::conn client) {
  char buffer[kBufferBytes];
  std::error_code ec;
  for (;;) {
    std::size_t received = client.read(buffer, sizeof buffer, ec);
    if (ec || received == 0) break;
    client.write(buffer, received, ec);
    if (ec) break;
  }
  bool routine = !ec || ec == std::errc::connection_reset || ec == std::errc::broken_pipe;
  if (!routine) std::fprintf(stderr, "echo: connection failed: %s\n", ec.message().c_str());
  client.close();
}

int run_echo(int argc, char** argv) {
  std::string address = "127.0.0.1:8081";
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (arg.substr(0, 9) == "--listen=") {
      address = arg.substr(9);
    } else if (arg == "--listen" && i + 1 < argc) {
      address = argv[++i];
    } else {
      std::fprintf(stderr, "echo: invalid option %s\n%s", argv[i], kUsage);
      return 2;
    }
  }

  goro::net::listener listener;
  try {
    listener = goro::net::listen("tcp", address);
  } catch (const goro::net::op_error& e) {
    std::fprintf(stderr, "echo: %s\n", e.what());
    return 1;
  }
  std::printf("echo: listening on %s\n", listener.local_addr().to_string().c_str());
  std::fflush(stdout);

  for (;;) {
    try {
      goro::go(serve, listener.accept());
    } catch (const goro::net::op_error& e) {
      // EMFILE and ENFILE back off inside accept; anything else is logged and retried.
      std::fprintf(stderr, "echo: %s\n", e.what());
      goro::sleep(std::chrono::milliseconds(100));
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  return goro::run(argc, argv, [argc, argv] { return run_echo(argc, argv); });
}
