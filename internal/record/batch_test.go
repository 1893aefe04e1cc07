package record

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
)

// gatedStore holds the first transition written on its own until gate closes, so the
// reports that come meanwhile wait for one write, and counts the batches written.
type gatedStore struct {
	store.Store
	gate    chan struct{}
	once    sync.Once
	mu      sync.Mutex
	batches []int
}

func (s *gatedStore) RunTransition(ctx context.Context, t job.Transition) (job.Run, error) {
	s.once.Do(func() { <-s.gate })
	return s.Store.RunTransition(ctx, t)
}

func (s *gatedStore) RunTransitions(ctx context.Context, ts []job.Transition) ([]job.Run, error) {
	s.mu.Lock()
	s.batches = append(s.batches, len(ts))
	s.mu.Unlock()
	return s.Store.RunTransitions(ctx, ts)
}

// reportWhileGated reports first alone, then the others while first's write waits, and
// returns each one's error, first's last.
func reportWhileGated(t *testing.T, r *Recorder, gs *gatedStore, first job.Update, others []job.Update) []error {
	t.Helper()
	ctx := context.Background()
	errs := make([]error, len(others)+1)
	var wg sync.WaitGroup
	wg.Go(func() { errs[len(others)] = r.Report(ctx, first) })
	waitQueued := func(n int) {
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
			r.batch.mu.Lock()
			queued, writing := len(r.batch.queue), r.batch.writing
			r.batch.mu.Unlock()
			if writing && queued == n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d reports wait; want %d", queued, n)
			}
		}
	}
	waitQueued(0)
	for i, u := range others {
		wg.Go(func() { errs[i] = r.Report(ctx, u) })
	}
	waitQueued(len(others))
	close(gs.gate)
	wg.Wait()
	return errs
}

// succeeded is the update that ends run with exit code 0.
func succeeded(run job.Run) job.Update {
	code := 0
	return job.Update{RunID: run.ID, State: job.StateSucceeded, Reason: job.ReasonCompleted, ExitCode: &code}
}

func TestReportsWrittenTogether(t *testing.T) {
	t.Parallel()
	_, st := setup(t, 0)
	gs := &gatedStore{Store: st, gate: make(chan struct{})}
	r := New(Options{Store: gs, Now: func() time.Time { return t0 }})
	var runs []job.Run
	for range 5 {
		runs = append(runs, running(t, st, 1))
	}
	var others []job.Update
	for _, run := range runs[1:] {
		others = append(others, succeeded(run))
	}
	for i, err := range reportWhileGated(t, r, gs, succeeded(runs[0]), others) {
		if err != nil {
			t.Errorf("report %d: %v", i, err)
		}
	}
	if len(gs.batches) != 1 || gs.batches[0] != 4 {
		t.Errorf("batches written %v; want one of 4", gs.batches)
	}
	for _, run := range runs {
		if got, _ := st.RunGet(context.Background(), run.ID); got.State != job.StateSucceeded || got.ExitCode == nil {
			t.Errorf("run %s: %+v", run.ID, got)
		}
	}
}

func TestReportsWrittenTogetherConflict(t *testing.T) {
	t.Parallel()
	_, st := setup(t, 0)
	gs := &gatedStore{Store: st, gate: make(chan struct{})}
	r := New(Options{Store: gs, Now: func() time.Time { return t0 }})
	var runs []job.Run
	for range 4 {
		runs = append(runs, running(t, st, 1))
	}
	others := []job.Update{
		succeeded(runs[1]),
		// runs[2] is running, not pending: this one conflicts, and the batch is written
		// one by one.
		{RunID: runs[2].ID, From: job.StatePending, State: job.StateRunning, Reason: job.ReasonStarted},
		succeeded(runs[3]),
	}
	errs := reportWhileGated(t, r, gs, succeeded(runs[0]), others)
	if errs[0] != nil || errs[2] != nil || errs[3] != nil || !errors.Is(errs[1], job.ErrConflict) {
		t.Errorf("errors %v; want only the second a conflict", errs)
	}
	if len(gs.batches) != 1 || gs.batches[0] != 3 {
		t.Errorf("batches tried %v; want one of 3", gs.batches)
	}
	for _, i := range []int{0, 1, 3} {
		if got, _ := st.RunGet(context.Background(), runs[i].ID); got.State != job.StateSucceeded {
			t.Errorf("run %d: %+v", i, got)
		}
	}
	if got, _ := st.RunGet(context.Background(), runs[2].ID); got.State != job.StateRunning {
		t.Errorf("the conflicting run: %+v", got)
	}
}

// TestBusyReportsWait: a report that comes soon after another waits for those coming
// beside it, and they are written together; a report on a quiet recorder is written at
// once, alone.
func TestBusyReportsWait(t *testing.T) {
	t.Parallel()
	_, st := setup(t, 0)
	gs := &gatedStore{Store: st, gate: make(chan struct{})}
	close(gs.gate)
	r := New(Options{Store: gs, Now: func() time.Time { return t0 }})
	r.batch.busyGap, r.batch.linger = time.Minute, 500*time.Millisecond
	var runs []job.Run
	for range 3 {
		runs = append(runs, running(t, st, 1))
	}
	ctx := context.Background()
	if err := r.Report(ctx, succeeded(runs[0])); err != nil {
		t.Fatal(err)
	}
	if len(gs.batches) != 0 {
		t.Fatalf("the first report, on a quiet recorder, was written in batches %v; want alone", gs.batches)
	}
	var wg sync.WaitGroup
	for _, run := range runs[1:] {
		wg.Go(func() {
			if err := r.Report(ctx, succeeded(run)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if len(gs.batches) != 1 || gs.batches[0] != 2 {
		t.Errorf("batches written %v; want one of 2", gs.batches)
	}
	for _, run := range runs {
		if got, _ := st.RunGet(ctx, run.ID); got.State != job.StateSucceeded {
			t.Errorf("run %s: %+v", run.ID, got)
		}
	}
}
