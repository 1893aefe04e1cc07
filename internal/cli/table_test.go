package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"docket.dev/docket/internal/client"
	"docket.dev/docket/internal/job"
)

func TestNodeOf(t *testing.T) {
	t.Parallel()
	ev := func(reason job.Reason, msg string) job.Event { return job.Event{Reason: reason, Message: msg} }
	tests := []struct {
		name   string
		events []job.Event
		want   string
	}{
		{"none", []job.Event{ev("Queued", "submitted"), ev("Started", "process 12 started")}, ""},
		{"scheduled", []job.Event{ev("Scheduled", "pod docket-r1-x scheduled on node kwok-node-0")}, "kwok-node-0"},
		{"started only", []job.Event{ev("Started", "pod docket-r1-x running on node n2 with a 1h deadline")}, "n2"},
		{"the newest after a restart", []job.Event{
			ev("Scheduled", "pod docket-r1-a scheduled on node n1"), ev("Disrupted", "pod docket-r1-a on node n1 was evicted"),
			ev("Scheduled", "pod docket-r1-b scheduled on node n3"),
		}, "n3"},
	}
	for _, tt := range tests {
		if got := nodeOf(tt.events); got != tt.want {
			t.Errorf("%s: node %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestLookupNodes reads the events of the runs that may have a node, once for a run
// whose node is settled (found, or the run finished), and not for runs not started.
func TestLookupNodes(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	asked := map[string]int{}
	events := map[string][]job.Event{
		"pending":  nil,
		"running":  {{Reason: "Scheduled", Message: "pod docket-running-x scheduled on node n1"}},
		"finished": {{Reason: "Started", Message: "process started"}},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/api/v1/runs/"), "/events")
		mu.Lock()
		asked[id]++
		mu.Unlock()
		if id == "gone" {
			w.WriteHeader(http.StatusNotFound)
			json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": "not_found", "message": "no run gone"}})
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"events": events[id]})
	}))
	t.Cleanup(srv.Close)

	e := &env{output: outputWide}
	tbl := newRunTable(e, client.New(srv.URL))
	runs := []job.Run{
		{ID: "queued", State: job.StateQueued}, {ID: "pending", State: job.StatePending},
		{ID: "running", State: job.StateRunning}, {ID: "finished", State: job.StateSucceeded}, {ID: "gone", State: job.StateFailed},
	}
	for range 3 {
		if err := tbl.lookupNodes(t.Context(), runs); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff(map[string]int{"pending": 3, "running": 1, "finished": 1, "gone": 3}, asked); diff != "" {
		t.Errorf("events read per run (-want +got):\n%s", diff)
	}
	started := time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)
	finished, code := started.Add(95*time.Second), 3
	tbl.now = func() time.Time { return started.Add(time.Hour) }
	row := tbl.row(job.Run{ID: "running", State: job.StateRunning, StartedAt: &started, CreatedAt: started})
	if !strings.HasSuffix(row, "\t1h\t-\tn1\n") {
		t.Errorf("running run's row %q; want duration 1h, no exit code, node n1", row)
	}
	row = tbl.row(job.Run{ID: "finished", State: job.StateFailed, StartedAt: &started, FinishedAt: &finished, ExitCode: &code, CreatedAt: started})
	if !strings.HasSuffix(row, "\t1m35s\t3\t-\n") {
		t.Errorf("finished run's row %q; want duration 1m35s, exit code 3, no node", row)
	}
}

// TestJobText: a step's or a task's run names which one it is beside its job.
func TestJobText(t *testing.T) {
	t.Parallel()
	three := 3
	for want, r := range map[string]job.Run{
		"train":          {Job: "train"},
		"pipeline/train": {Job: "pipeline", Parent: "p", Step: "train"},
		"shards[3]":      {Job: "shards", Parent: "p", TaskIndex: &three},
	} {
		if got := jobText(r); got != want {
			t.Errorf("jobText(%+v) = %q; want %q", r, got, want)
		}
	}
}

// TestAsFlags: an API error about a submission's field names the docket run flag that set
// it (a report's, the docket report flag); an error about another field, or none, is as it
// was.
func TestAsFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ field, message, want string }{
		{"env.1A", `env.1A: "1A" is not a valid variable name`, `--env 1A: "1A" is not a valid variable name`},
		{"priority", "2000 is not a number from 0 to 1000", "--priority: 2000 is not a number from 0 to 1000"},
		{"files[1].path", `"x" is named twice`, `--file (its 2nd): "x" is named twice`},
		{"inputs[2]", "contains a NUL byte", "--each-line (its 3rd): contains a NUL byte"},
		{"command[0]", "is empty", "is empty"},
		{"", "job x not found", "job x not found"},
	} {
		got := asFlags(&client.Error{Status: 400, Code: "invalid", Field: tc.field, Message: tc.message})
		if got.Error() != tc.want {
			t.Errorf("asFlags(%s: %s) = %q; want %q", tc.field, tc.message, got, tc.want)
		}
	}
	// docket report's fields are its flags' too.
	err := namedFlags(&client.Error{Status: 400, Code: "invalid", Field: "metrics.bad-name", Message: "metrics.bad-name: is not a metric name"}, reportFlags)
	if want := "--metric bad-name: is not a metric name"; err.Error() != want {
		t.Errorf("a report's error: %q; want %q", err, want)
	}
	if got := ordinal(11) + " " + ordinal(22) + " " + ordinal(103); got != "11th 22nd 103rd" {
		t.Errorf("ordinals: %s", got)
	}
}

// TestDescribeGroupColumns: describe's list of an array's tasks keeps its states in one
// column past task 9, and a workflow's tree keeps them in one column at every depth.
func TestDescribeGroupColumns(t *testing.T) {
	t.Parallel()
	child := func(id string, i int, step string, needs ...string) job.Run {
		r := job.Run{ID: id, Parent: "g", State: job.StateSucceeded, Reason: job.ReasonCompleted, Message: "exited with code 0", Step: step, Needs: needs}
		if step == "" {
			r.TaskIndex = &i
		}
		return r
	}
	var tasks []job.Run
	for i := range 12 {
		tasks = append(tasks, child(fmt.Sprintf("t%02d", i), i, ""))
	}
	tasks[11].State = job.StateFailed
	// A diamond: publish shows under the last of its needs, and once more, shown above.
	steps := []job.Run{child("s1", 0, "extract"), child("s2", 0, "train", "extract"), child("s3", 0, "report", "train"),
		child("s4", 0, "publish", "extract", "train"), child("s5", 0, "extract-everything-again")}
	for _, g := range []struct {
		kind     job.Kind
		children []job.Run
	}{{job.KindArray, tasks}, {job.KindWorkflow, steps}} {
		var out strings.Builder
		describeGroup(&out, job.Run{ID: "g", Kind: g.kind, Group: &job.Group{Size: len(g.children)}}, g.children)
		col := -1
		for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n")[1:] {
			if strings.HasSuffix(line, "(shown above)") {
				continue
			}
			i := strings.Index(line, " succeeded ")
			if i < 0 {
				i = strings.Index(line, " failed ")
			}
			if i < 0 || col >= 0 && i != col {
				t.Errorf("%s: the state of %q is not in the column of the lines before:\n%s", g.kind, line, out.String())
				break
			}
			col = i
		}
	}
}
