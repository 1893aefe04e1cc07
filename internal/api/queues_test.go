package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"docket.dev/docket/internal/job"
)

const trainJob = `name: train
image: python:3.12
command: ["python", "train.py", "--lr", "{{ .Params.lr }}", "--date", "{{ .Params.date }}"]
cpu: "1"
memory: 1Gi
queue: gpu
params: {lr: "0.01", date: ""}
`

// TestQueues puts, reads, lists and deletes queues through the API, and submits runs that
// name queues, priorities and params: bad input is a 4xx naming the field and stores
// nothing.
func TestQueues(t *testing.T) {
	t.Parallel()
	f := setup(t)
	if status, body := f.call(t, "PUT", "/api/v1/jobs/train", "application/yaml", trainJob); status != http.StatusBadRequest || !strings.Contains(string(body), `"field":"queue"`) {
		t.Fatalf("a job naming a queue that does not exist: %d %s", status, body)
	}
	// A step's queue that does not exist is named as the step's field, applied or dry run.
	stepQueue := strings.Replace(workflowJob, "{name: extract}", "{name: extract, queue: absent}", 1)
	for _, path := range []string{"/api/v1/jobs/nightly", "/api/v1/jobs/nightly?dry_run=true"} {
		if status, body := f.call(t, "PUT", path, "application/yaml", stepQueue); status != http.StatusBadRequest || !strings.Contains(string(body), `"field":"steps[0].queue"`) {
			t.Errorf("PUT %s, a step naming a queue that does not exist: %d %s; want 400 on steps[0].queue", path, status, body)
		}
	}
	if status, body := f.call(t, "PUT", "/api/v1/queues/gpu", "application/json", `{"max_running": 4, "max_starts_per_second": 2, "priority": 10}`); status != http.StatusCreated {
		t.Fatalf("PUT queue: %d %s", status, body)
	}
	if status, body := f.call(t, "PUT", "/api/v1/queues/gpu", "application/yaml", "kind: Queue\nname: gpu\nmax_running: 4\nmax_starts_per_second: 2\npriority: 10\n"); status != http.StatusOK || !strings.Contains(string(body), `"changed":false`) {
		t.Fatalf("the same queue in YAML: %d %s", status, body)
	}
	if status, body := f.call(t, "PUT", "/api/v1/jobs/train", "application/yaml", trainJob); status != http.StatusCreated {
		t.Fatalf("PUT job in queue gpu: %d %s", status, body)
	}
	status, body := f.call(t, "POST", "/api/v1/jobs/train/runs", "application/json", `{"priority": 900, "params": {"date": "2026-11-23"}}`)
	var run job.Run
	if err := json.Unmarshal(body, &run); err != nil || status != http.StatusCreated {
		t.Fatalf("POST run: %d %s", status, body)
	}
	if want := map[string]string{"lr": "0.01", "date": "2026-11-23"}; run.Queue != "gpu" || run.Priority != 900 || !cmp.Equal(want, run.Params) {
		t.Errorf("run: queue %q priority %d params %v; want gpu, 900, %v", run.Queue, run.Priority, run.Params, want)
	}
	status, body = f.call(t, "GET", "/api/v1/queues", "", "")
	var list queueList
	if err := json.Unmarshal(body, &list); err != nil || status != http.StatusOK {
		t.Fatalf("GET queues: %d %s", status, body)
	}
	if len(list.Queues) != 1 || list.Queues[0].Name != "gpu" || list.Queues[0].MaxRunning != 4 || list.Queues[0].Queued != 1 {
		t.Errorf("GET queues = %s; want gpu with 1 queued", body)
	}
	if status, body := f.call(t, "GET", "/api/v1/queues/gpu", "", ""); status != http.StatusOK || !strings.Contains(string(body), `"priority":10`) {
		t.Errorf("GET queue: %d %s", status, body)
	}

	before := f.snapshot(t)
	tests := []struct {
		name, method, path, contentType, body string
		status                                int
		field                                 string
	}{
		{"queue unknown field", "PUT", "/api/v1/queues/etl", "application/json", `{"max_runing": 4}`, 400, "max_runing"},
		{"queue negative limit", "PUT", "/api/v1/queues/etl", "application/json", `{"max_running": -1}`, 400, "max_running"},
		{"queue rate too high", "PUT", "/api/v1/queues/etl", "application/json", `{"max_starts_per_second": 1e9}`, 400, "max_starts_per_second"},
		{"queue rate not a number", "PUT", "/api/v1/queues/etl", "application/json", `{"max_starts_per_second": "fast"}`, 400, "max_starts_per_second"},
		{"queue priority too high", "PUT", "/api/v1/queues/etl", "application/json", `{"priority": 1001}`, 400, "priority"},
		{"queue bad name", "PUT", "/api/v1/queues/Bad_Name", "application/json", `{}`, 400, "name"},
		{"queue name differs", "PUT", "/api/v1/queues/etl", "application/yaml", "name: gpu\n", 400, "name"},
		{"queue wrong kind", "PUT", "/api/v1/queues/etl", "application/yaml", "kind: Job\n", 400, "kind"},
		{"queue two documents", "PUT", "/api/v1/queues/etl", "application/yaml", "max_running: 1\n---\nmax_running: 2\n", 400, ""},
		{"queue too large", "PUT", "/api/v1/queues/etl", "application/yaml", "# " + strings.Repeat("x", 2<<20) + "\n", 413, ""},
		{"queue media type", "PUT", "/api/v1/queues/etl", "text/plain", "max_running: 1", 415, ""},
		{"unknown queue", "GET", "/api/v1/queues/absent", "", "", 404, ""},
		{"delete unknown queue", "DELETE", "/api/v1/queues/absent", "", "", 404, ""},
		{"delete a queue a job names", "DELETE", "/api/v1/queues/gpu", "", "", 409, ""},
		{"run priority too high", "POST", "/api/v1/jobs/train/runs", "application/json", `{"priority": 1001, "params": {"date": "x"}}`, 400, "priority"},
		{"run unknown param", "POST", "/api/v1/jobs/train/runs", "application/json", `{"params": {"date": "x", "epochs": "3"}}`, 400, "params.epochs"},
		{"run missing param", "POST", "/api/v1/jobs/train/runs", "application/json", `{"params": {"lr": "0.1"}}`, 400, "params.date"},
		{"run param wrong type", "POST", "/api/v1/jobs/train/runs", "application/json", `{"params": {"date": 3}}`, 400, "params"},
		{"run unknown queue", "POST", "/api/v1/jobs/train/runs", "application/json", `{"queue": "absent", "params": {"date": "x"}}`, 400, "queue"},
		{"job template names no param", "PUT", "/api/v1/jobs/train", "application/yaml", strings.Replace(trainJob, ".Params.lr", ".Params.rate", 1), 400, "command[3]"},
		{"job bad param name", "PUT", "/api/v1/jobs/train", "application/yaml", strings.Replace(trainJob, "lr:", "1lr:", 1), 400, "params.1lr"},
		{"scheduled job with a required param", "PUT", "/api/v1/jobs/train", "application/yaml", trainJob + "schedule: \"@daily\"\n", 400, "params.date"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := f.call(t, tt.method, tt.path, tt.contentType, tt.body)
			var got errorBody
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("status %d, body not an error document: %s", status, body)
			}
			if status != tt.status || got.Error.Field != tt.field || got.Error.Message == "" {
				t.Errorf("got %d field %q message %q; want %d field %q and a message", status, got.Error.Field, got.Error.Message, tt.status, tt.field)
			}
			if tt.status == 409 && !strings.Contains(got.Error.Message, "train") {
				t.Errorf("the refused delete does not name the job: %q", got.Error.Message)
			}
		})
	}
	if diff := cmp.Diff(before, f.snapshot(t)); diff != "" {
		t.Errorf("bad requests changed what is stored (-before +after):\n%s", diff)
	}
	qs, err := f.store.QueueList(context.Background())
	if err != nil || len(qs) != 1 {
		t.Errorf("queues after bad requests: %+v, %v; want gpu alone", qs, err)
	}
}

