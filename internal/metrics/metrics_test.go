package metrics

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
	"docket.dev/docket/internal/store/sqlite"
)

var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

func at(d time.Duration) *time.Time {
	t := t0.Add(d)
	return &t
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewPedanticRegistry()
	m := New(reg)
	code := 0
	// A scheduled run starts 2.5s after its slot and succeeds 90s later; its retry-free
	// sibling fails; a second attempt's start does not count as schedule lag.
	m.Transitioned(job.Run{Job: "nightly", State: job.StateRunning, Attempt: 1, ScheduledTime: at(0), StartedAt: at(2500 * time.Millisecond)})
	m.Transitioned(job.Run{Job: "nightly", State: job.StateSucceeded, Reason: "Completed", StartedAt: at(2500 * time.Millisecond), FinishedAt: at(92500 * time.Millisecond), ExitCode: &code})
	m.Transitioned(job.Run{Job: "nightly", State: job.StateRunning, Attempt: 2, ScheduledTime: at(0), StartedAt: at(time.Hour)})
	m.Transitioned(job.Run{Job: "report", State: job.StateFailed, Reason: "DeadlineExceeded", StartedAt: at(0), FinishedAt: at(time.Hour)})
	m.Transitioned(job.Run{Job: "report", State: job.StateCancelled, Reason: "Cancelled", FinishedAt: at(0)}) // never started
	m.SlotsRecorded([]job.Run{
		{Job: "nightly", State: job.StateQueued},
		{Job: "nightly", State: job.StateSkipped, Reason: "Missed"},
		{Job: "nightly", State: job.StateSkipped, Reason: "Missed"},
		{Job: "report", State: job.StateSkipped, Reason: "ConcurrencyForbid"},
	})
	m.DispatchFailed("NotStarted")

	want := `
# HELP docket_runs_finished_total Runs that ended, by job, final state (succeeded, failed, cancelled) and reason.
# TYPE docket_runs_finished_total counter
docket_runs_finished_total{job="nightly",reason="Completed",state="succeeded"} 1
docket_runs_finished_total{job="report",reason="Cancelled",state="cancelled"} 1
docket_runs_finished_total{job="report",reason="DeadlineExceeded",state="failed"} 1
# HELP docket_slots_skipped_total Schedule slots recorded as skipped instead of run, by job and reason (Missed, Suspended, ConcurrencyForbid, Replaced).
# TYPE docket_slots_skipped_total counter
docket_slots_skipped_total{job="nightly",reason="Missed"} 2
docket_slots_skipped_total{job="report",reason="ConcurrencyForbid"} 1
# HELP docket_dispatch_errors_total Claimed runs the dispatcher could not start, by reason (StartFailed: failed at once; NotStarted: back in the queue).
# TYPE docket_dispatch_errors_total counter
docket_dispatch_errors_total{reason="NotStarted"} 1
docket_dispatch_errors_total{reason="StartFailed"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"docket_runs_finished_total", "docket_slots_skipped_total", "docket_dispatch_errors_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(m.scheduleLag); n != 1 {
		t.Errorf("schedule lag series: %d", n)
	}
	lag := histogram(t, reg, "docket_schedule_lag_seconds", "")
	if lag.GetSampleCount() != 1 || lag.GetSampleSum() != 2.5 {
		t.Errorf("schedule lag: %d samples summing to %g; want the first attempt's 2.5s only", lag.GetSampleCount(), lag.GetSampleSum())
	}
	if d := histogram(t, reg, "docket_run_duration_seconds", "succeeded"); d.GetSampleCount() != 1 || d.GetSampleSum() != 90 {
		t.Errorf("succeeded duration: %d samples summing to %g; want one of 90s", d.GetSampleCount(), d.GetSampleSum())
	}
	if d := histogram(t, reg, "docket_run_duration_seconds", "cancelled"); d != nil {
		t.Errorf("a run that never started has a duration: %v", d)
	}
}

// histogram returns the histogram called name (with state label value state, if given),
// or nil when there is none.
func histogram(t *testing.T, reg prometheus.Gatherer, name, state string) interface {
	GetSampleCount() uint64
	GetSampleSum() float64
} {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if state == "" || len(m.GetLabel()) > 0 && m.GetLabel()[0].GetValue() == state {
				return m.GetHistogram()
			}
		}
	}
	return nil
}

func TestStoreCollector(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "docket.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, name := range []string{"nightly", "report", "fresh"} {
		if _, _, err := st.DefinitionPut(ctx, job.Spec{Name: name, Image: "x", CPU: "1", Memory: "1Gi"}, t0); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	add := func(name string, state job.State, finished *time.Time) {
		t.Helper()
		n++
		created := t0.Add(time.Duration(n) * time.Second)
		r := job.Run{ID: job.NewRunID(created), Job: name, Revision: 1, State: state, Trigger: job.TriggerAPI,
			Attempt: 1, NotBefore: created, CreatedAt: created, FinishedAt: finished}
		if _, _, err := st.RunCreate(ctx, r, job.Event{RunID: r.ID, Time: created, State: state}); err != nil {
			t.Fatal(err)
		}
	}
	add("nightly", job.StateSucceeded, at(time.Hour))
	add("nightly", job.StateFailed, at(2*time.Hour))
	add("nightly", job.StateQueued, nil)
	add("report", job.StateRunning, nil)
	add("report", job.StateQueued, nil)
	add("fresh", job.StateQueued, nil)
	running, _, err := st.RunList(ctx, store.RunFilter{Job: "report", States: []job.State{job.StateRunning}})
	if err != nil || len(running) != 1 {
		t.Fatalf("the running run: %v %v", running, err)
	}
	if _, err := st.ReportPut(ctx, job.Report{RunID: running[0].ID, Metrics: map[string]float64{"records_read": 1200, "models_updated": 3}, UpdatedAt: t0}); err != nil {
		t.Fatal(err)
	}

	c := NewStoreCollector(st, slog.New(slog.DiscardHandler), time.Second)
	want := `
# HELP docket_job_last_finish_timestamp_seconds When each job's newest finished run ended, whatever its outcome, as a Unix time.
# TYPE docket_job_last_finish_timestamp_seconds gauge
docket_job_last_finish_timestamp_seconds{job="nightly",state="failed"} 1.7954316e+09
# HELP docket_job_last_success_timestamp_seconds When each job's newest successful run finished, as a Unix time.
# TYPE docket_job_last_success_timestamp_seconds gauge
docket_job_last_success_timestamp_seconds{job="nightly"} 1.795428e+09
# HELP docket_run_reported The metrics a job's run reported last (docket report), by job and metric name.
# TYPE docket_run_reported gauge
docket_run_reported{job="report",name="models_updated"} 3
docket_run_reported{job="report",name="records_read"} 1200
# HELP docket_runs Runs not yet finished, by state: queued is the queue's depth.
# TYPE docket_runs gauge
docket_runs{state="dispatched"} 0
docket_runs{state="pending"} 0
docket_runs{state="queued"} 3
docket_runs{state="running"} 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

// manyMetrics is a store whose one report holds more metrics than a run may now report,
// as one stored before the limit could.
type manyMetrics struct{ Store }

func (manyMetrics) ReportLatest(context.Context) (map[string]job.Report, error) {
	r := job.Report{Job: "chatty", Metrics: map[string]float64{}}
	for i := range 3 * job.MaxReportMetrics {
		r.Metrics[fmt.Sprintf("m%03d", i)] = float64(i)
	}
	return map[string]job.Report{"chatty": r}, nil
}

// TestStoreCollectorReportedPerJob checks that /metrics gives a job at most
// job.MaxReportMetrics reported series, whatever its stored report holds.
func TestStoreCollectorReportedPerJob(t *testing.T) {
	t.Parallel()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "docket.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewStoreCollector(manyMetrics{st}, slog.New(slog.DiscardHandler), time.Second))
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "docket_run_reported" {
			if n := len(f.GetMetric()); n != job.MaxReportMetrics {
				t.Errorf("%d docket_run_reported series for one job; want %d", n, job.MaxReportMetrics)
			}
			return
		}
	}
	t.Error("no docket_run_reported series")
}
