package cron

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func mustLoad(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func mustParse(t testing.TB, expr string) *Schedule {
	t.Helper()
	s, err := Parse(expr)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// rfc formats times with their offsets, so a diff shows which side of a DST change a
// slot fell on.
func rfc(ts []time.Time) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Format(time.RFC3339)
	}
	return out
}

func TestNext(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, expr, zone, from string
		want                   []string
	}{
		{
			name: "daily in a skipped hour fires once, after the jump (New York)",
			expr: "30 2 * * *", zone: "America/New_York", from: "2026-03-07T00:00:00-05:00",
			want: []string{"2026-03-07T02:30:00-05:00", "2026-03-08T03:30:00-04:00", "2026-03-09T02:30:00-04:00"},
		},
		{
			name: "daily in a repeated hour fires on the first pass only (New York)",
			expr: "30 1 * * *", zone: "America/New_York", from: "2026-10-31T00:00:00-04:00",
			want: []string{"2026-10-31T01:30:00-04:00", "2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"},
		},
		{
			name: "daily in a skipped hour fires once, after the jump (Berlin)",
			expr: "30 2 * * *", zone: "Europe/Berlin", from: "2026-03-28T00:00:00+01:00",
			want: []string{"2026-03-28T02:30:00+01:00", "2026-03-29T03:30:00+02:00", "2026-03-30T02:30:00+02:00"},
		},
		{
			name: "daily in a repeated hour fires on the first pass only (Berlin)",
			expr: "0 2 * * *", zone: "Europe/Berlin", from: "2026-10-24T12:00:00+02:00",
			want: []string{"2026-10-25T02:00:00+02:00", "2026-10-26T02:00:00+01:00"},
		},
		{
			name: "hourly follows the clock through spring forward",
			expr: "0 * * * *", zone: "America/New_York", from: "2026-03-08T00:30:00-05:00",
			want: []string{"2026-03-08T01:00:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-08T04:00:00-04:00"},
		},
		{
			name: "hourly fires on both passes of the repeated hour",
			expr: "30 * * * *", zone: "America/New_York", from: "2026-11-01T00:00:00-04:00",
			want: []string{"2026-11-01T00:30:00-04:00", "2026-11-01T01:30:00-04:00", "2026-11-01T01:30:00-05:00", "2026-11-01T02:30:00-05:00"},
		},
		{
			name: "cursor inside the repeated hour does not fire the fixed slot again",
			expr: "30 1 * * *", zone: "America/New_York", from: "2026-11-01T01:10:00-05:00",
			want: []string{"2026-11-02T01:30:00-05:00"},
		},
		{
			name: "cursor just after the jump still finds the shifted slot",
			expr: "30 2 * * *", zone: "America/New_York", from: "2026-03-08T03:10:00-04:00",
			want: []string{"2026-03-08T03:30:00-04:00", "2026-03-09T02:30:00-04:00"},
		},
		{
			name: "day of month or day of week when both are given",
			expr: "0 0 13 * FRI", zone: "UTC", from: "2026-02-01T00:00:00Z",
			want: []string{"2026-02-06T00:00:00Z", "2026-02-13T00:00:00Z", "2026-02-20T00:00:00Z", "2026-02-27T00:00:00Z", "2026-03-06T00:00:00Z", "2026-03-13T00:00:00Z"},
		},
		{
			name: "monthly on the 31st skips short months",
			expr: "0 6 31 * *", zone: "Asia/Tokyo", from: "2026-01-01T00:00:00+09:00",
			want: []string{"2026-01-31T06:00:00+09:00", "2026-03-31T06:00:00+09:00", "2026-05-31T06:00:00+09:00"},
		},
		{
			name: "every is aligned to the epoch",
			expr: "@every 10m", zone: "UTC", from: "2026-05-01T12:03:07Z",
			want: []string{"2026-05-01T12:10:00Z", "2026-05-01T12:20:00Z"},
		},
		{
			name: "weekly descriptor",
			expr: "@weekly", zone: "Europe/Berlin", from: "2026-03-25T00:00:00+01:00",
			want: []string{"2026-03-29T00:00:00+01:00", "2026-04-05T00:00:00+02:00"},
		},
		{
			name: "a date that never comes",
			expr: "0 0 30 2 *", zone: "UTC", from: "2026-01-01T00:00:00Z",
			want: []string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, loc := mustParse(t, tt.expr), mustLoad(t, tt.zone)
			from, err := time.Parse(time.RFC3339, tt.from)
			if err != nil {
				t.Fatal(err)
			}
			got := []time.Time{}
			for t := from; len(got) < len(tt.want) || len(tt.want) == 0; {
				t = s.Next(t, loc)
				if t.IsZero() {
					break
				}
				got = append(got, t)
			}
			if diff := cmp.Diff(tt.want, rfc(got)); diff != "" {
				t.Errorf("Next from %s (-want +got):\n%s", tt.from, diff)
			}
		})
	}
}

