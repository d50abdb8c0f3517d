// chameneos: chameneos-redux. Creatures of three colours go to a meeting place, which pairs
// them N times in all. After each meeting both creatures take the complement of the two
// colours. Two games run one after the other, with 3 and with 10 creatures. The meeting
// place sends each creature its partner on the creature's reply channel, and closes that
// channel once the N meetings are done.
// Check: each game's meetings sum to 2N, so the two games print 4N.
#include <goro/chan.hpp>
#include <goro/goro.hpp>

#include <cstdint>
#include <optional>
#include <vector>

#include "bench_report.h"
#include "chameneos_rules.h"

namespace {

using namespace bench::chameneos;

struct visit {
  int id = 0;
  colour hue = colour::blue;
  goro::chan<partner> reply;  // receives the partner; closed at the end
};

// Pairs the creatures that arrive until it has held `meetings` meetings, then turns each
// creature away on its next arrival by closing its reply channel.
void meeting_place(goro::chan<visit> arrivals, std::int64_t meetings, std::size_t creatures) {
  for (std::int64_t i = 0; i < meetings; ++i) {
    visit first = arrivals.recv().value();
    visit second = arrivals.recv().value();
    first.reply.send(partner{second.id, second.hue});
    second.reply.send(partner{first.id, first.hue});
  }
  for (std::size_t i = 0; i < creatures; ++i) {
    arrivals.recv().value().reply.close();
  }
}

void creature(int id, colour hue, goro::chan<visit> arrivals, goro::chan<tally> done) {
  goro::chan<partner> reply;
  tally t;
  for (;;) {
    arrivals.send(visit{id, hue, reply});
    std::optional<partner> met = reply.recv();
    if (!met) {
      break;
    }
    hue = complement(hue, met->hue);
    ++t.meetings;
    if (met->id == id) {
      ++t.met_themselves;
    }
  }
  done.send(t);
}

// Runs one game; returns the meetings counted by all creatures together, or -1.
std::int64_t game(const std::vector<colour>& colours, std::int64_t meetings) {
  goro::chan<visit> arrivals;
  goro::chan<tally> done;
  goro::go(meeting_place, arrivals, meetings, colours.size());
  for (std::size_t i = 0; i < colours.size(); ++i) {
    goro::go(creature, static_cast<int>(i), colours[i], arrivals, done);
  }

  std::vector<tally> tallies;
  for (std::size_t i = 0; i < colours.size(); ++i) {
    tallies.push_back(done.recv().value());
  }
  return total_meetings(tallies);
}

}  // namespace

int main(int argc, char** argv) {
  const std::int64_t n = bench::size_from_args(argc, argv, 600'000);
  return goro::run(argc, argv, [n] { return play(n, game); });
}
