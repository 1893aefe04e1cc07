package api

import (
	"strings"
	"testing"

	"docket.dev/docket/internal/job"
)

// TestSpecDiffLongValue: a change deep in a long value shows where the two differ, not
// the start they share.
func TestSpecDiffLongValue(t *testing.T) {
	t.Parallel()
	old := job.Spec{Name: "pipe", Command: []string{"sh", "-c", strings.Repeat("echo step; ", 30) + "echo publishing"}}
	changed := old
	changed.Command = []string{"sh", "-c", strings.Repeat("echo step; ", 30) + "echo publishing v2"}
	diff, err := specDiff(old, changed)
	if err != nil {
		t.Fatal(err)
	}
	if len(diff) != 1 || !strings.HasPrefix(diff[0], "command: …") || !strings.Contains(diff[0], `echo publishing"] -> …`) ||
		!strings.HasSuffix(diff[0], `echo publishing v2"]`) {
		t.Errorf("diff of a long command: %q", diff)
	}
	// Short values are shown whole.
	changed = old
	changed.Name = "pipe2"
	if diff, err := specDiff(old, changed); err != nil || len(diff) != 1 || diff[0] != `name: "pipe" -> "pipe2"` {
		t.Errorf("diff of a name: %q, %v", diff, err)
	}
}
