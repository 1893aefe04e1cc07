package record

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
	"docket.dev/docket/internal/store/sqlite"
)

var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

func setup(t *testing.T, retries int) (*Recorder, store.Store) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "docket.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	spec := job.Spec{Name: "j", Image: "busybox", CPU: "1", Memory: "1Gi", Timezone: "UTC", Retries: retries}
	if _, _, err := st.DefinitionPut(context.Background(), spec, t0); err != nil {
		t.Fatal(err)
	}
	return New(Options{Store: st, RetryBackoff: 10 * time.Second, Now: func() time.Time { return t0 }}), st
}

// running stores a run and moves it to running.
func running(t *testing.T, st store.Store, attempt int) job.Run {
	t.Helper()
	ctx := context.Background()
	r := job.Run{ID: job.NewRunID(t0), Job: "j", Revision: 1, State: job.StateQueued, Trigger: job.TriggerAPI, Attempt: attempt, NotBefore: t0, CreatedAt: t0}
	if _, _, err := st.RunCreate(ctx, r, job.Event{RunID: r.ID, Time: t0, State: r.State}); err != nil {
		t.Fatal(err)
	}
	for _, step := range [][2]job.State{{job.StateQueued, job.StateDispatched}, {job.StateDispatched, job.StatePending}, {job.StatePending, job.StateRunning}} {
		if _, err := st.RunTransition(ctx, job.Transition{RunID: r.ID, From: step[0], To: step[1], Time: t0}); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func retries(t *testing.T, st store.Store) []job.Run {
	t.Helper()
	runs, _, err := st.RunList(context.Background(), store.RunFilter{States: []job.State{job.StateQueued}})
	if err != nil {
		t.Fatal(err)
	}
	return runs
}

func TestFailureRetries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		retries   int
		attempt   int
		reason    job.Reason
		wantRetry bool
		wantWait  time.Duration
	}{
		{"first failure with retries left", 2, 1, "ExitCode", true, 10 * time.Second},
		{"second failure waits twice as long", 2, 2, "ExitCode", true, 20 * time.Second},
		{"no attempts left", 2, 3, "ExitCode", false, 0},
		{"no retries configured", 0, 1, "ExitCode", false, 0},
		{"a missing command is not retried", 2, 1, "CommandNotFound", false, 0},
		{"an interrupted run is retried", 1, 1, "Interrupted", true, 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec, st := setup(t, tt.retries)
			r := running(t, st, tt.attempt)
			code := 3
			u := job.Update{RunID: r.ID, State: job.StateFailed, Reason: tt.reason, Message: "m", ExitCode: &code}
			for range 2 { // a repeated report changes nothing
				if err := rec.Report(context.Background(), u); err != nil {
					t.Fatal(err)
				}
			}
			got := retries(t, st)
			if !tt.wantRetry {
				if len(got) != 0 {
					t.Errorf("retried: %+v", got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("%d retries queued, want 1", len(got))
			}
			next := got[0]
			if next.RetryOf != r.ID || next.Attempt != tt.attempt+1 || next.Trigger != job.TriggerRetry || !next.NotBefore.Equal(t0.Add(tt.wantWait)) {
				t.Errorf("retry %+v; want attempt %d after %v", next, tt.attempt+1, tt.wantWait)
			}
		})
	}
}

func TestReportAfterTheEnd(t *testing.T) {
	t.Parallel()
	rec, st := setup(t, 0)
	ctx := context.Background()
	r := running(t, st, 1)
	if err := rec.Report(ctx, job.Update{RunID: r.ID, State: job.StateCancelled, Reason: "Cancelled"}); err != nil {
		t.Fatal(err)
	}
	if err := rec.Report(ctx, job.Update{RunID: r.ID, State: job.StateRunning, Reason: "Started"}); !errors.Is(err, job.ErrConflict) {
		t.Errorf("running after cancelled: err %v, want ErrConflict", err)
	}
	if err := rec.Report(ctx, job.Update{RunID: r.ID, State: job.StateFailed, Reason: "ExitCode"}); err != nil {
		t.Errorf("a late terminal report must be ignored, got %v", err)
	}
	if got, _ := st.RunGet(ctx, r.ID); got.State != job.StateCancelled {
		t.Errorf("state %s, want cancelled", got.State)
	}
	if err := rec.Report(ctx, job.Update{RunID: r.ID, Reason: "Note", Message: "a notice"}); err != nil {
		t.Fatal(err)
	}
	evs, _ := st.EventList(ctx, r.ID)
	if last := evs[len(evs)-1]; last.Reason != "Note" || last.State != job.StateCancelled {
		t.Errorf("notice event %+v", last)
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		attempt int
		want    time.Duration
	}{{1, 10 * time.Second}, {2, 20 * time.Second}, {3, 40 * time.Second}, {6, 320 * time.Second}, {7, MaxRetryBackoff}, {50, MaxRetryBackoff}} {
		if got := Backoff(10*time.Second, tt.attempt); got != tt.want {
			t.Errorf("Backoff(10s, %d) = %v, want %v", tt.attempt, got, tt.want)
		}
	}
}

// TestRetryRules: a run's retry rules (its submission's over its definition's) decide
// whether a failure is retried.
func TestRetryRules(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		rules     []job.RetryRule
		code      int
		reason    job.Reason
		wantRetry bool
	}{
		{"no rule matches: retried", []job.RetryRule{{ExitCode: "9*", Action: job.RetryActionExit}}, 3, job.ReasonExitCode, true},
		{"an exit rule matches", []job.RetryRule{{ExitCode: "3", Action: job.RetryActionExit}}, 3, job.ReasonExitCode, false},
		{"a deadline is not retried", []job.RetryRule{{Reason: "DeadlineExceeded", Action: job.RetryActionExit}}, -1, job.ReasonDeadlineExceeded, false},
		{"the first match decides", []job.RetryRule{{Reason: "Exit*", Action: job.RetryActionRetry}, {ExitCode: "3", Action: job.RetryActionExit}}, 3, job.ReasonExitCode, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec, st := setup(t, 2)
			ctx := context.Background()
			r := job.Run{ID: job.NewRunID(t0), Job: "j", Revision: 1, State: job.StateQueued, Trigger: job.TriggerAPI, Attempt: 1, NotBefore: t0, CreatedAt: t0,
				Overrides: &job.Overrides{RetryOn: tc.rules}}
			if _, _, err := st.RunCreate(ctx, r, job.Event{RunID: r.ID, Time: t0, State: r.State}); err != nil {
				t.Fatal(err)
			}
			if _, err := st.RunTransition(ctx, job.Transition{RunID: r.ID, From: job.StateQueued, To: job.StateDispatched, Time: t0}); err != nil {
				t.Fatal(err)
			}
			code := tc.code
			if err := rec.Report(ctx, job.Update{RunID: r.ID, State: job.StateFailed, Reason: tc.reason, Message: "m", ExitCode: &code}); err != nil {
				t.Fatal(err)
			}
			if got := len(retries(t, st)) == 1; got != tc.wantRetry {
				t.Errorf("retried %v; want %v", got, tc.wantRetry)
			}
		})
	}
}