// TestDryRun applies, submits and sets queues with ?dry_run=true: each answer says what
// would happen, and nothing stored changes.
func TestDryRun(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.call(t, "PUT", "/api/v1/queues/gpu", "application/json", `{"max_running": 2}`)
	if status, body := f.call(t, "PUT", "/api/v1/jobs/nightly", "application/yaml", goodJob); status != http.StatusCreated {
		t.Fatalf("PUT: %d %s", status, body)
	}
	before := f.snapshot(t)
	queuesBefore, _ := f.store.QueueList(context.Background())
	var v struct {
		DryRun   bool     `json:"dry_run"`
		Change   string   `json:"change"`
		Diff     []string `json:"diff"`
		Revision int      `json:"revision"`
		NextRuns []string `json:"next_runs"`
	}
	check := func(path, body, change string, diff []string, revision int) {
		t.Helper()
		status, got := f.call(t, "PUT", path, "application/yaml", body)
		v.Diff = nil
		if err := json.Unmarshal(got, &v); err != nil || status != http.StatusOK {
			t.Fatalf("PUT %s: %d %s", path, status, got)
		}
		if !v.DryRun || v.Change != change || !cmp.Equal(diff, v.Diff) || v.Revision != revision || len(v.NextRuns) != 3 {
			t.Errorf("PUT %s: %s; want change %s, diff %q, revision %d, 3 next runs", path, got, change, diff, revision)
		}
	}
	check("/api/v1/jobs/nightly?dry_run=true", goodJob, "unchanged", nil, 1)
	check("/api/v1/jobs/nightly?dry_run=true", strings.Replace(goodJob, "retries: 2", "retries: 3\nqueue: gpu", 1), "changed",
		[]string{`queue: (none) -> "gpu"`, "retries: 2 -> 3"}, 2)
	check("/api/v1/jobs/other?dry_run=true", strings.Replace(goodJob, "name: nightly", "name: other", 1), "created", nil, 1)
	if status, body := f.call(t, "PUT", "/api/v1/jobs/nightly?dry_run=true", "application/yaml", goodJob+"queue: absent\n"); status != http.StatusBadRequest || !strings.Contains(string(body), `"field":"queue"`) {
		t.Errorf("dry run naming no queue: %d %s", status, body)
	}
	if status, body := f.call(t, "PUT", "/api/v1/queues/gpu?dry_run=true", "application/json", `{"max_running": 3}`); status != http.StatusOK || !strings.Contains(string(body), `"change":"changed"`) {
		t.Errorf("queue dry run: %d %s", status, body)
	}
	status, body := f.call(t, "POST", "/api/v1/jobs/nightly/runs?dry_run=true", "application/json", `{"priority": 7}`)
	if status != http.StatusOK || !strings.Contains(string(body), `"dry_run":true`) || !strings.Contains(string(body), `"priority":7`) {
		t.Errorf("submit dry run: %d %s", status, body)
	}
	// An array's dry run is the array run with its size, and its task 0 as the run shown.
	status, body = f.call(t, "POST", "/api/v1/jobs/nightly/runs?dry_run=true", "application/json", `{"inputs": ["a", "b", "c"]}`)
	var array struct {
		Run  job.Run  `json:"run"`
		Task *job.Run `json:"task"`
	}
	if err := json.Unmarshal(body, &array); status != http.StatusOK || err != nil || array.Run.Kind != job.KindArray || array.Run.Group == nil ||
		array.Run.Group.Size != 3 || array.Task == nil || array.Task.TaskIndex == nil || *array.Task.TaskIndex != 0 || array.Task.Input != "a" {
		t.Errorf("array dry run: %d %s", status, body)
	}
	if status, _ := f.call(t, "POST", "/api/v1/jobs/nightly/runs?dry_run=maybe", "application/json", ""); status != http.StatusBadRequest {
		t.Errorf("dry_run=maybe: %d, want 400", status)
	}
	// A job after one the same file sets before it: assume_jobs counts that one as there.
	after := strings.Replace(goodJob, "name: nightly", "name: report", 1) + "after: [{job: train}]\n"
	check("/api/v1/jobs/report?dry_run=true&assume_jobs=train", after, "created", nil, 1)
	for path, field := range map[string]string{
		"/api/v1/jobs/report?dry_run=true":                       "after[0].job",
		"/api/v1/jobs/report?dry_run=true&assume_jobs=Not_A_Job": "assume_jobs",
	} {
		if status, body := f.call(t, "PUT", path, "application/yaml", after); status != http.StatusBadRequest || !strings.Contains(string(body), `"field":"`+field+`"`) {
			t.Errorf("PUT %s: %d %s; want 400 on %s", path, status, body, field)
		}
	}
	if diff := cmp.Diff(before, f.snapshot(t)); diff != "" {
		t.Errorf("dry runs changed what is stored (-before +after):\n%s", diff)
	}
	if queuesAfter, _ := f.store.QueueList(context.Background()); !cmp.Equal(queuesBefore, queuesAfter) {
		t.Errorf("dry runs changed the queues: %+v, then %+v", queuesBefore, queuesAfter)
	}
}
