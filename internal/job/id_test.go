package job

import (
	"regexp"
	"testing"
	"time"
)

func TestNewRunID(t *testing.T) {
	t.Parallel()
	uuid7 := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	prev := NewRunID(t0)
	for i := 1; i < 100; i++ {
		id := NewRunID(t0.Add(time.Duration(i) * time.Millisecond))
		if !uuid7.MatchString(id) {
			t.Fatalf("NewRunID = %q, not a version 7 UUID", id)
		}
		if id <= prev {
			t.Fatalf("ids do not sort by time: %q after %q", id, prev)
		}
		prev = id
	}
}

func TestNewRunIDSameMillisecond(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	prev := NewRunID(now)
	// More than the 12-bit counter holds, so the millisecond is borrowed from the future.
	for range 5000 {
		id := NewRunID(now)
		if id <= prev {
			t.Fatalf("ids made in the same millisecond do not increase: %q after %q", id, prev)
		}
		prev = id
	}
}

func TestRunIDFloor(t *testing.T) {
	t.Parallel()
	at := time.UnixMilli(0x019ab2c3d4e5)
	if got, want := RunIDFloor(at), "019ab2c3-d4e5-0000-0000-000000000000"; got != want {
		t.Errorf("RunIDFloor(%s) = %s; want %s", at, got, want)
	}
	// Ids of that millisecond sort at or above the floor, those of the one before below.
	for _, tt := range []struct {
		id    string
		above bool
	}{
		{"019ab2c3-d4e5-7000-8000-000000000000", true},
		{"019ab2c3-d4e5-7fff-bfff-ffffffffffff", true},
		{"019ab2c3-d4e6-7000-8000-000000000000", true},
		{"019ab2c3-d4e4-7fff-bfff-ffffffffffff", false},
	} {
		if got := tt.id >= RunIDFloor(at); got != tt.above {
			t.Errorf("%s >= floor %s: %v; want %v", tt.id, RunIDFloor(at), got, tt.above)
		}
	}
}
