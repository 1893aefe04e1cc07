package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"docket.dev/docket/internal/client"
	"docket.dev/docket/internal/job"
)

// TestApplyLine: what docket apply says of a job: its next run, the jobs whose runs start
// it, or that it runs on demand.
func TestApplyLine(t *testing.T) {
	t.Parallel()
	changed := true
	at := time.Date(2026, 12, 2, 2, 30, 0, 0, time.UTC)
	tests := []struct {
		j    client.Job
		want string
	}{
		{client.Job{Definition: job.Definition{Spec: job.Spec{Name: "a", Schedule: "30 2 * * *"}, Revision: 1}, NextRuns: []time.Time{at}, Changed: &changed},
			"job a created (revision 1), next run 2026-12-02T02:30:00Z"},
		{client.Job{Definition: job.Definition{Spec: job.Spec{Name: "b", After: []job.After{{Job: "load"}, {Job: "clean", On: job.OnFailed}, {Job: "sync", On: job.OnFinished}}}, Revision: 2}, Changed: &changed},
			"job b updated (revision 2), runs after load succeeds and clean fails and sync ends"},
		{client.Job{Definition: job.Definition{Spec: job.Spec{Name: "c"}, Revision: 3}},
			"job c unchanged (revision 3), runs on demand"},
	}
	for _, tt := range tests {
		if got := applyLine(tt.j); got != tt.want {
			t.Errorf("applyLine = %q; want %q", got, tt.want)
		}
	}
}

func TestScheduleText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		spec      job.Spec
		suspended bool
		want      string
	}{
		{job.Spec{Schedule: "@daily"}, false, "@daily"},
		{job.Spec{Schedule: "@daily"}, true, "@daily (suspended)"},
		{job.Spec{After: []job.After{{Job: "load"}, {Job: "clean", On: job.OnFailed}}}, false, "after load, clean"},
		{job.Spec{After: []job.After{{Job: "load"}}}, true, "after load (suspended)"},
		{job.Spec{}, false, "on demand"},
	}
	for _, tt := range tests {
		j := client.Job{Definition: job.Definition{Spec: tt.spec, Suspended: tt.suspended}}
		if got := scheduleText(j); got != tt.want {
			t.Errorf("scheduleText(%+v, suspended %v) = %q; want %q", tt.spec, tt.suspended, got, tt.want)
		}
	}
}

// TestDescribeJobCommand: docket describe job prints the command as a shell would read it
// back, each argument that holds a space or a quote quoted, as the dry run does.
func TestDescribeJobCommand(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/jobs/nightly" {
			http.NotFound(w, r)
			return
		}
		json.NewEncoder(w).Encode(client.Job{Definition: job.Definition{Spec: job.Spec{
			Name: "nightly", Command: []string{"sh", "-c", "echo it's loading; date"}, Timezone: "UTC"}, Revision: 1}})
	}))
	defer srv.Close()
	var out bytes.Buffer
	e := &env{stdout: &out, server: srv.URL}
	cmd := &cobra.Command{}
	cmd.SetContext(context.Background())
	if err := describeJob(e, cmd, "nightly"); err != nil {
		t.Fatal(err)
	}
	if want := `Command:    sh -c 'echo it'\''s loading; date'`; !strings.Contains(out.String(), want+"\n") {
		t.Errorf("docket describe job:\n%s\nwant the line %q", out.String(), want)
	}
}

// TestNounUsage: docket delete wants the word job and a name; given a name alone it says
// the command that would delete that job, and deletes nothing. Queues, which have
// commands of their own, are pointed to them by get, describe and delete.
func TestNounUsage(t *testing.T) {
	t.Parallel()
	for args, want := range map[string]string{
		"delete slow":               "to delete job slow: docket delete job slow",
		"delete":                    "use: docket delete job NAME",
		"delete run x":              `cannot delete a "run"; use: docket delete job NAME`,
		"delete queue gpu":          "to delete queue gpu: docket queues delete gpu",
		"delete job slow one":       "use: docket delete job NAME",
		"get queue gpu":             "queues are listed with their limits by docket queues (-o json for every field)",
		"get queues":                "queues are listed with their limits by docket queues (-o json for every field)",
		"describe queue gpu":        "queues are listed with their limits, and what runs and waits in each, by docket queues",
		"describe run":              "use: docket describe run ID, or docket describe job NAME",
		"apply -f a.yaml -f b.yaml": "-f takes one file, given 2: apply them in turn, or as one (documents between --- lines)",
	} {
		wantUsage(t, append(strings.Fields(args), "--server", noServer), want)
	}
}

// TestRunNotFoundHint: a run looked up by what is no run id, a job's name most likely, is
// told how to list that job's runs; a run id not found is said plainly.
func TestRunNotFoundHint(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := strings.Split(strings.TrimPrefix(r.URL.Path, "/api/v1/runs/"), "/")[0]
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": "not_found", "message": fmt.Sprintf("run %q not found", id)}})
	}))
	defer srv.Close()
	for id, want := range map[string]string{
		"score":                                `run "score" not found; a run id looks like 019ab2c4-5d6e-7f80-9a1b-2c3d4e5f6a7b: docket runs --job score lists the runs of a job of that name`,
		"01a23279-09fe-73a0-b767-6d943ddf5fa9": `run "01a23279-09fe-73a0-b767-6d943ddf5fa9" not found`,
		"01a23279-09fe":                        `run "01a23279-09fe" not found; a run id is 36 characters, like 019ab2c4-5d6e-7f80-9a1b-2c3d4e5f6a7b: copy the whole of it (docket runs lists them)`,
	} {
		var out, errOut bytes.Buffer
		if err := Run(context.Background(), []string{"describe", "run", id, "--server", srv.URL}, strings.NewReader(""), &out, &errOut); err == nil || errOut.String() != "docket: "+want+"\n" {
			t.Errorf("describe run %s: %v\n%s\nwant %q", id, err, errOut.String(), want)
		}
	}
}

