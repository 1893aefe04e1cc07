package retention

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
	"docket.dev/docket/internal/store/sqlite"
)

var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

type history struct {
	t   *testing.T
	st  store.Store
	n   int
	ids map[string]string // label -> run id
}

func newHistory(t *testing.T) *history {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "docket.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &history{t: t, st: st, ids: map[string]string{}}
}

// add stores a run of jobName labelled label that finished at `finished` (nil: still
// running), with a line of output.
func (h *history) add(label, jobName string, finished *time.Time) {
	h.t.Helper()
	h.n++
	created := t0.Add(time.Duration(h.n) * time.Millisecond)
	r := job.Run{
		ID: job.NewRunID(created), Job: jobName, Revision: 1, State: job.StateRunning, Trigger: job.TriggerAPI,
		Attempt: 1, NotBefore: created, CreatedAt: created, FinishedAt: finished,
	}
	if finished != nil {
		r.State = job.StateSucceeded
	}
	ctx := context.Background()
	if _, _, err := h.st.RunCreate(ctx, r, job.Event{RunID: r.ID, Time: created, State: r.State, Reason: "Submitted"}); err != nil {
		h.t.Fatal(err)
	}
	if err := h.st.LogAppend(ctx, r.ID, []byte("hello\n")); err != nil {
		h.t.Fatal(err)
	}
	h.ids[label] = r.ID
}

// state says, per label, "log" (run and log kept), "run" (log gone) or "gone".
func (h *history) state() map[string]string {
	h.t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	for label, id := range h.ids {
		_, err := h.st.RunGet(ctx, id)
		switch {
		case errors.Is(err, job.ErrNotFound):
			out[label] = "gone"
			continue
		case err != nil:
			h.t.Fatal(err)
		}
		log, err := h.st.LogRead(ctx, id, 0, 100)
		if err != nil {
			h.t.Fatal(err)
		}
		out[label] = map[bool]string{true: "log", false: "run"}[len(log) > 0]
	}
	return out
}

func at(d time.Duration) *time.Time {
	t := t0.Add(d)
	return &t
}

func TestPass(t *testing.T) {
	const day = 24 * time.Hour
	h := newHistory(t)
	// Job "daily" ran for ten days; "monthly" ran twice, long ago; one run is still going.
	for i := range 10 {
		h.add("daily-"+string(rune('0'+i)), "daily", at(time.Duration(i)*day))
	}
	h.add("monthly-0", "monthly", at(0))
	h.add("monthly-1", "monthly", at(day))
	h.add("active", "daily", nil)

	now := t0.Add(10 * day)
	j := &Janitor{
		Store:  h.st,
		Policy: Policy{Runs: 5 * day, Logs: 2 * day, Keep: 2},
		Batch:  2, // several batches per pass
		Now:    func() time.Time { return now },
	}
	p, err := j.Pass(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Runs that finished before day 5 go, except monthly's two newest; logs of runs that
	// finished before day 8 go.
	want := map[string]string{
		"daily-0": "gone", "daily-1": "gone", "daily-2": "gone", "daily-3": "gone", "daily-4": "gone",
		"daily-5": "run", "daily-6": "run", "daily-7": "run", "daily-8": "log", "daily-9": "log",
		"monthly-0": "run", "monthly-1": "run", "active": "log",
	}
	if diff := cmp.Diff(want, h.state()); diff != "" {
		t.Errorf("after the first pass (-want +got):\n%s", diff)
	}
	if p.Runs != 5 || p.LogRuns != 5 {
		t.Errorf("pass reported %+v, want 5 runs deleted and 5 runs' logs swept", p)
	}
	evs, err := h.st.EventList(context.Background(), h.ids["daily-5"])
	if err != nil {
		t.Fatal(err)
	}
	last := evs[len(evs)-1]
	if last.Reason != "LogsExpired" || !strings.Contains(last.Message, "2 days after it finished") || last.State != job.StateSucceeded {
		t.Errorf("last event of a run whose log went: %+v", last)
	}

	// A day later only what aged since is looked at.
	now = now.Add(day)
	p, err = j.Pass(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want["daily-5"], want["daily-8"] = "gone", "run"
	if diff := cmp.Diff(want, h.state()); diff != "" {
		t.Errorf("after the second pass (-want +got):\n%s", diff)
	}
	if p.Runs != 1 || p.LogRuns != 1 {
		t.Errorf("second pass reported %+v, want 1 run deleted and 1 run's log swept", p)
	}
}

func TestPassKeepsForever(t *testing.T) {
	h := newHistory(t)
	h.add("old", "j", at(0))
	j := &Janitor{Store: h.st, Now: func() time.Time { return t0.Add(1000 * 24 * time.Hour) }}
	if _, err := j.Pass(context.Background()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"old": "log"}, h.state()); diff != "" {
		t.Errorf("zero policy (-want +got):\n%s", diff)
	}
}

func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		p    Policy
		want string
	}{
		{Policy{Runs: -time.Hour}, "run retention -1h0m0s is negative"},
		{Policy{Logs: -time.Hour}, "log retention -1h0m0s is negative"},
		{Policy{Keep: -1}, "runs kept per job -1 is negative"},
	} {
		if err := tt.p.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate(%+v) = %v, want %q", tt.p, err, tt.want)
		}
	}
	if err := (Policy{Runs: time.Hour, Logs: time.Minute, Keep: 3}).Validate(); err != nil {
		t.Errorf("a sound policy: %v", err)
	}
}
