package api

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
	"docket.dev/docket/internal/store/sqlite"
)

const workflowJob = goodJob + `steps:
  - {name: extract}
  - {name: train, needs: [extract], cpu: "4", command: ["python", "train.py", "{{ .Steps.extract.Result.path }}"]}
`

// TestWorkflowApply: a workflow is stored; a bad one is refused with the field named and
// nothing stored changed, a step's own resources held to what the nodes have.
func TestWorkflowApply(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.api.opts.Admission = &smallCluster{maxCPU: 8}
	if status, body := f.call(t, "PUT", "/api/v1/jobs/nightly", "application/yaml", workflowJob); status != 201 {
		t.Fatalf("apply a workflow: %d %s", status, body)
	}
	before := f.snapshot(t)
	for _, tt := range []struct{ body, field, msg string }{
		{strings.Replace(workflowJob, `cpu: "4"`, `cpu: "64"`, 1), "steps[1].cpu", "the largest node has cpu 8"},
		{strings.Replace(workflowJob, "needs: [extract]", "needs: [extrct]", 1), "steps[1].needs[0]", `did you mean \"extract\"?`},
		{strings.Replace(workflowJob, "{{ .Steps.extract.Result.path }}", "{{ .Steps.train.Result.path }}", 1), "steps[1].command[2]", "its own result"},
		{goodJob + "after: [{job: nightly-load}]\n", "after[0].job", `no job \"nightly-load\"`},
	} {
		status, body := f.call(t, "PUT", "/api/v1/jobs/nightly", "application/yaml", tt.body)
		if status != 400 || !strings.Contains(string(body), `"field":"`+tt.field+`"`) || !strings.Contains(string(body), tt.msg) {
			t.Errorf("apply: %d %s; want 400 naming %s with %q", status, body, tt.field, tt.msg)
		}
	}
	if diff := cmp.Diff(before, f.snapshot(t)); diff != "" {
		t.Errorf("refused applies changed the store (-before +after):\n%s", diff)
	}
}

// TestRetryRequests checks the bad inputs of POST /runs/{id}/retry and of a step's
// result: each refused naming what is wrong, nothing made.
func TestRetryRequests(t *testing.T) {
	t.Parallel()
	f := setup(t)
	if status, body := f.call(t, "PUT", "/api/v1/jobs/nightly", "application/yaml", workflowJob); status != 201 {
		t.Fatalf("apply: %d %s", status, body)
	}
	_, body := f.call(t, "POST", "/api/v1/jobs/nightly/runs", "", "")
	var wf struct{ ID string }
	json.Unmarshal(body, &wf)
	before := f.snapshot(t)
	for _, tt := range []struct {
		path, body string
		status     int
		msg        string
	}{
		{"/api/v1/runs/" + wf.ID + "/retry", "", 409, `"message":"run ` + wf.ID + ` is queued; resume it once it has ended`},
		{"/api/v1/runs/" + wf.ID + "/retry", `{"form": "train"}`, 400, "form"},
		{"/api/v1/runs/" + wf.ID + "/retry", `{"from": "Train!"}`, 400, `"field":"from"`},
		{"/api/v1/runs/" + wf.ID + "/retry", `{"from": "` + strings.Repeat("a", 64) + `"}`, 400, `"field":"from"`},
		{"/api/v1/runs/01900000-0000-7000-8000-000000000000/retry", "", 404, "not found"},
	} {
		status, body := f.call(t, "POST", tt.path, "application/json", tt.body)
		if status != tt.status || !strings.Contains(string(body), tt.msg) {
			t.Errorf("POST %s %s: %d %s; want %d with %q", tt.path, tt.body, status, body, tt.status, tt.msg)
		}
	}
	if status, body := f.call(t, "GET", "/api/v1/runs/"+wf.ID+"/steps/extract/result", "", ""); status != 404 || !strings.Contains(string(body), "no_result") {
		t.Errorf("the result of a step that has not run: %d %s", status, body)
	}
	if status, body := f.call(t, "GET", "/api/v1/runs/"+wf.ID+"/steps/Bad_Step/result", "", ""); status != 400 || !strings.Contains(string(body), `"field":"step"`) {
		t.Errorf("a bad step name: %d %s", status, body)
	}
	if diff := cmp.Diff(before, f.snapshot(t)); diff != "" {
		t.Errorf("refused retries changed the store (-before +after):\n%s", diff)
	}
}

// listCounter is a store that counts the reads of every definition.
type listCounter struct {
	store.Store
	lists atomic.Int32
}

func (s *listCounter) DefinitionList(ctx context.Context) ([]job.Definition, error) {
	s.lists.Add(1)
	return s.Store.DefinitionList(ctx)
}

// TestTriggersReadUpstream: an apply with after reads the jobs upstream of it, not every
// job, and still finds a cycle through them; only a missing job reads them all, for its
// suggestion.
func TestTriggersReadUpstream(t *testing.T) {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "docket.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	counter := &listCounter{Store: st}
	f := setupWith(t, counter)
	apply := func(name, after string) (int, string) {
		body := strings.Replace(goodJob, "name: nightly", "name: "+name, 1)
		if after != "" {
			body += "after: [{job: " + after + "}]\n"
		}
		status, out := f.call(t, "PUT", "/api/v1/jobs/"+name, "application/yaml", body)
		return status, string(out)
	}
	for _, j := range [][2]string{{"extract", ""}, {"load", "extract"}, {"report", "load"}, {"unrelated", ""}} {
		if status, out := apply(j[0], j[1]); status != 201 {
			t.Fatalf("apply %s: %d %s", j[0], status, out)
		}
	}
	if status, out := apply("extract", "report"); status != 400 || !strings.Contains(out, `extract -\u003e load -\u003e report -\u003e extract`) {
		t.Errorf("a cycle: %d %s", status, out)
	}
	if n := counter.lists.Load(); n != 0 {
		t.Errorf("applies with after read every job %d times", n)
	}
	if status, out := apply("publish", "reprot"); status != 400 || !strings.Contains(out, `did you mean \"report\"?`) {
		t.Errorf("a missing job: %d %s", status, out)
	}
}
