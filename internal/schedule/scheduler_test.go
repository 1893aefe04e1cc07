package schedule

import (
	"context"
	"log/slog"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
	"docket.dev/docket/internal/store/sqlite"
)

// canceller records what the scheduler asked to cancel.
type canceller struct{ ids []string }

func (c *canceller) Cancel(_ context.Context, id, _ string) (job.Run, error) {
	c.ids = append(c.ids, id)
	return job.Run{}, nil
}

// clock is the scheduler's injected time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

func setupScheduler(t *testing.T, spec job.Spec, created time.Time) (*clock, store.Store, func() *Scheduler) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "docket.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, _, err := st.DefinitionPut(context.Background(), spec, created); err != nil {
		t.Fatal(err)
	}
	c := &clock{t: created}
	newScheduler := func() *Scheduler {
		return New(Options{Store: st, Canceller: &canceller{}, Logger: slog.New(slog.DiscardHandler), Interval: time.Second, Grace: 10 * time.Second, Now: c.now})
	}
	return c, st, newScheduler
}

// slotStates returns "HH:MM state reason" for every run of the job, oldest slot first.
func slotStates(t *testing.T, st store.Store) []string {
	t.Helper()
	runs, _, err := st.RunList(context.Background(), store.RunFilter{Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range runs {
		out = append(out, r.ScheduledTime.Format("15:04")+" "+string(r.State)+" "+string(r.Reason))
	}
	sort.Strings(out)
	return out
}

func TestSchedulerPasses(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 23, 9, 0, 30, 0, time.UTC)
	spec := job.Spec{Name: "j", Image: "busybox", CPU: "1", Memory: "1Gi", Schedule: "* * * * *", Timezone: "UTC",
		Concurrency: job.ConcurrencyForbid, Catchup: job.CatchupLatest}
	clk, st, newScheduler := setupScheduler(t, spec, t0)
	s := newScheduler()
	ctx := context.Background()
	pass := func(at time.Time) {
		t.Helper()
		clk.set(at)
		if err := s.Pass(ctx, store.Fence{}); err != nil {
			t.Fatal(err)
		}
	}

	pass(t0.Add(35 * time.Second)) // 09:01:05
	pass(t0.Add(40 * time.Second)) // the same slot again: nothing new
	if diff := cmp.Diff([]string{"09:01 queued Scheduled"}, slotStates(t, st)); diff != "" {
		t.Fatalf("after the first slot (-want +got):\n%s", diff)
	}

	// While that run is active, forbid skips the next slot.
	if _, err := st.RunClaim(ctx, "w", t0.Add(time.Minute), 1); err != nil {
		t.Fatal(err)
	}
	pass(t0.Add(95 * time.Second)) // 09:02:05
	runs, _, _ := st.RunList(ctx, store.RunFilter{States: []job.State{job.StateDispatched}})
	if _, err := st.RunTransition(ctx, job.Transition{RunID: runs[0].ID, From: job.StateDispatched, To: job.StateSucceeded, Time: t0.Add(100 * time.Second)}); err != nil {
		t.Fatal(err)
	}

	// Down until 09:06:00: 09:03 to 09:05 were missed, and 09:06 is on time. Latest runs the
	// most recent slot, the on-time one, so every missed slot is skipped.
	pass(time.Date(2026, 11, 23, 9, 6, 0, 0, time.UTC))
	want := []string{
		"09:01 succeeded ",
		"09:02 skipped ConcurrencyForbid",
		"09:03 skipped Missed",
		"09:04 skipped Missed",
		"09:05 skipped Missed",
		"09:06 queued Scheduled",
	}
	if diff := cmp.Diff(want, slotStates(t, st)); diff != "" {
		t.Errorf("after downtime (-want +got):\n%s", diff)
	}
}

// TestSchedulersRace runs several schedulers over one store at the same instant, as a
// restart overlapping an old process or a second replica would: each slot gets one run.
func TestSchedulersRace(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	spec := job.Spec{Name: "j", Image: "busybox", CPU: "1", Memory: "1Gi", Schedule: "@every 1s", Timezone: "UTC",
		Concurrency: job.ConcurrencyAllow, Catchup: job.CatchupAll}
	clk, st, newScheduler := setupScheduler(t, spec, t0)
	for step := 1; step <= 20; step++ {
		clk.set(t0.Add(time.Duration(step) * 700 * time.Millisecond))
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := newScheduler().Pass(context.Background(), store.Fence{}); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
	}
	got := slotStates(t, st)
	if len(got) != 14 { // slots 09:00:01 .. 09:00:14
		t.Errorf("%d runs for 14 slots: %v", len(got), got)
	}
	runs, _, _ := st.RunList(context.Background(), store.RunFilter{Limit: store.MaxLimit})
	seen := map[time.Time]bool{}
	for _, r := range runs {
		if seen[*r.ScheduledTime] {
			t.Errorf("slot %v has two runs", r.ScheduledTime)
		}
		seen[*r.ScheduledTime] = true
	}
}
