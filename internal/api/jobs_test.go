package api

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"docket.dev/docket/internal/client"
	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
)

// TestListJobsPages lists jobs a page at a time, filtered by name, each with its newest
// runs: what the web UI's jobs page asks for in one request.
func TestListJobsPages(t *testing.T) {
	t.Parallel()
	f := setup(t)
	for _, name := range []string{"etl-load", "etl-clean", "ml-train", "report", "etl-export"} {
		if status, body := f.call(t, "PUT", "/api/v1/jobs/"+name, "application/yaml", strings.Replace(goodJob, "nightly", name, 1)); status != 201 {
			t.Fatalf("PUT %s: %d %s", name, status, body)
		}
	}
	var loads []string
	for i := range 4 {
		f.now = f.now.Add(time.Second)
		run := job.Run{ID: job.NewRunID(f.now), Job: "etl-load", Revision: 1, State: job.StateFailed, Trigger: job.TriggerSchedule,
			Attempt: 1, NotBefore: f.now, CreatedAt: f.now, Reason: "ExitCode"}
		if i == 3 {
			run.State, run.Reason = job.StateRunning, ""
		}
		if _, _, err := f.store.RunCreate(context.Background(), run, job.Event{RunID: run.ID, Time: f.now, State: run.State}); err != nil {
			t.Fatal(err)
		}
		loads = append([]string{run.ID}, loads...)
	}
	type page struct {
		Jobs []struct {
			Name       string       `json:"name"`
			LastRun    *job.Run     `json:"last_run"`
			RecentRuns []runSummary `json:"recent_runs"`
		} `json:"jobs"`
		Next string `json:"next_cursor"`
	}
	get := func(query string) page {
		t.Helper()
		status, body := f.call(t, "GET", "/api/v1/jobs"+query, "", "")
		var p page
		if status != 200 || json.Unmarshal(body, &p) != nil {
			t.Fatalf("GET /api/v1/jobs%s: %d %s", query, status, body)
		}
		return p
	}
	names := func(p page) []string {
		var out []string
		for _, j := range p.Jobs {
			out = append(out, j.Name)
		}
		return out
	}

	all := get("")
	if diff := cmp.Diff([]string{"etl-clean", "etl-export", "etl-load", "ml-train", "report"}, names(all)); diff != "" || all.Next != "" {
		t.Errorf("all jobs, next %q (-want +got):\n%s", all.Next, diff)
	}
	if last := all.Jobs[2].LastRun; last == nil || last.ID != loads[0] || all.Jobs[2].RecentRuns != nil {
		t.Errorf("etl-load's last run %+v, recent %v; want %s and no recent runs unless asked", last, all.Jobs[2].RecentRuns, loads[0])
	}

	var got [][]string
	for cursor, i := "", 0; i < 5; i++ {
		p := get("?limit=2&name=ETL&recent=3&cursor=" + cursor)
		got = append(got, names(p))
		for _, j := range p.Jobs {
			if j.Name != "etl-load" {
				if j.RecentRuns != nil || j.LastRun != nil {
					t.Errorf("%s has runs: %+v", j.Name, j)
				}
				continue
			}
			var ids []string
			for _, r := range j.RecentRuns {
				ids = append(ids, r.ID)
			}
			if diff := cmp.Diff(loads[:3], ids); diff != "" || j.RecentRuns[0].State != job.StateRunning || j.RecentRuns[1].Reason != "ExitCode" || j.LastRun.ID != loads[0] {
				t.Errorf("etl-load's recent runs %+v (-want +got ids):\n%s", j.RecentRuns, diff)
			}
		}
		if cursor = p.Next; cursor == "" {
			break
		}
	}
	if diff := cmp.Diff([][]string{{"etl-clean", "etl-export"}, {"etl-load"}}, got); diff != "" {
		t.Errorf("pages of two etl jobs (-want +got):\n%s", diff)
	}
}

// TestListJobsBounded checks that a listing without ?limit= answers a page of
// store.MaxLimit jobs with the cursor of the next, not every job, and that the client
// pages through them all.
func TestListJobsBounded(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	jobs := store.MaxLimit + 2
	for i := range jobs {
		spec := job.Spec{Name: fmt.Sprintf("job-%04d", i), Image: "busybox", Command: []string{"true"}, CPU: "100m", Memory: "16Mi",
			Concurrency: job.ConcurrencyAllow, Deadline: job.Duration(time.Hour)}
		if _, _, err := f.store.DefinitionPut(ctx, spec, f.now); err != nil {
			t.Fatal(err)
		}
	}
	status, body := f.call(t, "GET", "/api/v1/jobs", "", "")
	var page jobList
	if status != 200 || json.Unmarshal(body, &page) != nil {
		t.Fatalf("GET /api/v1/jobs: %d %.200s", status, body)
	}
	if len(page.Jobs) != store.MaxLimit || page.NextCursor != fmt.Sprintf("job-%04d", store.MaxLimit-1) {
		t.Errorf("GET /api/v1/jobs of %d jobs: %d jobs, next_cursor %q; want %d and job-%04d", jobs, len(page.Jobs), page.NextCursor, store.MaxLimit, store.MaxLimit-1)
	}
	all, err := client.New(f.srv.URL).Jobs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != jobs || all[0].Name != "job-0000" || all[jobs-1].Name != fmt.Sprintf("job-%04d", jobs-1) {
		t.Errorf("the client listed %d jobs; want all %d, in order", len(all), jobs)
	}
}
