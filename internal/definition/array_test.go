package definition

import (
	"errors"
	"testing"

	"docket.dev/docket/internal/job"
)

// TestArrayFields: tasks, parallelism and max_failed are read from a definition and
// checked, each refusal naming its field.
func TestArrayFields(t *testing.T) {
	t.Parallel()
	const base = "name: score\nimage: python:3.12\ncpu: 1\nmemory: 1Gi\n"
	for _, tc := range []struct{ extra, field string }{
		{"tasks: 50\nparallelism: 10\nmax_failed: 2\n", ""},
		{"parallelism: 4\n", ""},
		{"tasks: 10001\n", "tasks"},
		{"tasks: -1\n", "tasks"},
		{"tasks: 5\nparallelism: -1\n", "parallelism"},
		{"tasks: 5\nmax_failed: 5\n", "max_failed"},
		{"tasks: 5\nmax_failed: -1\n", "max_failed"},
		{"tasks: many\n", "tasks"},
		{"max_failed: [1]\n", "max_failed"},
	} {
		spec, err := Decode([]byte(base + tc.extra))
		if err == nil {
			spec, err = Normalize(spec, DefaultLimits())
		}
		var fe *job.FieldError
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%q: %v; want it accepted", tc.extra, err)
		case tc.field == "" && tc.extra[0] == 't' && (spec.Tasks != 50 || spec.Parallelism != 10 || spec.MaxFailed == nil || *spec.MaxFailed != 2 || spec.Kind() != job.KindArray):
			t.Errorf("%q read as tasks %d, parallelism %d, max_failed %v", tc.extra, spec.Tasks, spec.Parallelism, spec.MaxFailed)
		case tc.field != "" && (!errors.As(err, &fe) || fe.Field != tc.field):
			t.Errorf("%q: %v; want an error naming %s", tc.extra, err, tc.field)
		}
	}
}
