package cron

import (
	"fmt"
	"strings"
	"time"
)

// Describe says in words when the schedule fires, for a person reading a list of jobs:
// "every 15 minutes", "at 03:00 every day", "at 09:30 on weekdays", "every hour at :05 on
// day 1 of the month". Times are wall-clock times in the job's zone.
func (s *Schedule) Describe() string {
	if s.every > 0 {
		return "every " + durationWords(s.every)
	}
	when, days := s.timeWords(), s.dayWords()
	if days == "" && strings.HasPrefix(when, "at ") {
		days = " every day"
	}
	return when + days + s.monthWords()
}

// values lists the set bits of a field in [lo, hi].
func values(field uint64, lo, hi int) []int {
	var out []int
	for v := lo; v <= hi; v++ {
		if field&(1<<uint(v)) != 0 {
			out = append(out, v)
		}
	}
	return out
}

// step returns k when vs is 0, k, 2k, ... covering [0, n) and k > 1.
func step(vs []int, n int) (int, bool) {
	if len(vs) < 2 || vs[0] != 0 {
		return 0, false
	}
	k := vs[1]
	if k < 2 || n%k != 0 || len(vs) != n/k {
		return 0, false
	}
	for i, v := range vs {
		if v != i*k {
			return 0, false
		}
	}
	return k, true
}

func (s *Schedule) timeWords() string {
	minutes, hours := values(s.minute, 0, 59), values(s.hour, 0, 23)
	allMinutes := len(minutes) == 60
	switch {
	case allMinutes && s.everyHour:
		return "every minute"
	case allMinutes:
		return "every minute during hour " + list(hours, func(h int) string { return fmt.Sprintf("%02d", h) })
	}
	if k, ok := step(minutes, 60); ok {
		if s.everyHour {
			return fmt.Sprintf("every %d minutes", k)
		}
		return fmt.Sprintf("every %d minutes during hour %s", k, list(hours, func(h int) string { return fmt.Sprintf("%02d", h) }))
	}
	if s.everyHour {
		return "every hour at " + list(minutes, func(m int) string { return fmt.Sprintf(":%02d", m) })
	}
	if len(minutes) == 1 {
		if k, ok := step(hours, 24); ok {
			return fmt.Sprintf("every %d hours at :%02d", k, minutes[0])
		}
	}
	if len(minutes)*len(hours) <= 6 {
		var times []string
		for _, h := range hours {
			for _, m := range minutes {
				times = append(times, fmt.Sprintf("%02d:%02d", h, m))
			}
		}
		return "at " + joinWords(times)
	}
	return fmt.Sprintf("at minute %s past hour %s",
		list(minutes, func(m int) string { return fmt.Sprint(m) }), list(hours, func(h int) string { return fmt.Sprint(h) }))
}

func (s *Schedule) dayWords() string {
	days := values(s.dom, 1, 31)
	weekdays := values(s.dow, 0, 6)
	domWords := ""
	if !s.domStar {
		domWords = "on day " + list(days, func(d int) string { return fmt.Sprint(d) }) + " of the month"
	}
	dowWords := ""
	if !s.dowStar {
		dowWords = "on " + weekdayWords(weekdays)
	}
	switch {
	case domWords != "" && dowWords != "":
		return " " + domWords + " and " + dowWords
	case domWords != "":
		return " " + domWords
	case dowWords != "":
		return " " + dowWords
	}
	return ""
}

func (s *Schedule) monthWords() string {
	months := values(s.month, 1, 12)
	if len(months) == 12 {
		return ""
	}
	return " in " + list(months, func(m int) string { return time.Month(m).String() })
}

// weekdayWords names days of the week, with the common sets in one word.
func weekdayWords(days []int) string {
	switch fmt.Sprint(days) {
	case "[1 2 3 4 5]":
		return "weekdays"
	case "[0 6]":
		return "weekends"
	case "[0 1 2 3 4 5 6]":
		return "every day of the week"
	}
	return list(days, func(d int) string { return time.Weekday(d).String() + "s" })
}

// list joins the names of values, writing runs of three or more consecutive ones as a range.
func list(vs []int, name func(int) string) string {
	var parts []string
	for i := 0; i < len(vs); {
		j := i
		for j+1 < len(vs) && vs[j+1] == vs[j]+1 {
			j++
		}
		if j-i >= 2 {
			parts = append(parts, name(vs[i])+" to "+name(vs[j]))
		} else {
			for k := i; k <= j; k++ {
				parts = append(parts, name(vs[k]))
			}
		}
		i = j + 1
	}
	return joinWords(parts)
}

// joinWords writes "a", "a and b", "a, b and c".
func joinWords(parts []string) string {
	if len(parts) <= 1 {
		return strings.Join(parts, "")
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}

// durationWords writes an @every interval as a person would: "10 minutes", "1h30m".
func durationWords(d time.Duration) string {
	for _, u := range []struct {
		unit time.Duration
		name string
	}{{24 * time.Hour, "day"}, {time.Hour, "hour"}, {time.Minute, "minute"}, {time.Second, "second"}} {
		if d%u.unit == 0 {
			n := int(d / u.unit)
			if n == 1 {
				return u.name
			}
			return fmt.Sprintf("%d %ss", n, u.name)
		}
	}
	return d.String()
}
