package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
)

func testReports(t *testing.T, s store.Store) {
	ctx := context.Background()
	var q seq
	put(t, s, spec("rep"), t0)
	put(t, s, spec("rep2"), t0)
	r1 := create(t, s, q.run("rep", job.StateRunning))
	report := func(r job.Report) job.Report {
		t.Helper()
		got, err := s.ReportPut(ctx, r)
		if err != nil {
			t.Fatalf("ReportPut %+v: %v", r, err)
		}
		return got
	}

	// Metrics merge by name; a result or checkpoint replaces the one before; a report
	// without them keeps them.
	report(job.Report{RunID: r1.ID, Metrics: map[string]float64{"records_read": 10, "models": 1}, Checkpoint: json.RawMessage(`{"offset":10}`), UpdatedAt: t0.Add(time.Minute)})
	got := report(job.Report{RunID: r1.ID, Metrics: map[string]float64{"records_read": 25.5}, Result: json.RawMessage(`{"auc":0.91}`), UpdatedAt: t0.Add(2 * time.Minute)})
	want := job.Report{RunID: r1.ID, Metrics: map[string]float64{"records_read": 25.5, "models": 1},
		Result: json.RawMessage(`{"auc":0.91}`), Checkpoint: json.RawMessage(`{"offset":10}`), UpdatedAt: t0.Add(2 * time.Minute)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ReportPut merged (-want +got):\n%s", diff)
	}
	stored, err := s.ReportGet(ctx, r1.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, stored); diff != "" {
		t.Errorf("ReportGet (-want +got):\n%s", diff)
	}

	// A run reports at most job.MaxReportMetrics names over all its reports; a report that
	// would pass it changes nothing, and names reported before may be reported again.
	many := create(t, s, q.run("rep", job.StateRunning))
	names := map[string]float64{}
	for i := range job.MaxReportMetrics {
		names[fmt.Sprintf("m%d", i)] = float64(i)
	}
	report(job.Report{RunID: many.ID, Metrics: names, UpdatedAt: t0.Add(30 * time.Second)})
	_, err = s.ReportPut(ctx, job.Report{RunID: many.ID, Metrics: map[string]float64{"m0": 5, "one_more": 1}, Checkpoint: json.RawMessage(`{"offset":1}`), UpdatedAt: t0.Add(40 * time.Second)})
	var fe *job.FieldError
	if !errors.As(err, &fe) || fe.Field != "metrics" {
		t.Errorf("ReportPut past %d metrics: %v; want a field error on metrics", job.MaxReportMetrics, err)
	}
	if r, err := s.ReportGet(ctx, many.ID); err != nil || len(r.Metrics) != job.MaxReportMetrics || r.Metrics["m0"] != 0 || r.Checkpoint != nil {
		t.Errorf("a refused report changed the stored one: %d metrics, m0 %v, checkpoint %s, %v", len(r.Metrics), r.Metrics["m0"], r.Checkpoint, err)
	}
	if r := report(job.Report{RunID: many.ID, Metrics: map[string]float64{"m0": 5}, UpdatedAt: t0.Add(50 * time.Second)}); r.Metrics["m0"] != 5 || len(r.Metrics) != job.MaxReportMetrics {
		t.Errorf("reporting a name again at the limit: m0 %v, %d metrics", r.Metrics["m0"], len(r.Metrics))
	}

	// A run that reported nothing has an empty report; no run is not found; a finished run
	// reports no more.
	quiet := create(t, s, q.run("rep", job.StateRunning))
	if r, err := s.ReportGet(ctx, quiet.ID); err != nil || r.RunID != quiet.ID || r.Metrics != nil || r.Result != nil || !r.UpdatedAt.IsZero() {
		t.Errorf("ReportGet of a quiet run = %+v, %v", r, err)
	}
	if _, err := s.ReportGet(ctx, "no-such-run"); !errors.Is(err, job.ErrNotFound) {
		t.Errorf("ReportGet of no run: %v", err)
	}
	if _, err := s.ReportPut(ctx, job.Report{RunID: "no-such-run", UpdatedAt: t0}); !errors.Is(err, job.ErrNotFound) {
		t.Errorf("ReportPut to no run: %v", err)
	}
	done := create(t, s, q.run("rep", job.StateSucceeded))
	if _, err := s.ReportPut(ctx, job.Report{RunID: done.ID, Metrics: map[string]float64{"late": 1}, UpdatedAt: t0}); !errors.Is(err, job.ErrConflict) {
		t.Errorf("ReportPut to a finished run: %v", err)
	}

	// Each job's run that reported metrics last; a report of a result only does not count,
	// nor does a deleted job.
	r2 := create(t, s, q.run("rep2", job.StateRunning))
	report(job.Report{RunID: r2.ID, Metrics: map[string]float64{"rows": 7}, UpdatedAt: t0.Add(3 * time.Minute)})
	r3 := create(t, s, q.run("rep", job.StateRunning))
	report(job.Report{RunID: r3.ID, Metrics: map[string]float64{"records_read": 99}, UpdatedAt: t0.Add(4 * time.Minute)})
	report(job.Report{RunID: quiet.ID, Result: json.RawMessage(`"ok"`), UpdatedAt: t0.Add(5 * time.Minute)})
	latest, err := s.ReportLatest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	metricsOf := map[string]map[string]float64{}
	for name, r := range latest {
		if r.Job != name {
			t.Errorf("ReportLatest[%s] is of job %q", name, r.Job)
		}
		metricsOf[name] = r.Metrics
	}
	if diff := cmp.Diff(map[string]map[string]float64{"rep": {"records_read": 99}, "rep2": {"rows": 7}}, metricsOf); diff != "" {
		t.Errorf("ReportLatest (-want +got):\n%s", diff)
	}
	if err := s.DefinitionDelete(ctx, "rep2", t0); err != nil {
		t.Fatal(err)
	}
	if latest, err := s.ReportLatest(ctx); err != nil || len(latest) != 1 {
		t.Errorf("ReportLatest after deleting rep2: %v, %v", latest, err)
	}

	// A run's report goes with the run.
	if _, err := s.RunTransition(ctx, job.Transition{RunID: r1.ID, From: job.StateRunning, To: job.StateSucceeded, Time: t0.Add(time.Hour), Reason: job.ReasonCompleted}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RunPrune(ctx, t0.Add(1000*time.Hour), 0, 100); err != nil {
		t.Fatal(err)
	}
	again := r1
	again.State, again.FinishedAt = job.StateRunning, nil
	create(t, s, again)
	if r, err := s.ReportGet(ctx, r1.ID); err != nil || r.Metrics != nil || r.Checkpoint != nil {
		t.Errorf("a pruned run's report outlived it: %+v, %v", r, err)
	}
}

func testSettings(t *testing.T, s store.Store) {
	ctx := context.Background()
	if v, err := s.SettingInit(ctx, "run-token-key", "first"); err != nil || v != "first" {
		t.Fatalf("SettingInit first = %q, %v", v, err)
	}
	if v, err := s.SettingInit(ctx, "run-token-key", "second"); err != nil || v != "first" {
		t.Errorf("SettingInit second = %q, %v; want the first value kept", v, err)
	}
}

func testRunReclaim(t *testing.T, s store.Store) {
	ctx := context.Background()
	var q seq
	r := q.run("adopt", job.StateRunning)
	r.ClaimedBy = "server-a"
	r = create(t, s, r)
	ev := job.Event{RunID: r.ID, Time: t0.Add(time.Minute), State: job.StateRunning, Reason: job.ReasonAdopted, Message: "followed on by server-b"}
	got, err := s.RunReclaim(ctx, r.ID, "server-a", "server-b", ev)
	if err != nil || got.ClaimedBy != "server-b" || got.State != job.StateRunning {
		t.Fatalf("RunReclaim = %+v, %v", got, err)
	}
	if evs, _ := s.EventList(ctx, r.ID); len(evs) != 2 || evs[1].Reason != "Adopted" {
		t.Errorf("events after RunReclaim: %+v", evs)
	}
	// Taken already: a second server that read the old claimer takes nothing.
	if _, err := s.RunReclaim(ctx, r.ID, "server-a", "server-c", ev); !errors.Is(err, job.ErrConflict) {
		t.Errorf("RunReclaim from a claimer that no longer holds it: %v", err)
	}
	if got := mustGet(t, s, r.ID); got.ClaimedBy != "server-b" {
		t.Errorf("claimed by %q after a refused reclaim", got.ClaimedBy)
	}
	queued := create(t, s, q.run("adopt", job.StateQueued))
	if _, err := s.RunReclaim(ctx, queued.ID, "", "server-b", ev); !errors.Is(err, job.ErrConflict) {
		t.Errorf("RunReclaim of a queued run: %v", err)
	}
	if _, err := s.RunReclaim(ctx, "no-such-run", "a", "b", ev); !errors.Is(err, job.ErrNotFound) {
		t.Errorf("RunReclaim of no run: %v", err)
	}
}

func testLogSize(t *testing.T, s store.Store) {
	ctx := context.Background()
	var q seq
	r := create(t, s, q.run("sized", job.StateRunning))
	if n, err := s.LogSize(ctx, r.ID); err != nil || n != 0 {
		t.Errorf("LogSize of a run without output = %d, %v", n, err)
	}
	for _, chunk := range []string{"first line\n", "second\n", "héllo\n"} {
		if err := s.LogAppend(ctx, r.ID, []byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.LogSize(ctx, r.ID); err != nil || n != int64(len("first line\nsecond\nhéllo\n")) {
		t.Errorf("LogSize = %d, %v; want %d", n, err, len("first line\nsecond\nhéllo\n"))
	}
}
