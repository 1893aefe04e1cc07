package group

import (
	"strings"
	"testing"

	"docket.dev/docket/internal/job"
)

// TestCheckCopies: what a submission sets of env, params and overrides, times its
// children, is bounded, and the refusal names the largest of the three; a plain run, or a
// small env over many children, passes.
func TestCheckCopies(t *testing.T) {
	t.Parallel()
	big := map[string]string{"BIG": strings.Repeat("x", 1<<20)}
	for _, tc := range []struct {
		name  string
		run   job.Run
		size  int
		field string // "" when it passes
	}{
		{"a plain run", job.Run{Env: big}, 0, ""},
		{"a 1 MiB env over 15 tasks", job.Run{Env: big}, 15, ""},
		{"a 1 MiB env over 17 tasks", job.Run{Env: big}, 17, "env"},
		{"params count too", job.Run{Params: big, Env: map[string]string{"A": "1"}}, 17, "params"},
		{"overrides count too", job.Run{Overrides: &job.Overrides{Command: []string{big["BIG"]}}}, 17, "overrides"},
		{"a small env over 10,000 tasks", job.Run{Env: map[string]string{"MODE": "full"}}, job.MaxTasks, ""},
	} {
		field, err := CheckCopies(tc.run, tc.size)
		if (err != nil) != (tc.field != "") || field != tc.field {
			t.Errorf("%s: field %q, %v; want field %q", tc.name, field, err, tc.field)
		}
	}
}
