package group

import (
	"strings"
	"testing"

	"docket.dev/docket/internal/job"
)

// TestCheckCopies: a group run's env, params and overrides, times its children, are
// bounded; a plain run, or a small env over many children, passes.
func TestCheckCopies(t *testing.T) {
	t.Parallel()
	env := map[string]string{"BIG": strings.Repeat("x", 1<<20)}
	for _, tc := range []struct {
		name string
		run  job.Run
		size int
		ok   bool
	}{
		{"a plain run", job.Run{Env: env}, 0, true},
		{"a 1 MiB env over 15 tasks", job.Run{Env: env}, 15, true},
		{"a 1 MiB env over 17 tasks", job.Run{Env: env}, 17, false},
		{"params count too", job.Run{Params: env}, 17, false},
		{"overrides count too", job.Run{Overrides: &job.Overrides{Command: []string{env["BIG"]}}}, 17, false},
		{"a small env over 10,000 tasks", job.Run{Env: map[string]string{"MODE": "full"}}, job.MaxTasks, true},
	} {
		err := CheckCopies(tc.run, tc.size)
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v; want ok %v", tc.name, err, tc.ok)
		}
	}
}
