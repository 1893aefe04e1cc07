package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"docket.dev/docket/internal/job"
)

// TestSubmitArray: a submission makes an array of any job, by count or one task per
// input, with the definition's limits or its own; the results list its tasks in index
// order with their inputs and the array's progress, a page at a time.
func TestSubmitArray(t *testing.T) {
	t.Parallel()
	f := setup(t)
	if code, body := f.call(t, "PUT", "/api/v1/jobs/nightly", "application/yaml", goodJob+"parallelism: 3\n"); code != 201 {
		t.Fatalf("apply: %d %s", code, body)
	}
	code, body := f.call(t, "POST", "/api/v1/jobs/nightly/runs", "application/json", `{"inputs": ["a.csv", "b.csv", "c.csv"], "max_failed": 1}`)
	if code != 201 {
		t.Fatalf("submit: %d %s", code, body)
	}
	var run struct {
		ID    string `json:"id"`
		Kind  string `json:"kind"`
		Group struct {
			Size, Parallelism int
			MaxFailed         *int `json:"max_failed"`
		} `json:"group"`
	}
	if err := json.Unmarshal(body, &run); err != nil {
		t.Fatal(err)
	}
	if run.Kind != "array" || run.Group.Size != 3 || run.Group.Parallelism != 3 || run.Group.MaxFailed == nil || *run.Group.MaxFailed != 1 {
		t.Fatalf("submitted %s; want an array of 3, parallelism 3 from the job, max_failed 1", body)
	}
	var page struct {
		Progress map[string]int `json:"progress"`
		Results  []struct {
			Index        int
			Input, State string
		}
		NextAfter *int `json:"next_after"`
	}
	code, body = f.call(t, "GET", "/api/v1/runs/"+run.ID+"/results?limit=2", "", "")
	if code != 200 {
		t.Fatalf("results: %d %s", code, body)
	}
	if err := json.Unmarshal(body, &page); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range page.Results {
		got = append(got, fmt.Sprintf("%d %s %s", r.Index, r.Input, r.State))
	}
	if diff := cmp.Diff([]string{"0 a.csv queued", "1 b.csv queued"}, got); diff != "" {
		t.Errorf("first page (-want +got):\n%s", diff)
	}
	if page.NextAfter == nil || *page.NextAfter != 1 || page.Progress["size"] != 3 || page.Progress["queued"] != 3 {
		t.Errorf("page %s; want next_after 1 and 3 queued of 3", body)
	}
	code, body = f.call(t, "GET", fmt.Sprintf("/api/v1/runs/%s/results?after=%d", run.ID, *page.NextAfter), "", "")
	if code != 200 || !strings.Contains(string(body), `"index":2,"input":"c.csv"`) || strings.Contains(string(body), "next_after") {
		t.Errorf("second page: %d %s; want task 2 and no next page", code, body)
	}
}

// TestSubmitArrayRefused: arrays out of bounds are 400s naming the field, storing
// nothing; results of a run that is no array are 409.
func TestSubmitArrayRefused(t *testing.T) {
	t.Parallel()
	f := setup(t)
	if code, body := f.call(t, "PUT", "/api/v1/jobs/nightly", "application/yaml", goodJob); code != 201 {
		t.Fatalf("apply: %d %s", code, body)
	}
	before := f.snapshot(t)
	long := strings.Repeat("x", 4097)
	many := `"` + strings.Repeat(`a", "`, 10000) + `a"`
	var files strings.Builder
	for i := range 10001 {
		fmt.Fprintf(&files, `{"path": "f%d", "sha256": "%064d", "size": 0},`, i, 0)
	}
	// Each task carries the run's env: 40 tasks of a 500 KB env would store 20 MB.
	big := strings.Repeat("x", 100<<10)
	big = big + `", "B2": "` + big + `", "B3": "` + big + `", "B4": "` + big + `", "B5": "` + big
	for _, tc := range []struct{ body, field string }{
		{`{"files": [` + strings.TrimSuffix(files.String(), ",") + `]}`, "files"},
		{`{"tasks": 40, "env": {"BIG": "` + big + `"}}`, "env"},
		{`{"tasks": 10001}`, "tasks"},
		{`{"tasks": -1}`, "tasks"},
		{`{"tasks": 2, "inputs": ["a"]}`, "tasks"},
		{`{"inputs": ["` + long + `"]}`, "inputs[0]"},
		{`{"inputs": ["a", "b\u0000"]}`, "inputs[1]"},
		{`{"inputs": [` + many + `]}`, "inputs"},
		{`{"tasks": 3, "max_failed": 3}`, "max_failed"},
		{`{"tasks": 3, "parallelism": -2}`, "parallelism"},
		{`{"parallelism": 2}`, "parallelism"}, // nightly is no array: it would do nothing
		{`{"max_failed": 1}`, "max_failed"},
		{`{"tasks": "3"}`, "tasks"},
	} {
		code, body := f.call(t, "POST", "/api/v1/jobs/nightly/runs", "application/json", tc.body)
		var e struct{ Error struct{ Field string } }
		_ = json.Unmarshal(body, &e)
		if code != http.StatusBadRequest || e.Error.Field != tc.field {
			t.Errorf("%.60s: %d %s; want 400 naming %s", tc.body, code, body, tc.field)
		}
	}
	if diff := cmp.Diff(before, f.snapshot(t)); diff != "" {
		t.Errorf("refused submissions stored something (-before +after):\n%s", diff)
	}
	code, body := f.call(t, "POST", "/api/v1/jobs/nightly/runs", "application/json", `{}`)
	var run struct{ ID string }
	if err := json.Unmarshal(body, &run); err != nil || code != 201 {
		t.Fatalf("submit: %d %s", code, body)
	}
	if code, body := f.call(t, "GET", "/api/v1/runs/"+run.ID+"/results", "", ""); code != http.StatusConflict {
		t.Errorf("results of a plain run: %d %s; want 409", code, body)
	}
}