// TestDailyOncePerLocalDay walks two years of daily schedules in zones with DST changes
// and checks the promise the scheduler builds on: one slot per local day, never zero,
// never two, strictly increasing.
func TestDailyOncePerLocalDay(t *testing.T) {
	t.Parallel()
	zones := []string{"America/New_York", "Europe/Berlin", "Australia/Sydney", "Australia/Lord_Howe", "America/Santiago", "UTC"}
	exprs := []string{"0 0 * * *", "30 1 * * *", "30 2 * * *", "59 2 * * *", "0 3 * * *", "15 23 * * *"}
	for _, zone := range zones {
		for _, expr := range exprs {
			t.Run(zone+"/"+expr, func(t *testing.T) {
				t.Parallel()
				s, loc := mustParse(t, expr), mustLoad(t, zone)
				start := time.Date(2026, 1, 1, 0, 0, 0, 0, loc)
				days := map[string]int{}
				prev := start.Add(-time.Nanosecond)
				for {
					next := s.Next(prev, loc)
					if !next.After(prev) {
						t.Fatalf("Next(%v) = %v, not after", prev, next)
					}
					if next.Year() > 2027 {
						break
					}
					days[next.Format(time.DateOnly)]++
					prev = next
				}
				for d := start; d.Year() < 2028; d = d.AddDate(0, 0, 1) {
					if n := days[d.Format(time.DateOnly)]; n != 1 {
						t.Errorf("%s: %d slots, want 1", d.Format(time.DateOnly), n)
					}
				}
			})
		}
	}
}

func TestHourlySlotsPerDay(t *testing.T) {
	t.Parallel()
	tests := []struct {
		zone, day string
		want      int
	}{
		{"America/New_York", "2026-03-08", 23},
		{"America/New_York", "2026-11-01", 25},
		{"America/New_York", "2026-06-01", 24},
		{"Europe/Berlin", "2026-03-29", 23},
		{"Europe/Berlin", "2026-10-25", 25},
	}
	s := mustParse(t, "@hourly")
	for _, tt := range tests {
		t.Run(tt.zone+"/"+tt.day, func(t *testing.T) {
			t.Parallel()
			loc := mustLoad(t, tt.zone)
			day, err := time.ParseInLocation(time.DateOnly, tt.day, loc)
			if err != nil {
				t.Fatal(err)
			}
			next := day.AddDate(0, 0, 1)
			slots, more := s.Between(day.Add(-time.Nanosecond), next.Add(-time.Nanosecond), loc, 100)
			if more || len(slots) != tt.want {
				t.Errorf("Between = %d slots (more %v), want %d: %v", len(slots), more, tt.want, rfc(slots))
			}
			for i := 1; i < len(slots); i++ {
				if d := slots[i].Sub(slots[i-1]); d != time.Hour {
					t.Errorf("slots %s and %s are %v apart, want 1h", slots[i-1].Format(time.RFC3339), slots[i].Format(time.RFC3339), d)
				}
			}
		})
	}
}

func TestBetween(t *testing.T) {
	t.Parallel()
	at := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	tests := []struct {
		name, expr, after, through string
		max                        int
		want                       []string
		more                       bool
	}{
		{"none due", "0 * * * *", "2026-05-01T10:00:00Z", "2026-05-01T10:59:59Z", 10, nil, false},
		{"end is inclusive, start exclusive", "0 * * * *", "2026-05-01T10:00:00Z", "2026-05-01T12:00:00Z", 10,
			[]string{"2026-05-01T11:00:00Z", "2026-05-01T12:00:00Z"}, false},
		{"keeps the latest when capped", "0 * * * *", "2026-05-01T00:00:00Z", "2026-05-01T12:00:00Z", 2,
			[]string{"2026-05-01T11:00:00Z", "2026-05-01T12:00:00Z"}, true},
		{"every, capped without walking", "@every 1s", "2025-05-01T00:00:00Z", "2026-05-01T00:00:00Z", 2,
			[]string{"2026-04-30T23:59:59Z", "2026-05-01T00:00:00Z"}, true},
		{"every, exact", "@every 30s", "2026-05-01T00:00:00Z", "2026-05-01T00:01:10Z", 10,
			[]string{"2026-05-01T00:00:30Z", "2026-05-01T00:01:00Z"}, false},
		{"through before after", "@every 1s", "2026-05-01T00:00:00Z", "2026-04-01T00:00:00Z", 10, nil, false},
		{"every, past the nanosecond clock's end in 2262", "@every 24h", "2300-01-01T00:00:00Z", "2300-01-03T12:00:00Z", 10,
			[]string{"2300-01-02T00:00:00Z", "2300-01-03T00:00:00Z"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, more := mustParse(t, tt.expr).Between(at(tt.after), at(tt.through), time.UTC, tt.max)
			if diff := cmp.Diff(tt.want, rfcOrNil(got)); diff != "" || more != tt.more {
				t.Errorf("Between more=%v (want %v) (-want +got):\n%s", more, tt.more, diff)
			}
		})
	}
}

func rfcOrNil(ts []time.Time) []string {
	if len(ts) == 0 {
		return nil
	}
	return rfc(ts)
}

func BenchmarkNext(b *testing.B) {
	loc := mustLoad(b, "America/New_York")
	for _, expr := range []string{"* * * * *", "30 2 * * *", "0 9-17 * * MON-FRI", "@every 10m"} {
		s := mustParse(b, expr)
		b.Run(expr, func(b *testing.B) {
			t := time.Date(2026, 1, 1, 0, 0, 0, 0, loc)
			for b.Loop() {
				t = s.Next(t, loc)
				if t.Year() > 2030 {
					t = time.Date(2026, 1, 1, 0, 0, 0, 0, loc)
				}
			}
		})
	}
}
