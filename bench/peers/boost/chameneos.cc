// chameneos: chameneos-redux. Creatures of three colours go to a meeting place, which pairs
// them N times in all. After each meeting both creatures take the complement of the two
// colours. Two games run one after the other, with 3 and with 10 creatures. The meeting
// place pushes each creature its partner on the creature's reply channel, and closes that
// channel once the N meetings are done.
// Check: each game's meetings sum to 2N, so the two games print 4N.
#include <cstdint>
#include <vector>

#include "bench_report.h"
#include "chameneos_rules.h"
#include "fiber_runtime.h"

namespace {

using namespace bench::chameneos;

using partner_channel = boost::fibers::unbuffered_channel<partner>;

struct visit {
  int id = 0;
  colour hue = colour::blue;
  partner_channel* reply = nullptr;  // receives the partner; closed at the end
};
using visit_channel = boost::fibers::unbuffered_channel<visit>;

// Pairs the creatures that arrive until it has held `meetings` meetings, then turns each
// creature away on its next arrival by closing its reply channel.
void meeting_place(visit_channel& arrivals, std::int64_t meetings, std::size_t creatures) {
  for (std::int64_t i = 0; i < meetings; ++i) {
    visit first = arrivals.value_pop();
    visit second = arrivals.value_pop();
    first.reply->push(partner{second.id, second.hue});
    second.reply->push(partner{first.id, first.hue});
  }
  for (std::size_t i = 0; i < creatures; ++i) {
    arrivals.value_pop().reply->close();
  }
}

tally creature(int id, colour hue, visit_channel& arrivals, partner_channel& reply) {
  tally t;
  partner met;
  for (;;) {
    arrivals.push(visit{id, hue, &reply});
    if (reply.pop(met) != boost::fibers::channel_op_status::success) {
      return t;
    }
    hue = complement(hue, met.hue);
    ++t.meetings;
    if (met.id == id) {
      ++t.met_themselves;
    }
  }
}

// Runs one game; returns the meetings counted by all creatures together, or -1.
std::int64_t game(const std::vector<colour>& colours, std::int64_t meetings) {
  visit_channel arrivals;
  std::vector<partner_channel> replies(colours.size());
  std::vector<tally> tallies(colours.size());
  std::vector<boost::fibers::fiber> fibers;
  fibers.push_back(bench::fiber::start([&arrivals, meetings, creatures = colours.size()] {
    meeting_place(arrivals, meetings, creatures);
  }));
  for (std::size_t i = 0; i < colours.size(); ++i) {
    fibers.push_back(bench::fiber::start([&, i] {
      tallies[i] = creature(static_cast<int>(i), colours[i], arrivals, replies[i]);
    }));
  }
  for (boost::fibers::fiber& f : fibers) {
    f.join();
  }
  return total_meetings(tallies);
}

}  // namespace

int main(int argc, char** argv) {
  const std::int64_t n = bench::size_from_args(argc, argv, 600'000);
  return bench::fiber::run([n] { return play(n, game); });
}
