// The shared Date header value; see date_cache.h.
#include "date_cache.h"

#include <chrono>
#include <ctime>
#include <mutex>
#include <optional>

#include <goro/runtime.hpp>
#include <goro/select.hpp>
#include <goro/time.hpp>

#include "response_writer.h"

namespace httpd {

date_cache::date_cache() { update(); }

void date_cache::update() {
  std::string formatted = format_http_date(std::time(nullptr));
  {
    std::lock_guard<goro::mutex> lock(mutex_);
    if (formatted == value_) return;
    value_ = std::move(formatted);
  }
  generation_.fetch_add(1, std::memory_order_release);
}

void date_cache::refresh(std::string& date, std::uint64_t& generation) const {
  std::uint64_t current = generation_.load(std::memory_order_acquire);
  if (current == generation) return;
  std::lock_guard<goro::mutex> lock(mutex_);
  date = value_;
  generation = current;
}

void date_cache::start() {
  goro::go([this, stop_requested = stop_requested_, stopped = stopped_] {
    // RFC 9110 section 6.6.1: the Date field has a resolution of one second.
    goro::ticker tick(std::chrono::seconds(1));
    bool running = true;
    while (running) {
      goro::select(
          goro::on_recv(tick.channel(), [this](std::optional<goro::time_point>) { update(); }),
          goro::on_recv(stop_requested, [&](std::optional<bool>) { running = false; }));
    }
    tick.stop();
    stopped.close();
  });
}

void date_cache::stop() {
  stop_requested_.close();
  stopped_.recv();
}

}  // namespace httpd
