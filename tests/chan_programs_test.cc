// Whole programs built from goroutines and channels, in the spirit of Go's classic channel
// test programs: the concurrent prime sieve (a growing chain of filter goroutines) and power
// series arithmetic, where each series is an infinite stream of rational coefficients on an
// unbuffered channel, computed on demand by its own goroutine. Exponentiation feeds its own
// output back into itself, which only works if hand-offs, select and parking are right.
#include <gtest/gtest.h>

#include <cstdint>
#include <deque>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "child_process.h"
#include "goro_fixture.h"
#include "goro/chan.hpp"
#include "goro/runtime.hpp"
#include "goro/select.hpp"

namespace {

using goro_test::scoped_env;

class ChanPrograms : public ::testing::TestWithParam<const char*> {
 protected:
  template <class F>
  int run(F&& main, const char* gomaxprocs = nullptr) {
    return goro_test::run_with_godebug(GetParam(), gomaxprocs, std::forward<F>(main));
  }
};

INSTANTIATE_TEST_SUITE_P(Godebug, ChanPrograms, goro_test::kGodebugValues,
                         goro_test::godebug_param_name());

// --- Prime sieve ----------------------------------------------------------------------------

void generate(goro::chan<int> out) {
  for (int i = 2;; ++i) out.send(i);
}

void filter(goro::chan<int> in, goro::chan<int> out, int prime) {
  for (;;) {
    int v = in.recv().value();
    if (v % prime != 0) out.send(v);
  }
}

TEST_P(ChanPrograms, PrimeSieveFirstHundred) {
  std::vector<int> primes;
  run(
      [&] {
        goro::chan<int> ch;
        goro::go(generate, ch);
        for (int i = 0; i < 100; ++i) {
          int prime = ch.recv().value();
          primes.push_back(prime);
          goro::chan<int> next;
          goro::go(filter, ch, next, prime);
          ch = next;
        }
        // The generator and filters are abandoned when main returns, as in Go.
      },
      "4");

  std::vector<int> expected;
  for (int n = 2; expected.size() < 100; ++n) {
    bool prime = true;
    for (int d = 2; d * d <= n && prime; ++d) prime = n % d != 0;
    if (prime) expected.push_back(n);
  }
  EXPECT_EQ(primes, expected);
  EXPECT_EQ(primes.back(), 541);
}

// --- Power series ---------------------------------------------------------------------------

// 128-bit intermediates: products of two 64-bit values cannot overflow them.
__extension__ using wide = __int128;

// An exact rational number, always in lowest terms with a positive denominator. Terms far
// beyond the ones checked (the series networks compute a few ahead) may exceed 64 bits after
// reduction; they then wrap (well defined since C++20) and are never compared.
struct rat {
  std::int64_t num = 0;
  std::int64_t den = 1;

