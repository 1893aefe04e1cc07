package record

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store/sqlite"
)

// TestQueueFreed wakes the dispatcher when a run of a named queue ends, and not when a run
// of the default queue does.
func TestQueueFreed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "docket.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	woken := 0
	rec := New(Options{Store: st, RetryBackoff: time.Second, Now: func() time.Time { return t0 }, Queued: func() { woken++ }})
	for i, queue := range []string{"gpu", ""} {
		r := job.NewRun("j", 1, job.TriggerAPI, t0.Add(time.Duration(i)*time.Millisecond))
		r.Queue, r.State = queue, job.StateRunning
		if _, _, err := st.RunCreate(ctx, r, r.FirstEvent()); err != nil {
			t.Fatal(err)
		}
		if err := rec.Report(ctx, job.Update{RunID: r.ID, State: job.StateSucceeded, Reason: job.ReasonCompleted, Time: t0}); err != nil {
			t.Fatal(err)
		}
		if want := 1; woken != want {
			t.Errorf("after a run of queue %q ended, the dispatcher was woken %d times; want %d", queue, woken, want)
		}
	}
}
