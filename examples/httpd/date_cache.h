// The Date header value shared by every connection, formatted once per second by one
// goroutine instead of once per response.
//
// Readers keep their own copy and a generation number, and copy the shared string again
// only when the generation has moved on, so a connection takes the mutex about once per
// second however many requests it serves.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include <goro/chan.hpp>
#include <goro/sync.hpp>

namespace httpd {

class date_cache {
 public:
  // Formats the current time, so the value is valid before start().
  date_cache();
  date_cache(const date_cache&) = delete;
  date_cache& operator=(const date_cache&) = delete;

  // Starts the goroutine that refreshes the value every second, from a goro::ticker.
  void start();
  // Stops that goroutine and returns once it has exited.
  void stop();

  // Copies the current value into `date` unless `generation` shows that `date` already
  // contains it; updates `generation`. Start with generation 0, which no value has.
  void refresh(std::string& date, std::uint64_t& generation) const;

 private:
  void update();

  mutable goro::mutex mutex_;
  std::string value_;  // guarded by mutex_
  // Incremented after each change of value_, with release order, so a reader that loads a
  // new generation with acquire order and then locks mutex_ reads at least that value.
  std::atomic<std::uint64_t> generation_{0};

  goro::chan<bool> stop_requested_;  // closed by stop()
  goro::chan<bool> stopped_;         // closed by the goroutine when it exits
};

}  // namespace httpd
