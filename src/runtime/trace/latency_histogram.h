// Bucket layout of the scheduler latency histogram (/sched/latencies:seconds).
//
// An HDR layout in the manner of Go's timeHistogram (runtime/histogram.go): a value in
// nanoseconds goes to a power-of-two "super-bucket" by its highest set bit, then to one of
// kLatencySubBuckets linear sub-buckets by the next bits, so every bucket is at most 25% wide
// relative to its lower bound. Values below 2^kLatencyMinBit ns share bucket 0, and values
// of 2^kLatencyMaxBit ns (about 3 days) or more share the last bucket. Go 1.19 uses 16
// sub-buckets per power of two; goro uses 4 so that every P can carry its own array.
#pragma once

#include <bit>
#include <cstdint>

namespace goro::rt {

inline constexpr int kLatencyMinBit = 9;   // bucket 0 counts [0, 512 ns)
inline constexpr int kLatencyMaxBit = 48;  // the last bucket counts [2^48 ns, +inf)
inline constexpr int kLatencySubBucketBits = 2;
inline constexpr int kLatencySubBuckets = 1 << kLatencySubBucketBits;
inline constexpr int kLatencyBuckets =
    1 + (kLatencyMaxBit - kLatencyMinBit) * kLatencySubBuckets + 1;

// Index of the bucket that counts a duration of `ns` nanoseconds (negative counts as 0).
constexpr int latency_bucket(std::int64_t ns) {
  if (ns < (std::int64_t{1} << kLatencyMinBit)) return 0;
  auto v = static_cast<std::uint64_t>(ns);
  int top = 63 - std::countl_zero(v);
  if (top >= kLatencyMaxBit) return kLatencyBuckets - 1;
  int sub = static_cast<int>((v >> (top - kLatencySubBucketBits)) & (kLatencySubBuckets - 1));
  return 1 + (top - kLatencyMinBit) * kLatencySubBuckets + sub;
}

// Lower bound of bucket `i` in nanoseconds; the bucket's upper bound is that of bucket i + 1.
constexpr std::int64_t latency_bucket_lower_ns(int i) {
  if (i <= 0) return 0;
  if (i >= kLatencyBuckets - 1) return std::int64_t{1} << kLatencyMaxBit;
  int top = kLatencyMinBit + (i - 1) / kLatencySubBuckets;
  std::int64_t sub = (i - 1) % kLatencySubBuckets;
  std::int64_t base = std::int64_t{1} << top;
  return base + sub * (base >> kLatencySubBucketBits);
}

static_assert(latency_bucket(511) == 0);
static_assert(latency_bucket(512) == 1);
static_assert(latency_bucket(640) == 2);
static_assert(latency_bucket(1024) == 1 + kLatencySubBuckets);
static_assert(latency_bucket_lower_ns(2) == 640);
static_assert(latency_bucket(latency_bucket_lower_ns(kLatencyBuckets - 2)) == kLatencyBuckets - 2);
static_assert(latency_bucket(std::int64_t{1} << kLatencyMaxBit) == kLatencyBuckets - 1);

}  // namespace goro::rt
