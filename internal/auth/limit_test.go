package auth

import (
	"fmt"
	"testing"

	"golang.org/x/time/rate"
)

// TestLimitersForget checks that the limiters of idle tokens (one per run, for run
// tokens) do not pile up: past maxIdleLimiters the full buckets are dropped.
func TestLimitersForget(t *testing.T) {
	t.Parallel()
	l := NewLimiters(1)
	for i := range maxIdleLimiters {
		l.byKey[fmt.Sprint("idle ", i)] = rate.NewLimiter(l.Every, l.Burst)
	}
	l.Allow("busy")
	l.Allow("busy")
	l.Allow("new")
	if n := len(l.byKey); n != 2 {
		t.Errorf("%d limiters kept; want the busy one and the new one", n)
	}
	if l.Allow("busy") {
		t.Error("the busy token's spent bucket was forgotten")
	}
}
