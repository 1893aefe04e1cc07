package definition

import (
	"errors"
	"testing"

	"docket.dev/docket/internal/job"
)

func TestDecodeQueue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, doc, url string
		want           job.Queue
		field          string // "" when the document is good
	}{
		{"yaml", "kind: Queue\nname: gpu\nmax_running: 4\nmax_starts_per_second: 0.5\npriority: 10\n", "", job.Queue{Name: "gpu", MaxRunning: 4, MaxStartsPerSecond: 0.5, Priority: 10}, ""},
		{"json with the name in the URL", `{"max_running": 2}`, "etl", job.Queue{Name: "etl", MaxRunning: 2}, ""},
		{"no name", "max_running: 2\n", "", job.Queue{}, "name"},
		{"bad name", "name: GPU\n", "", job.Queue{}, "name"},
		{"the default queue's name", "name: default\nmax_running: 2\n", "", job.Queue{}, "name"},
		{"names differ", "name: gpu\n", "etl", job.Queue{}, "name"},
		{"wrong kind", "kind: Job\nname: gpu\n", "", job.Queue{}, "kind"},
		{"unknown field", "name: gpu\nmax_parallel: 2\n", "", job.Queue{}, "max_parallel"},
		{"negative", "name: gpu\nmax_running: -1\n", "", job.Queue{}, "max_running"},
		{"fraction of a run", "name: gpu\nmax_running: 1.5\n", "", job.Queue{}, "max_running"},
		{"rate not a number", "name: gpu\nmax_starts_per_second: fast\n", "", job.Queue{}, "max_starts_per_second"},
		{"disabled", "name: gpu\nmax_running: 2\ndisabled: true\n", "", job.Queue{Name: "gpu", MaxRunning: 2, Disabled: true}, ""},
		{"enabled", `{"disabled": false}`, "gpu", job.Queue{Name: "gpu"}, ""},
		{"disabled not a boolean", "name: gpu\ndisabled: \"yes\"\n", "", job.Queue{}, "disabled"},
		{"state is not a field", "name: gpu\nstate: DISABLED\n", "", job.Queue{}, "state"},
		{"priority too high", "name: gpu\npriority: 1001\n", "", job.Queue{}, "priority"},
	}
	// A misspelt field is told the one it likely meant.
	if _, err := DecodeQueue([]byte("name: gpu\nmax_runing: 2\n"), ""); err == nil || err.Error() != `max_runing: is not a field of a queue; did you mean "max_running"?` {
		t.Errorf("a misspelt field: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeQueue([]byte(tt.doc), tt.url)
			var fe *job.FieldError
			switch {
			case tt.field == "" && (err != nil || got != tt.want):
				t.Errorf("DecodeQueue = %+v, %v; want %+v", got, err, tt.want)
			case tt.field != "" && (!errors.As(err, &fe) || fe.Field != tt.field):
				t.Errorf("DecodeQueue: %v; want a field error on %s", err, tt.field)
			}
		})
	}
}

// FuzzDecodeQueue checks that any document decodes to a valid queue or a field error,
// never a panic.
func FuzzDecodeQueue(f *testing.F) {
	f.Add([]byte("kind: Queue\nname: gpu\nmax_running: 4\n"))
	f.Add([]byte(`{"max_starts_per_second": 1e400}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		q, err := DecodeQueue(doc, "q")
		if err == nil {
			if verr := q.Validate(); verr != nil || !ValidQueueName(q.Name) {
				t.Fatalf("DecodeQueue(%q) = %+v, which is not valid: %v", doc, q, verr)
			}
			return
		}
		var fe *job.FieldError
		if !errors.As(err, &fe) {
			t.Fatalf("DecodeQueue(%q): %v is no field error", doc, err)
		}
	})
}
