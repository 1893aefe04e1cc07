package cron

import (
	"time"
)

// margin bounds how far a zone transition can move the clock. Slot times within margin of
// a transition are computed by the careful path; elsewhere wall time maps one to one.
const margin = 3 * time.Hour

// horizon is how far ahead Next looks before deciding a schedule never fires (Feb 30).
const horizon = 5 * 366 * 24 * time.Hour

// Next returns the first slot strictly after after, in loc, or the zero time if the
// schedule never fires within five years.
//
// Calendar schedules are wall-clock times in loc. Around daylight-saving changes:
//   - A fixed-hour schedule (say "30 2 * * *") fires once per local day: a wall time the
//     clock skips fires at the instant the skipped time maps to (02:30 becomes 03:30 on
//     spring-forward day), and a wall time the clock repeats fires on its first pass only.
//   - A schedule whose hour field is every hour follows the clock: skipped wall times do
//     not fire, repeated ones fire on both passes, so the slots stay an hour apart.
//
// "@every" schedules fire on a grid aligned to the Unix epoch, so their slots are the
// same on every replica and after every restart.
func (s *Schedule) Next(after time.Time, loc *time.Location) time.Time {
	if s.every > 0 {
		// In seconds (the interval is whole seconds): nanoseconds since the epoch end in 2262.
		step := int64(s.every / time.Second)
		n := after.Unix()
		return time.Unix(n-mod(n, step)+step, 0).UTC()
	}
	if loc == nil {
		loc = time.UTC
	}
	limit := after.Add(horizon)
	for after.Before(limit) {
		start, end := after.In(loc).ZoneBounds()
		safeFrom, safeTo := start.Add(margin), end.Add(-margin)
		if (start.IsZero() || !after.Before(safeFrom)) && (end.IsZero() || after.Before(safeTo)) {
			// Far from any transition: wall time and instants map one to one.
			_, off := after.In(loc).Zone()
			i, ok := s.nextWall(after, off, limit)
			if !ok {
				return time.Time{}
			}
			if end.IsZero() || !i.After(safeTo) {
				return i.In(loc)
			}
			after = safeTo
			continue
		}
		if i, ok := s.nearTransition(after, loc); ok {
			return i.In(loc)
		}
		after = after.Add(margin)
	}
	return time.Time{}
}

// Between returns the slots in (after, through], oldest first. When there are more than
// max, it returns the latest max and more is true.
func (s *Schedule) Between(after, through time.Time, loc *time.Location, max int) (slots []time.Time, more bool) {
	if max <= 0 || !through.After(after) {
		return nil, false
	}
	if s.every > 0 {
		// Count the grid points arithmetically; a long outage of a 1s schedule
		// must not cost a loop per second. In seconds, as in Next.
		step := int64(s.every / time.Second)
		last := through.Unix() - mod(through.Unix(), step)
		first := s.Next(after, time.UTC).Unix()
		if first > last {
			return nil, false
		}
		n := (last-first)/step + 1
		if n > int64(max) {
			first, more = last-int64(max-1)*step, true
		}
		for t := first; t <= last; t += step {
			slots = append(slots, time.Unix(t, 0).UTC())
		}
		return slots, more
	}
	for t := s.Next(after, loc); !t.IsZero() && !t.After(through); t = s.Next(t, loc) {
		if len(slots) == max {
			copy(slots, slots[1:])
			slots = slots[:max-1]
			more = true
		}
		slots = append(slots, t)
	}
	return slots, more
}

// nextWall finds the first matching wall time after after's wall time, read with the
// fixed offset off, and returns the instant it names at that offset.
func (s *Schedule) nextWall(after time.Time, off int, limit time.Time) (time.Time, bool) {
	shift := time.Duration(off) * time.Second
	w := after.UTC().Add(shift).Truncate(time.Minute).Add(time.Minute)
	end := limit.UTC().Add(shift)
	for w.Before(end) {
		switch {
		case s.month&(1<<uint(w.Month())) == 0:
			w = time.Date(w.Year(), w.Month()+1, 1, 0, 0, 0, 0, time.UTC)
		case !s.dayMatches(w):
			w = time.Date(w.Year(), w.Month(), w.Day()+1, 0, 0, 0, 0, time.UTC)
		case s.hour&(1<<uint(w.Hour())) == 0:
			w = time.Date(w.Year(), w.Month(), w.Day(), w.Hour()+1, 0, 0, 0, time.UTC)
		case s.minute&(1<<uint(w.Minute())) == 0:
			w = w.Add(time.Minute)
		default:
			return w.Add(-shift), true
		}
	}
	return time.Time{}, false
}

// nearTransition returns the earliest slot in (after, after+margin] when a zone
// transition is within margin of after, applying the DST rules Next documents.
func (s *Schedule) nearTransition(after time.Time, loc *time.Location) (time.Time, bool) {
	offsets := map[int]bool{}
	for _, d := range []time.Duration{-margin - time.Hour, 0, margin + time.Hour} {
		_, off := after.Add(d).In(loc).Zone()
		offsets[off] = true
	}
	minOff := 1 << 30
	for off := range offsets {
		minOff = min(minOff, off)
	}
	until := after.Add(margin)
	from := after.UTC().Add(time.Duration(minOff)*time.Second - margin).Truncate(time.Minute)
	to := after.UTC().Add(time.Duration(minOff)*time.Second + 3*margin)
	var best time.Time
	consider := func(i time.Time) {
		if i.After(after) && !i.After(until) && (best.IsZero() || i.Before(best)) {
			best = i
		}
	}
	for w := from; !w.After(to); w = w.Add(time.Minute) {
		if s.month&(1<<uint(w.Month())) == 0 || !s.dayMatches(w) ||
			s.hour&(1<<uint(w.Hour())) == 0 || s.minute&(1<<uint(w.Minute())) == 0 {
			continue
		}
		var valid []time.Time
		for off := range offsets {
			i := w.Add(-time.Duration(off) * time.Second)
			if _, o := i.In(loc).Zone(); o == off {
				valid = append(valid, i)
			}
		}
		switch {
		case len(valid) == 0 && !s.everyHour:
			// A skipped wall time of a fixed-hour schedule fires where the old
			// offset puts it, just after the clock jumps.
			consider(w.Add(-time.Duration(minOff) * time.Second))
		case len(valid) == 2 && !s.everyHour:
			// A repeated wall time of a fixed-hour schedule fires on its first pass.
			first := valid[0]
			if valid[1].Before(first) {
				first = valid[1]
			}
			consider(first)
		default:
			for _, i := range valid {
				consider(i)
			}
		}
	}
	return best, !best.IsZero()
}

// dayMatches applies cron's day rule to the date of w.
func (s *Schedule) dayMatches(w time.Time) bool {
	domMatch := s.dom&(1<<uint(w.Day())) != 0
	dowMatch := s.dow&(1<<uint(w.Weekday())) != 0
	if s.domStar || s.dowStar {
		return domMatch && dowMatch
	}
	return domMatch || dowMatch
}

// mod is the non-negative remainder of n / d.
func mod(n, d int64) int64 {
	m := n % d
	if m < 0 {
		m += d
	}
	return m
}