// TestArrayIdempotency: a key used again with another array is a conflict, not the first
// run returned as if it were what was asked.
func TestArrayIdempotency(t *testing.T) {
	t.Parallel()
	f := setup(t)
	if code, body := f.call(t, "PUT", "/api/v1/jobs/nightly", "application/yaml", goodJob); code != 201 {
		t.Fatalf("apply: %d %s", code, body)
	}
	if code, body := f.call(t, "POST", "/api/v1/jobs/nightly/runs", "application/json", `{"tasks": 3}`, "Idempotency-Key", "k1"); code != 201 {
		t.Fatalf("first: %d %s", code, body)
	}
	if code, body := f.call(t, "POST", "/api/v1/jobs/nightly/runs", "application/json", `{"tasks": 3}`, "Idempotency-Key", "k1"); code != 200 {
		t.Errorf("same again: %d %s; want 200", code, body)
	}
	for _, body := range []string{`{"tasks": 4}`, `{}`} {
		if code, out := f.call(t, "POST", "/api/v1/jobs/nightly/runs", "application/json", body, "Idempotency-Key", "k1"); code != http.StatusConflict {
			t.Errorf("%s with the same key: %d %s; want 409", body, code, out)
		}
	}
}

// TestRetryArraySucceeded: resuming an array whose tasks all succeeded is a conflict that
// says so, naming no step; one with a failed task is resumed, that task run again.
func TestRetryArraySucceeded(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	if code, body := f.call(t, "PUT", "/api/v1/jobs/nightly", "application/yaml", goodJob); code != 201 {
		t.Fatalf("apply: %d %s", code, body)
	}
	submit := func() string {
		t.Helper()
		code, body := f.call(t, "POST", "/api/v1/jobs/nightly/runs", "application/json", `{"tasks": 2}`)
		var run job.Run
		if err := json.Unmarshal(body, &run); code != 201 || err != nil {
			t.Fatalf("submit: %d %s", code, body)
		}
		return run.ID
	}
	finish := func(states ...job.State) {
		t.Helper()
		tasks, err := f.store.RunClaim(ctx, "w", f.now.Add(time.Minute), 10)
		if err != nil || len(tasks) != len(states) {
			t.Fatalf("claimed %d tasks, %v; want %d", len(tasks), err, len(states))
		}
		slices.SortFunc(tasks, func(a, b job.Run) int { return *a.TaskIndex - *b.TaskIndex })
		for i, r := range tasks {
			if _, err := f.store.RunTransition(ctx, job.Transition{RunID: r.ID, From: job.StateDispatched, To: states[i], Time: f.now, Reason: "Done"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	ok := submit()
	finish(job.StateSucceeded, job.StateSucceeded)
	code, body := f.call(t, "POST", "/api/v1/runs/"+ok+"/retry", "", "")
	if code != 409 || !strings.Contains(string(body), "every task of array run "+ok+" succeeded") || strings.Contains(string(body), `"field"`) {
		t.Errorf("retry of an array that succeeded: %d %s; want 409 saying every task succeeded", code, body)
	}
	failed := submit()
	finish(job.StateSucceeded, job.StateFailed)
	code, body = f.call(t, "POST", "/api/v1/runs/"+failed+"/retry", "", "")
	var resumed job.Run
	if err := json.Unmarshal(body, &resumed); code != 201 || err != nil || resumed.ResumedFrom != failed || resumed.Group == nil || resumed.Group.Succeeded != 1 {
		t.Errorf("retry of an array with a failed task: %d %s", code, body)
	}
}

// TestJobLastRunIsTopLevel: a job's last run is its newest run of its own, the array run,
// not one of the array's tasks, made after it.
func TestJobLastRunIsTopLevel(t *testing.T) {
	t.Parallel()
	f := setup(t)
	if code, body := f.call(t, "PUT", "/api/v1/jobs/nightly", "application/yaml", goodJob); code != 201 {
		t.Fatalf("apply: %d %s", code, body)
	}
	_, body := f.call(t, "POST", "/api/v1/jobs/nightly/runs", "application/json", `{"tasks": 3}`)
	var array job.Run
	if err := json.Unmarshal(body, &array); err != nil || array.Kind != job.KindArray {
		t.Fatalf("submit: %s %v", body, err)
	}
	_, body = f.call(t, "GET", "/api/v1/jobs/nightly", "", "")
	var j struct {
		LastRun *job.Run `json:"last_run"`
	}
	if err := json.Unmarshal(body, &j); err != nil || j.LastRun == nil || j.LastRun.ID != array.ID {
		t.Errorf("last_run: %+v %v; want the array run %s", j.LastRun, err, array.ID)
	}
}
