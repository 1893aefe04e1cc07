package sqlstore

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	"docket.dev/docket/internal/job"
)

func TestKnownGroups(t *testing.T) {
	k := &knownGroups{m: map[string]string{}}
	k.keep([]job.Run{{ID: "a", Parent: "g"}, {ID: "b"}})
	known, unknown := k.lookup([]string{"a", "b", "c"})
	if want := map[string]string{"a": "g", "b": ""}; !maps.Equal(known, want) || !slices.Equal(unknown, []string{"c"}) {
		t.Fatalf("lookup = %v, %v; want %v, [c]", known, unknown, want)
	}
	// A start keeps the run known; its end forgets it.
	k.forget(job.Transition{RunID: "a", To: job.StateRunning}, job.Transition{RunID: "b", To: job.StateFailed})
	if known, unknown = k.lookup([]string{"a", "b"}); !maps.Equal(known, map[string]string{"a": "g"}) || !slices.Equal(unknown, []string{"b"}) {
		t.Fatalf("after a start of a and the end of b: lookup = %v, %v; want a known, b unknown", known, unknown)
	}
	// Past its bound it starts again: what it forgot is read, never guessed.
	many := make([]job.Run, maxKnownGroups)
	for i := range many {
		many[i] = job.Run{ID: fmt.Sprint("r", i)}
	}
	k.keep(many)
	if len(k.m) != maxKnownGroups {
		t.Fatalf("kept %d; want %d", len(k.m), maxKnownGroups)
	}
	if _, unknown = k.lookup([]string{"a"}); !slices.Equal(unknown, []string{"a"}) {
		t.Fatalf("a still known past the bound")
	}
	// A nil knownGroups (one writer holds the database) keeps nothing and does not fail.
	var none *knownGroups
	none.keep(many)
	none.forget(job.Transition{RunID: "a", To: job.StateSucceeded})
}
