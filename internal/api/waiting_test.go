package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"docket.dev/docket/internal/job"
)

func TestWaitingFor(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	gpu := &job.Queue{Name: "gpu", MaxRunning: 4}
	etl := &job.Queue{Name: "etl", MaxStartsPerSecond: 2}
	queued := job.Run{Job: "train", State: job.StateQueued, NotBefore: now}
	backoff := queued
	backoff.NotBefore = time.Date(2026, 11, 23, 15, 4, 5, 0, time.UTC)
	step := job.Run{State: job.StateWaiting, Parent: "p", Needs: []string{"extract", "train"}}
	tests := []struct {
		name string
		run  job.Run
		f    waitFacts
		want string
	}{
		{"queue full", queued, waitFacts{queue: gpu, stats: job.QueueStats{Running: 4, Queued: 2}, tokens: 1}, "queue gpu is full (4 of 4 running)"},
		{"rate limited", queued, waitFacts{queue: etl, tokens: 0.4}, "queue etl is rate limited (2 starts a second)"},
		{"its turn", queued, waitFacts{queue: gpu, stats: job.QueueStats{Running: 3, Queued: 9}, tokens: 1}, "its turn in queue gpu (3 running, 9 queued)"},
		{"default queue", queued, waitFacts{stats: job.QueueStats{Running: 8, Queued: 1}}, "a free slot on a server (default queue: 8 running, 1 queued)"},
		{"backoff", backoff, waitFacts{queue: gpu, tokens: 1}, "retry backoff until 15:04:05"},
		{"exclusive", queued, waitFacts{busy: &job.Run{ID: "r1", State: job.StateRunning}, queue: gpu, tokens: 1},
			"run r1 of job train to end (running; concurrency forbid runs one at a time)"},
		{"disabled over backoff, busy and full", backoff, waitFacts{queue: &job.Queue{Name: "gpu", MaxRunning: 1, Disabled: true}, stats: job.QueueStats{Running: 1},
			busy: &job.Run{ID: "r1", State: job.StateRunning}}, "queue gpu is disabled"},
		{"suspended", backoff, waitFacts{suspended: true}, "job is suspended"},
		{"needs", step, waitFacts{needs: map[string]job.State{"extract": job.StateSucceeded, "train": job.StateRunning}}, "needs train (running)"},
		{"pending on a node", job.Run{State: job.StatePending}, waitFacts{last: &job.Event{Reason: job.ReasonUnschedulable, Message: "pod x cannot be scheduled yet: 0/3 nodes are available: 3 Insufficient cpu."}},
			"pod x cannot be scheduled yet: 0/3 nodes are available: 3 Insufficient cpu."},
		{"running", job.Run{State: job.StateRunning}, waitFacts{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := waitingFor(tt.run, tt.f, now); got != tt.want {
				t.Errorf("waitingFor = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestWaitingForQueue reads a run whose queue is full through the API.
func TestWaitingForQueue(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.call(t, "PUT", "/api/v1/queues/gpu", "application/json", `{"max_running": 1}`)
	if status, body := f.call(t, "PUT", "/api/v1/jobs/train", "application/yaml", "name: train\nimage: python:3.12\ncpu: 1\nmemory: 1Gi\nconcurrency: allow\nqueue: gpu\n"); status != http.StatusCreated {
		t.Fatalf("PUT job: %d %s", status, body)
	}
	var runs []job.Run
	for range 2 {
		_, body := f.call(t, "POST", "/api/v1/jobs/train/runs", "application/json", "")
		var r job.Run
		json.Unmarshal(body, &r)
		runs = append(runs, r)
	}
	if _, err := f.store.RunClaim(context.Background(), "w", f.now, 10); err != nil {
		t.Fatal(err)
	}
	_, body := f.call(t, "GET", "/api/v1/runs/"+runs[1].ID, "", "")
	var got job.Run
	if err := json.Unmarshal(body, &got); err != nil || got.WaitingFor != "queue gpu is full (1 of 1 running)" {
		t.Errorf("GET run: waiting_for %q (%v); want queue gpu is full (1 of 1 running)", got.WaitingFor, err)
	}
}

// TestWaitingForDisabled reads a run of a disabled queue through the API: it was
// submitted, is not claimed, and says why until the queue is enabled.
func TestWaitingForDisabled(t *testing.T) {
	t.Parallel()
	f := setup(t)
	if status, body := f.call(t, "PUT", "/api/v1/queues/gpu", "application/yaml", "max_running: 2\ndisabled: true\n"); status != http.StatusCreated || !strings.Contains(string(body), `"disabled":true`) {
		t.Fatalf("PUT disabled queue: %d %s", status, body)
	}
	if status, body := f.call(t, "PUT", "/api/v1/jobs/train", "application/yaml", "name: train\nimage: python:3.12\ncpu: 1\nmemory: 1Gi\nqueue: gpu\n"); status != http.StatusCreated {
		t.Fatalf("PUT job: %d %s", status, body)
	}
	status, body := f.call(t, "POST", "/api/v1/jobs/train/runs", "application/json", "")
	var r job.Run
	if err := json.Unmarshal(body, &r); err != nil || status != http.StatusCreated {
		t.Fatalf("POST run to a disabled queue: %d %s", status, body)
	}
	if got, err := f.store.RunClaim(context.Background(), "w", f.now, 10); err != nil || len(got) != 0 {
		t.Fatalf("claim from a disabled queue: %d runs, %v; want none", len(got), err)
	}
	_, body = f.call(t, "GET", "/api/v1/runs/"+r.ID, "", "")
	var got job.Run
	if err := json.Unmarshal(body, &got); err != nil || got.State != job.StateQueued || got.WaitingFor != "queue gpu is disabled" {
		t.Errorf("GET run: %s waiting_for %q (%v); want queued, queue gpu is disabled", got.State, got.WaitingFor, err)
	}
	if _, body := f.call(t, "GET", "/api/v1/queues/gpu", "", ""); !strings.Contains(string(body), `"disabled":true`) || !strings.Contains(string(body), `"queued":1`) {
		t.Errorf("GET queue: %s; want disabled with 1 queued", body)
	}
	if status, body := f.call(t, "PUT", "/api/v1/queues/gpu?dry_run=true", "application/json", `{"max_running": 2}`); status != http.StatusOK || !strings.Contains(string(body), `"change":"changed"`) {
		t.Errorf("dry run of enabling: %d %s; want changed", status, body)
	}
	if status, body := f.call(t, "PUT", "/api/v1/queues/gpu", "application/json", `{"max_running": 2}`); status != http.StatusCreated || !strings.Contains(string(body), `"disabled":false`) {
		t.Fatalf("PUT enabled queue: %d %s", status, body)
	}
	if got, err := f.store.RunClaim(context.Background(), "w", f.now, 10); err != nil || len(got) != 1 || got[0].ID != r.ID {
		t.Errorf("claim once enabled: %v, %v; want run %s", got, err, r.ID)
	}
}

// TestWaitingForExclusive: a run of a concurrency-forbid job waits for the job's active
// run, and says so rather than blaming its queue.
func TestWaitingForExclusive(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.call(t, "PUT", "/api/v1/queues/gpu", "application/json", `{"max_running": 2}`)
	if status, body := f.call(t, "PUT", "/api/v1/jobs/train", "application/yaml", "name: train\nimage: python:3.12\ncpu: 1\nmemory: 1Gi\nconcurrency: forbid\nqueue: gpu\n"); status != http.StatusCreated {
		t.Fatalf("PUT job: %d %s", status, body)
	}
	var runs []job.Run
	for range 2 {
		_, body := f.call(t, "POST", "/api/v1/jobs/train/runs", "application/json", "")
		var r job.Run
		json.Unmarshal(body, &r)
		runs = append(runs, r)
	}
	if _, err := f.store.RunClaim(context.Background(), "w", f.now, 10); err != nil {
		t.Fatal(err)
	}
	_, body := f.call(t, "GET", "/api/v1/runs/"+runs[1].ID, "", "")
	var got job.Run
	want := "run " + runs[0].ID + " of job train to end (dispatched; concurrency forbid runs one at a time)"
	if err := json.Unmarshal(body, &got); err != nil || got.WaitingFor != want {
		t.Errorf("GET run: waiting_for %q (%v); want %q", got.WaitingFor, err, want)
	}
}
