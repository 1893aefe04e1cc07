package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestNext: the schedule is the argument or --schedule, not both, and one of them.
func TestNext(t *testing.T) {
	t.Parallel()
	const want = "2026-03-08T03:30:00-04:00\n2026-03-09T02:30:00-04:00\n"
	for _, tc := range []struct {
		args    []string
		out     string
		problem string
	}{
		{args: []string{"30 2 * * *"}, out: want},
		{args: []string{"--schedule", "30 2 * * *"}, out: want},
		{args: []string{"30 2 * * *", "--schedule", "@daily"}, problem: "give the schedule once"},
		{args: nil, problem: "which schedule?"},
		{args: []string{"30 2 * *"}, problem: "schedule "},
		{args: []string{"--schedule", "30 2 * *"}, problem: "--schedule "},
	} {
		var out, errOut bytes.Buffer
		args := append([]string{"next"}, tc.args...)
		args = append(args, "--timezone", "America/New_York", "--from", "2026-03-07T12:00:00Z", "--count", "2")
		err := Run(context.Background(), args, strings.NewReader(""), &out, &errOut)
		switch {
		case tc.problem == "" && (err != nil || out.String() != tc.out):
			t.Errorf("docket %q: %v\n%s; want\n%s", args, err, out.String(), tc.out)
		case tc.problem != "" && (err == nil || !strings.Contains(err.Error(), tc.problem)):
			t.Errorf("docket %q: %v; want an error saying %q", args, err, tc.problem)
		}
	}
}
