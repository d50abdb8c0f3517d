// The rules of chameneos-redux shared by goro's and Boost.Fiber's programs: the colours,
// the complement rule, the messages, and the two games with their check. Each program
// supplies the meeting place and the creatures in its own library's terms.
#pragma once

#include <cstdint>
#include <vector>

#include "bench_report.h"

namespace bench::chameneos {

enum class colour { blue, red, yellow };

// Returns the colour a creature of colour self takes after meeting one of colour other.
inline colour complement(colour self, colour other) {
  if (self == other) {
    return self;
  }
  return static_cast<colour>(3 - static_cast<int>(self) - static_cast<int>(other));
}

// The partner's id and colour, sent by the meeting place to a creature after a meeting.
struct partner {
  int id = 0;
  colour hue = colour::blue;
};

// One creature's counts at the end of a game.
struct tally {
  std::int64_t meetings = 0;
  std::int64_t met_themselves = 0;
};

// Returns the meetings of all tallies together, or -1 after reporting a creature that met
// itself.
inline std::int64_t total_meetings(const std::vector<tally>& tallies) {
  std::int64_t total = 0;
  for (const tally& t : tallies) {
    if (t.met_themselves != 0) {
      fail("chameneos", "a creature met itself %lld times, want 0",
           static_cast<long long>(t.met_themselves));
      return -1;
    }
    total += t.meetings;
  }
  return total;
}

// Times game(colours, n) for the game with 3 creatures and then the one with 10, checks
// that each counted 2n meetings, and prints the result line. Returns the exit status.
template <class Game>
int play(std::int64_t n, Game game) {
  using enum colour;
  stopwatch clock;
  const std::int64_t first = game(std::vector<colour>{blue, red, yellow}, n);
  const std::int64_t second = game(
      std::vector<colour>{blue, red, yellow, red, yellow, blue, red, yellow, red, blue}, n);
  const double seconds = clock.seconds();

  for (std::int64_t total : {first, second}) {
    if (total != 2 * n) {
      return fail("chameneos", "a game counted %lld meetings, want %lld",
                  static_cast<long long>(total), static_cast<long long>(2 * n));
    }
  }
  return check("chameneos", n, seconds, first + second, 4 * n);
}

}  // namespace bench::chameneos