// TestDescribeOneArgument: describe given one argument describes the run of that id, or
// else the job of that name.
func TestDescribeOneArgument(t *testing.T) {
	t.Parallel()
	var asked []string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked = append(asked, r.URL.Path)
		mu.Unlock()
		http.NotFound(w, r)
	}))
	defer srv.Close()
	for _, arg := range []string{"nightly", "01a23279-09fe-73a0-b767-6d943ddf5fa9"} {
		var out, errOut bytes.Buffer
		Run(context.Background(), []string{"describe", arg, "--server", srv.URL}, strings.NewReader(""), &out, &errOut)
	}
	if want := []string{"/api/v1/jobs/nightly", "/api/v1/runs/01a23279-09fe-73a0-b767-6d943ddf5fa9"}; !slices.Equal(asked, want) {
		t.Errorf("asked for %v; want %v", asked, want)
	}
}

// TestDescribeJobShapes: describe job shows a workflow's steps (needs, always, commands),
// an array's limits and what a job runs after, in place of a command or schedule it has
// not.
func TestDescribeJobShapes(t *testing.T) {
	t.Parallel()
	two := 2
	specs := map[string]job.Spec{
		"pipeline": {Name: "pipeline", Image: "busybox", CPU: "1", Memory: "1Gi", Timezone: "UTC",
			After: []job.After{{Job: "load"}, {Job: "clean", On: job.OnFinished}},
			Steps: []job.Step{{Name: "extract", Command: []string{"sh", "-c", "echo a; echo b"}}, {Name: "train", Needs: []string{"extract"}},
				{Name: "notify", Needs: []string{"train"}, When: job.WhenAlways}}},
		"shards": {Name: "shards", Image: "busybox", CPU: "1", Memory: "1Gi", Timezone: "UTC", Parallelism: 4, MaxFailed: &two,
			After: []job.After{{Job: "pipeline"}}},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(client.Job{Definition: job.Definition{Revision: 3, Spec: specs[strings.TrimPrefix(r.URL.Path, "/api/v1/jobs/")]}})
	}))
	defer srv.Close()
	var out bytes.Buffer
	e := &env{stdout: &out, server: srv.URL}
	cmd := &cobra.Command{}
	cmd.SetContext(context.Background())
	for name := range specs {
		if err := describeJob(e, cmd, name); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{
		"Step:        extract: sh -c 'echo a; echo b'\n",
		"Step:        train (needs extract)\n",
		"Step:        notify (needs train) (always)\n",
		"Runs after:  load succeeds and clean ends\n",
		"Array:       tasks set by each run, at most 4 running at once, at most 2 failed before the rest are cancelled\n",
		"Runs after:  pipeline succeeds\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("docket describe job:\n%s\nwant the line %q", out.String(), want)
		}
	}
	for _, absent := range []string{"Command:", "Schedule:"} {
		if strings.Contains(out.String(), absent) {
			t.Errorf("docket describe job:\n%s\nwant no %s line", out.String(), absent)
		}
	}
}

// TestRunsParentNotFound: the runs under a run, or of a job, that is not there are an
// error, not an empty list.
func TestRunsParentNotFound(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/api/v1/runs" {
			fmt.Fprint(w, `{"runs": []}`)
			return
		}
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"error": {"code": "not_found", "message": "run \"01a23279-09fe-73a0-b767-6d943ddf5fa9\" not found"}}`)
	}))
	defer srv.Close()
	var out, errOut bytes.Buffer
	err := Run(context.Background(), []string{"runs", "--parent", "01a23279-09fe-73a0-b767-6d943ddf5fa9", "--server", srv.URL}, strings.NewReader(""), &out, &errOut)
	if err == nil || out.String() != "" || !strings.Contains(errOut.String(), "not found") {
		t.Errorf("runs --parent of no run: %v\n%s%s", err, out.String(), errOut.String())
	}
	// Of a job that is not there, the same (the fake server knows no job).
	out.Reset()
	err = Run(context.Background(), []string{"runs", "--job", "sleepr", "--server", srv.URL}, strings.NewReader(""), &out, &errOut)
	if want := `no job "sleepr" has runs, and there is no such job (docket jobs lists them)`; err == nil || err.Error() != want || out.String() != "" {
		t.Errorf("runs --job of no job: %v\n%s; want %q", err, out.String(), want)
	}
}

// TestDescribeErrorKeepsContext: an API error wrapped with what the CLI was doing keeps
// that text; the hint for a run not found goes with the bare error only.
func TestDescribeErrorKeepsContext(t *testing.T) {
	t.Parallel()
	wrapped := fmt.Errorf("upload data/a.csv: %w", &client.Error{Status: http.StatusNotFound, Code: "not_found", Message: `run "x" not found`})
	if got, want := describeError(wrapped), `upload data/a.csv: run "x" not found`; got != want {
		t.Errorf("describeError = %q; want %q", got, want)
	}
}
