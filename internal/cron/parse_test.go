package cron

import (
	"strings"
	"testing"
	"time"
)

func TestParseRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		expr, want string
	}{
		{"", "is empty"},
		{"* * * *", "has 4 fields"},
		{"0 0 * * * *", "has 6 fields"},
		{"61 * * * *", "above maximum"},
		{"* 24 * * *", "above maximum"},
		{"0 0 0 * *", "below minimum"},
		{"@fortnightly", "@fortnightly"},
		{"@every", "@every"},
		{"@every soon", "@every needs a duration"},
		{"@every 500ms", "whole number of seconds"},
		{"@every 1.5s", "whole number of seconds"},
		{"TZ=UTC 0 0 * * *", "timezone field"},
		{"CRON_TZ=Europe/Berlin 0 0 * * *", "timezone field"},
		{"a b c d e", "a b c d e"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			t.Parallel()
			_, err := Parse(tt.expr)
			if err == nil {
				t.Fatalf("Parse(%q) = nil error, want one containing %q", tt.expr, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse(%q) error = %q, want it to contain %q", tt.expr, err, tt.want)
			}
		})
	}
}

func TestParseAccepts(t *testing.T) {
	t.Parallel()
	for _, expr := range []string{
		"* * * * *", "*/5 * * * *", "0 9-17 * * MON-FRI", "0 0 1,15 * *", "0 0 * JAN,JUL *",
		"@hourly", "@daily", "@weekly", "@monthly", "@yearly", "@annually", "@midnight",
		"@every 1s", "@every 10m", "@every 1h30m",
	} {
		s, err := Parse(expr)
		if err != nil {
			t.Errorf("Parse(%q): %v", expr, err)
			continue
		}
		if s.String() != expr {
			t.Errorf("Parse(%q).String() = %q", expr, s.String())
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, seed := range []string{"* * * * *", "0 2 * * *", "@daily", "@every 5m", "*/7 1-5 1,15 JAN-MAR MON", "0 0 31 2 *"} {
		f.Add(seed)
	}
	from := time.Date(2026, 3, 7, 0, 0, 0, 0, time.UTC)
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		s, err := Parse(expr)
		if err != nil {
			return
		}
		// Whatever parses must yield strictly increasing slots.
		prev := from
		for range 50 {
			next := s.Next(prev, ny)
			if next.IsZero() {
				return
			}
			if !next.After(prev) {
				t.Fatalf("%q: Next(%v) = %v, not after", expr, prev, next)
			}
			prev = next
		}
	})
}