// TestStartWithEnd: a start reported with the end that followed it is recorded as both
// changes, in order, each told to Transitioned; a failure's retry is still queued.
func TestStartWithEnd(t *testing.T) {
	t.Parallel()
	for _, end := range []job.State{job.StateSucceeded, job.StateFailed} {
		t.Run(string(end), func(t *testing.T) {
			t.Parallel()
			rec, st := setup(t, 1)
			var told []job.State
			rec.opts.Transitioned = func(r job.Run, _ *job.Run) { told = append(told, r.State) }
			ctx := context.Background()
			r := job.Run{ID: job.NewRunID(t0.Add(time.Second)), Job: "j", Revision: 1, State: job.StateQueued, Trigger: job.TriggerAPI, Attempt: 1, NotBefore: t0, CreatedAt: t0}
			if _, _, err := st.RunCreate(ctx, r, job.Event{RunID: r.ID, Time: t0, State: r.State}); err != nil {
				t.Fatal(err)
			}
			for _, step := range [][2]job.State{{job.StateQueued, job.StateDispatched}, {job.StateDispatched, job.StatePending}} {
				if _, err := st.RunTransition(ctx, job.Transition{RunID: r.ID, From: step[0], To: step[1], Time: t0}); err != nil {
					t.Fatal(err)
				}
			}
			code := map[job.State]int{job.StateSucceeded: 0, job.StateFailed: 3}[end]
			started := t0.Add(time.Second)
			u := job.Update{RunID: r.ID, State: end, Time: t0.Add(2 * time.Second), Reason: "End", ExitCode: &code,
				Start: &job.Update{RunID: r.ID, State: job.StateRunning, Time: started, Reason: job.ReasonStarted, Message: "pid 1"}}
			if err := rec.Report(ctx, u); err != nil {
				t.Fatal(err)
			}
			got, err := st.RunGet(ctx, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.State != end || got.StartedAt == nil || !got.StartedAt.Equal(started) {
				t.Errorf("run %s started %v; want %s started %v", got.State, got.StartedAt, end, started)
			}
			evs, err := st.EventList(ctx, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			if n := len(evs); n < 2 || evs[n-2].State != job.StateRunning || evs[n-2].Reason != job.ReasonStarted || evs[n-1].State != end {
				t.Errorf("events %+v; want the start then the end", evs)
			}
			if len(told) != 2 || told[0] != job.StateRunning || told[1] != end {
				t.Errorf("Transitioned was told %v; want running then %s", told, end)
			}
			if wantRetry := end == job.StateFailed; (len(retries(t, st)) == 1) != wantRetry {
				t.Errorf("queued retries %d; want a retry %v", len(retries(t, st)), wantRetry)
			}
			// Reported again, it changes nothing.
			if err := rec.Report(ctx, u); err != nil {
				t.Errorf("repeated report: %v", err)
			}
		})
	}
}
