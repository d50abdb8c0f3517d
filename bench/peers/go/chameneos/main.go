// chameneos: chameneos-redux. Creatures of three colours go to a meeting place, which pairs
// them N times in all; after each meeting both creatures take the complement of the two
// colours. Two games run one after the other, with 3 and with 10 creatures. Each creature
// counts its meetings; the meeting place sends each creature its partner's id and colour.
// Check: each game's meetings sum to 2N, so the two games print 4N.
package main

import (
	"time"

	"gorobench/internal/report"
)

type colour int

const (
	blue colour = iota
	red
	yellow
)

// complement is the colour a creature takes after meeting one of colour other.
func complement(self, other colour) colour {
	if self == other {
		return self
	}
	return 3 - self - other
}

// partner is the partner's id and colour, sent by the meeting place after a meeting.
type partner struct {
	id     int
	colour colour
}

type visit struct {
	id     int
	colour colour
	reply  chan partner // receives the partner; closed when the meeting place closes
}

// meetingPlace pairs the creatures that arrive until it has held meetings meetings, then
// turns each creature away on its next arrival by closing its reply channel.
func meetingPlace(arrivals <-chan visit, meetings int64, creatures int) {
	for i := int64(0); i < meetings; i++ {
		first := <-arrivals
		second := <-arrivals
		first.reply <- partner{second.id, second.colour}
		second.reply <- partner{first.id, first.colour}
	}
	for i := 0; i < creatures; i++ {
		close((<-arrivals).reply)
	}
}

type tally struct {
	meetings      int64
	metThemselves int64
}

func creature(id int, c colour, arrivals chan<- visit, done chan<- tally) {
	reply := make(chan partner)
	var t tally
	for {
		arrivals <- visit{id, c, reply}
		met, open := <-reply
		if !open {
			break
		}
		c = complement(c, met.colour)
		t.meetings++
		if met.id == id {
			t.metThemselves++
		}
	}
	done <- t
}

// game runs one game and returns the meetings counted by all creatures together.
func game(colours []colour, meetings int64) int64 {
	arrivals := make(chan visit)
	done := make(chan tally)
	go meetingPlace(arrivals, meetings, len(colours))
	for id, c := range colours {
		go creature(id, c, arrivals, done)
	}
	var total int64
	for range colours {
		t := <-done
		if t.metThemselves != 0 {
			report.Fail("chameneos", "a creature met itself %d times, want 0", t.metThemselves)
		}
		total += t.meetings
	}
	if total != 2*meetings {
		report.Fail("chameneos", "%d creatures counted %d meetings, want %d", len(colours), total, 2*meetings)
	}
	return total
}

func main() {
	n := report.Size(600_000)

	start := time.Now()
	total := game([]colour{blue, red, yellow}, n)
	total += game([]colour{blue, red, yellow, red, yellow, blue, red, yellow, red, blue}, n)
	elapsed := time.Since(start)

	report.Check("chameneos", n, elapsed, total, 4*n)
}
