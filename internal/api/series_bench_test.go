package api

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"docket.dev/docket/internal/group"
	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store/postgres/pgtest"
)

// BenchmarkSeries measures GET /api/v1/jobs/{name}/series (100 runs, each with three
// reported metrics) over real HTTP, on both stores, for a job whose newest run is an array
// of 0 or 20,000 tasks: the tasks are no points, and the read does not walk them.
func BenchmarkSeries(b *testing.B) {
	for _, tasks := range []int{0, 20000} {
		b.Run(fmt.Sprintf("sqlite/tasks=%d", tasks), func(b *testing.B) { benchmarkSeries(b, setup(b), tasks) })
		b.Run(fmt.Sprintf("postgres/tasks=%d", tasks), func(b *testing.B) { benchmarkSeries(b, setupWith(b, pgtest.Open(b)), tasks) })
	}
}

func benchmarkSeries(b *testing.B, f *fixture, tasks int) {
	ctx := context.Background()
	if status, body := f.call(b, "PUT", "/api/v1/jobs/nightly", "application/yaml", goodJob); status != http.StatusCreated {
		b.Fatalf("PUT: %d %s", status, body)
	}
	def, err := f.store.DefinitionGet(ctx, "nightly")
	if err != nil {
		b.Fatal(err)
	}
	for k := range 100 {
		at := f.now.Add(time.Duration(k-200) * time.Hour)
		started, finished := at.Add(time.Second), at.Add(time.Minute)
		r := job.Run{ID: job.RunIDFloor(at)[:14] + fmt.Sprintf("7000-8000-%012x", k), Job: "nightly", Revision: 1, State: job.StateRunning,
			Trigger: job.TriggerSchedule, ScheduledTime: &at, Attempt: 1, NotBefore: at, CreatedAt: at, StartedAt: &started}
		if _, _, err := f.store.RunCreate(ctx, r, r.FirstEvent()); err != nil {
			b.Fatal(err)
		}
		if _, err := f.store.ReportPut(ctx, job.Report{RunID: r.ID, Metrics: map[string]float64{"records_read": float64(k), "models_updated": 1, "loss": 0.5}, UpdatedAt: started}); err != nil {
			b.Fatal(err)
		}
		if _, err := f.store.RunTransition(ctx, job.Transition{RunID: r.ID, From: job.StateRunning, To: job.StateSucceeded, Time: finished, Reason: "Completed"}); err != nil {
			b.Fatal(err)
		}
	}
	if tasks > 0 {
		arr := job.NewRun("nightly", def.Revision, job.TriggerAPI, f.now)
		children, events := group.Expand(&arr, def.Spec, tasks, nil)
		if _, _, err := f.store.RunCreateGroup(ctx, arr, children, append([]job.Event{arr.FirstEvent()}, events...)); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		if status, body := f.call(b, "GET", "/api/v1/jobs/nightly/series?limit=100", "", ""); status != http.StatusOK || len(body) < 10000 {
			b.Fatalf("series: %d %.200s", status, body)
		}
	}
}