  static rat make(wide n, wide d) {
    if (d < 0) {
      n = -n;
      d = -d;
    }
    wide a = n < 0 ? -n : n;
    wide b = d;
    while (b != 0) {
      wide t = a % b;
      a = b;
      b = t;
    }
    if (a == 0) a = 1;
    return {static_cast<std::int64_t>(n / a), static_cast<std::int64_t>(d / a)};
  }
  friend rat operator+(rat a, rat b) {
    return make(wide{a.num} * b.den + wide{b.num} * a.den, wide{a.den} * b.den);
  }
  friend rat operator*(rat a, rat b) { return make(wide{a.num} * b.num, wide{a.den} * b.den); }
  friend bool operator==(rat a, rat b) { return a.num == b.num && a.den == b.den; }
};

std::ostream& operator<<(std::ostream& os, rat r) { return os << r.num << "/" << r.den; }

rat integer(std::int64_t n) { return {n, 1}; }

// A power series: its coefficients, lowest order first, on an unbuffered channel. The
// goroutine producing it computes the next coefficient only when the previous one was taken.
using series = goro::chan<rat>;

// Copies one series into two, each read at its own pace. Go's powser uses the same select
// idiom: a nil channel disables the send case of an output that has nothing queued.
std::pair<series, series> split(series in) {
  series a;
  series b;
  goro::go([in, a, b] {
    std::deque<rat> qa;
    std::deque<rat> qb;
    for (;;) {
      series none = series::nil();
      // Pull the next input only when an output has nothing queued (it may be waiting).
      series source = (qa.empty() || qb.empty()) ? in : none;
      goro::select(goro::on_send(qa.empty() ? none : a, qa.empty() ? rat{} : qa.front(),
                                 [&] { qa.pop_front(); }),
                   goro::on_send(qb.empty() ? none : b, qb.empty() ? rat{} : qb.front(),
                                 [&] { qb.pop_front(); }),
                   goro::on_recv(source, [&](std::optional<rat> v) {
                     qa.push_back(v.value());
                     qb.push_back(v.value());
                   }));
    }
  });
  return {a, b};
}

// 1 + x + x^2 + ... = 1/(1-x)
series ones() {
  series out;
  goro::go([out] {
    for (;;) out.send(integer(1));
  });
  return out;
}

// c x^k
series monomial(rat c, int k) {
  series out;
  goro::go([out, c, k] {
    for (int i = 0;; ++i) out.send(i == k ? c : integer(0));
  });
  return out;
}

series add(series u, series v) {
  series out;
  goro::go([u, v, out] {
    for (;;) out.send(u.recv().value() + v.recv().value());
  });
  return out;
}

// The Cauchy product: coefficient n is the sum of u[k] v[n-k] over k = 0..n.
series multiply(series u, series v) {
  series out;
  goro::go([u, v, out] {
    std::vector<rat> us;
    std::vector<rat> vs;
    for (std::size_t n = 0;; ++n) {
      us.push_back(u.recv().value());
      vs.push_back(v.recv().value());
      rat sum;
      for (std::size_t k = 0; k <= n; ++k) sum = sum + us[k] * vs[n - k];
      out.send(sum);
    }
  });
  return out;
}

series derivative(series u) {
  series out;
  goro::go([u, out] {
    u.recv();  // the constant term vanishes
    for (std::int64_t n = 1;; ++n) out.send(integer(n) * u.recv().value());
  });
  return out;
}

// The integral with constant term c, written to out (so a series can be defined in terms of
// its own integral).
void integrate_into(rat c, series u, series out) {
  out.send(c);
  for (std::int64_t n = 1;; ++n) out.send(rat::make(1, n) * u.recv().value());
}

series integrate(rat c, series u) {
  series out;
  goro::go(integrate_into, c, u, out);
  return out;
}

// exp(U) for U with a zero constant term: E = 1 + integral(E * U'), so E's own output feeds
// the product that produces its next coefficient.
series exponential(series u) {
  series e;
  auto [result, feedback] = split(e);
  goro::go(integrate_into, integer(1), multiply(feedback, derivative(u)), e);
  return result;
}

std::vector<rat> take(series s, int n) {
  std::vector<rat> out;
  for (int i = 0; i < n; ++i) out.push_back(s.recv().value());
  return out;
}

TEST_P(ChanPrograms, PowerSeriesArithmetic) {
  constexpr int kTerms = 10;
  std::vector<rat> squared;
  std::vector<rat> sum;
  std::vector<rat> log_like;
  std::vector<rat> exp_x;
  std::vector<rat> exp_x_squared_derivative;
  std::vector<rat> split_twice;
  run(
      [&] {
        auto [a, b] = split(ones());
        squared = take(multiply(a, b), kTerms);
        sum = take(add(ones(), monomial(integer(3), 2)), kTerms);
        log_like = take(integrate(integer(0), ones()), kTerms);
        exp_x = take(exponential(monomial(integer(1), 1)), kTerms);
        exp_x_squared_derivative = take(derivative(exponential(monomial(integer(1), 2))), kTerms);
        auto [c, d] = split(monomial(integer(7), 1));
        split_twice = take(add(c, d), 3);
      },
      "4");

  for (int n = 0; n < kTerms; ++n) {
    auto i = static_cast<std::size_t>(n);
    EXPECT_EQ(squared[i], integer(n + 1)) << "1/(1-x)^2, term " << n;
    EXPECT_EQ(sum[i], integer(n == 2 ? 4 : 1)) << "1/(1-x) + 3x^2, term " << n;
    EXPECT_EQ(log_like[i], n == 0 ? integer(0) : rat::make(1, n)) << "-log(1-x), term " << n;
  }
  std::int64_t factorial = 1;
  for (int n = 0; n < kTerms; ++n) {
    if (n > 0) factorial *= n;
    EXPECT_EQ(exp_x[static_cast<std::size_t>(n)], rat::make(1, factorial)) << "exp(x), term " << n;
  }
  // d/dx exp(x^2) = 2x exp(x^2) = sum over k of 2 x^(2k+1) / k!
  for (int n = 0; n < kTerms; ++n) {
    rat expected = integer(0);
    if (n % 2 == 1) {
      int k = n / 2;
      std::int64_t kf = 1;
      for (int j = 2; j <= k; ++j) kf *= j;
      expected = rat::make(2, kf);
    }
    EXPECT_EQ(exp_x_squared_derivative[static_cast<std::size_t>(n)], expected)
        << "(exp(x^2))', term " << n;
  }
  EXPECT_EQ(split_twice, (std::vector<rat>{integer(0), integer(14), integer(0)}));
}

}  // namespace
