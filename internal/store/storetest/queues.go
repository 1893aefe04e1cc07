package storetest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
)

func putQueue(t *testing.T, s store.Store, q job.Queue) job.Queue {
	t.Helper()
	got, _, err := s.QueuePut(context.Background(), q, t0)
	if err != nil {
		t.Fatalf("QueuePut %s: %v", q.Name, err)
	}
	return got
}

// queued creates a queued run of jobName in queue with its own priority.
func (q *seq) queued(t *testing.T, s store.Store, jobName, queue string, priority int) job.Run {
	t.Helper()
	r := q.run(jobName, job.StateQueued)
	r.Queue, r.Priority = queue, priority
	return create(t, s, r)
}

func testQueues(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.QueueGet(ctx, "gpu"); !errors.Is(err, job.ErrNotFound) {
		t.Fatalf("QueueGet of no queue: %v, want ErrNotFound", err)
	}
	gpu := job.Queue{Name: "gpu", MaxRunning: 4, MaxStartsPerSecond: 0.5, Priority: 10}
	got, changed, err := s.QueuePut(ctx, gpu, t0)
	if err != nil || !changed {
		t.Fatalf("QueuePut: changed %v err %v", changed, err)
	}
	gpu.CreatedAt, gpu.UpdatedAt = t0, t0
	if diff := gocmp.Diff(gpu, got); diff != "" {
		t.Errorf("stored queue (-want +got):\n%s", diff)
	}
	if _, changed, _ := s.QueuePut(ctx, gpu, t0.Add(time.Minute)); changed {
		t.Error("the same queue put again reports a change")
	}
	putQueue(t, s, job.Queue{Name: "etl", MaxRunning: 10})
	list, err := s.QueueList(ctx)
	if err != nil || len(list) != 2 || list[0].Name != "etl" || list[1].Name != "gpu" {
		t.Fatalf("QueueList = %+v, %v; want etl, gpu", list, err)
	}

	// A definition may name only a queue that exists, and keeps it from being deleted.
	sp := spec("train")
	sp.Queue = "nope"
	_, _, err = s.DefinitionPut(ctx, sp, t0)
	var fe *job.FieldError
	if !errors.As(err, &fe) || fe.Field != "queue" {
		t.Fatalf("a definition naming no queue: %v, want a field error on queue", err)
	}
	sp.Queue = ""
	sp.Steps = []job.Step{{Name: "fit", Queue: "gpu"}}
	put(t, s, sp, t0)
	err = s.QueueDelete(ctx, "gpu")
	if !errors.Is(err, job.ErrConflict) || !strings.Contains(err.Error(), "train") {
		t.Fatalf("deleting a queue a step names: %v, want a conflict naming train", err)
	}
	sp.Steps = nil
	put(t, s, sp, t0)
	// A run made while its job named the queue keeps it until the run ends.
	var q seq
	left := q.queued(t, s, "train", "gpu", 0)
	err = s.QueueDelete(ctx, "gpu")
	if !errors.Is(err, job.ErrConflict) || !strings.Contains(err.Error(), left.ID) {
		t.Fatalf("deleting a queue an unfinished run is in: %v, want a conflict naming run %s", err, left.ID)
	}
	if _, err := s.RunTransition(ctx, job.Transition{RunID: left.ID, From: job.StateQueued, To: job.StateCancelled, Time: t0, Reason: job.ReasonCancelled}); err != nil {
		t.Fatal(err)
	}
	if err := s.QueueDelete(ctx, "gpu"); err != nil {
		t.Fatalf("deleting a queue nobody names and no unfinished run is in: %v", err)
	}
	if err := s.QueueDelete(ctx, "gpu"); !errors.Is(err, job.ErrNotFound) {
		t.Errorf("deleting it again: %v, want ErrNotFound", err)
	}

	q.queued(t, s, "train", "etl", 0)
	q.queued(t, s, "train", "etl", 0)
	q.queued(t, s, "train", "", 0)
	claimIDs(t, s, "w", t0.Add(time.Minute), 1)
	stats, err := s.QueueStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]job.QueueStats{"etl": {Running: 1, Queued: 1}, "": {Queued: 1}}
	if diff := gocmp.Diff(want, stats); diff != "" {
		t.Errorf("QueueStats (-want +got):\n%s", diff)
	}
	stats, err = s.QueueStats(ctx, "etl")
	if diff := gocmp.Diff(map[string]job.QueueStats{"etl": {Running: 1, Queued: 1}}, stats); err != nil || diff != "" {
		t.Errorf("QueueStats(etl): %v (-want +got):\n%s", err, diff)
	}
}

// testQueueMaxRunning claims from six claimers at once, as replicas do: however the claims
// interleave, a queue never has more runs active than its max_running; a lower limit
// stops nothing that runs, and a higher one holds at the next claim.
func testQueueMaxRunning(t *testing.T, s store.Store) {
	ctx := context.Background()
	putQueue(t, s, job.Queue{Name: "gpu", MaxRunning: 3})
	var q seq
	for i := range 40 {
		q.queued(t, s, fmt.Sprintf("train-%d", i%4), "gpu", 0)
	}
	free := q.queued(t, s, "other", "", 0)
	claimAll := func() []job.Run {
		var (
			mu  sync.Mutex
			got []job.Run
			wg  sync.WaitGroup
		)
		for w := range 6 {
			wg.Go(func() {
				for range 5 {
					runs, err := s.RunClaim(ctx, fmt.Sprintf("w%d", w), t0.Add(time.Minute), 5)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					got = append(got, runs...)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		return got
	}
	got := claimAll()
	inGPU := slices.DeleteFunc(slices.Clone(got), func(r job.Run) bool { return r.Queue != "gpu" })
	if len(inGPU) != 3 {
		t.Fatalf("%d runs of queue gpu claimed by 6 claimers; want its max_running, 3", len(inGPU))
	}
	if !slices.ContainsFunc(got, func(r job.Run) bool { return r.ID == free.ID }) {
		t.Errorf("the default queue's run was not claimed beside the full queue")
	}

	// Lowering the limit stops nothing; the queue takes no more until it is under it.
	putQueue(t, s, job.Queue{Name: "gpu", MaxRunning: 1})
	for i, r := range inGPU {
		if n := len(claimAll()); n != 0 {
			t.Fatalf("%d runs claimed while %d of the queue's runs are active over its limit of 1", n, 3-i)
		}
		if _, err := s.RunTransition(ctx, job.Transition{RunID: r.ID, From: job.StateDispatched, To: job.StateSucceeded, Time: t0, Reason: job.ReasonCompleted}); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(claimAll()); n != 1 {
		t.Fatalf("%d runs claimed once the queue is idle; want 1", n)
	}
	putQueue(t, s, job.Queue{Name: "gpu", MaxRunning: 5})
	if n := len(claimAll()); n != 4 {
		t.Errorf("%d runs claimed once the limit is 5 with 1 active; want 4", n)
	}
	stats, err := s.QueueStats(ctx)
	if err != nil || stats["gpu"].Running != 5 || stats["gpu"].Queued != 32 {
		t.Errorf("QueueStats[gpu] = %+v, %v; want 5 running, 32 queued", stats["gpu"], err)
	}
}

// testQueuePriority claims, from six claimers at once, runs of two queues with their own
// priorities: every claim takes what comes first in the order (the queue's priority, the
// run's, age) of what the others do not hold, so what has been claimed is a head of that
// order but for at most one run passed over by each other claimer.
func testQueuePriority(t *testing.T, s store.Store) {
	ctx := context.Background()
	putQueue(t, s, job.Queue{Name: "urgent", Priority: 50})
	putQueue(t, s, job.Queue{Name: "bulk", Priority: 5})
	var (
		q   seq
		all []job.Run
	)
	for i := range 36 {
		// A named queue's claimers take turns on it, so its runs may share jobs; a claimer
		// passes over a job another is claiming for, so no two queues share one, nor do
		// the default queue's runs.
		queue, name := []string{"urgent", "bulk", ""}[i%3], fmt.Sprintf("p-%d-%d", i%3, i%5)
		if queue == "" {
			name = fmt.Sprintf("d-%d", i)
		}
		all = append(all, q.queued(t, s, name, queue, (i*37)%1001))
	}
	// A queue's new priority reorders its queued runs at once.
	putQueue(t, s, job.Queue{Name: "bulk", Priority: 80})
	rank := map[string]int{"bulk": 80, "urgent": 50}
	slices.SortStableFunc(all, func(a, b job.Run) int {
		return cmp.Or(cmp.Compare(rank[b.Queue], rank[a.Queue]), cmp.Compare(b.Priority, a.Priority), cmp.Compare(a.ID, b.ID))
	})
	pos := map[string]int{}
	for i, r := range all {
		pos[r.ID] = i
	}
	var (
		mu      sync.Mutex
		claimed = map[string]bool{}
	)
	for round := 0; len(claimed) < len(all); round++ {
		if round > 50 {
			t.Fatalf("%d of %d runs claimed after 50 rounds", len(claimed), len(all))
		}
		var wg sync.WaitGroup
		for w := range 6 {
			wg.Go(func() {
				runs, err := s.RunClaim(ctx, fmt.Sprintf("w%d", w), t0.Add(time.Minute), 1)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for _, r := range runs {
					claimed[r.ID] = true
				}
				mu.Unlock()
			})
		}
		wg.Wait()
		// A claimer passes over rows the others hold (SKIP LOCKED), and one of those may
		// have waited for its queue and found nothing left of it: so a round's claims may
		// pass over up to one run per other claimer, to be claimed in the next round.
		for i := range max(0, len(claimed)-5) {
			if !claimed[all[i].ID] {
				t.Fatalf("round %d: %d runs claimed, but not the %dth in priority order (queue %q, priority %d)",
					round, len(claimed), i+1, all[i].Queue, all[i].Priority)
			}
		}
	}
}

// testQueueRate claims from a queue with a start rate over a window of simulated time:
// the starts never pass the burst plus the rate times the time gone, however many claim.
func testQueueRate(t *testing.T, s store.Store) {
	ctx := context.Background()
	putQueue(t, s, job.Queue{Name: "api", MaxStartsPerSecond: 2})
	var q seq
	for i := range 60 {
		q.queued(t, s, fmt.Sprintf("load-%d", i%3), "api", 0)
	}
	start := t0.Add(time.Minute)
	claim := func(now time.Time) int {
		var (
			wg sync.WaitGroup
			mu sync.Mutex
			n  int
		)
		for w := range 6 {
			wg.Go(func() {
				runs, err := s.RunClaim(ctx, fmt.Sprintf("w%d", w), now, 10)
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				n += len(runs)
				mu.Unlock()
			})
		}
		wg.Wait()
		return n
	}
	if n := claim(start); n != 2 {
		t.Errorf("%d runs claimed at once from a queue of 2 starts a second; want its burst, 2", n)
	}
	tokens, err := s.QueueTokens(ctx, "api", start)
	if err != nil || tokens >= 1 {
		t.Errorf("QueueTokens after the burst = %v, %v; want < 1", tokens, err)
	}
	total := 2
	for i := 1; i <= 50; i++ { // five seconds, every 100ms
		total += claim(start.Add(time.Duration(i) * 100 * time.Millisecond))
	}
	// Two at once, then two a second for five seconds.
	if total != 12 {
		t.Errorf("%d runs claimed over 5 seconds at 2 starts a second (burst 2); want 12", total)
	}
	// Idle, the bucket fills to its burst, not beyond.
	if n := claim(start.Add(time.Hour)); n != 2 {
		t.Errorf("%d runs claimed after an idle hour; want the burst, 2", n)
	}
}

// testQueueSuspended holds a suspended job's queued runs until it is resumed.
func testQueueSuspended(t *testing.T, s store.Store) {
	ctx := context.Background()
	put(t, s, spec("held"), t0)
	if _, err := s.DefinitionSuspend(ctx, "held", true, t0); err != nil {
		t.Fatal(err)
	}
	var q seq
	held := q.queued(t, s, "held", "", 0)
	other := q.queued(t, s, "other", "", 0)
	if diff := gocmp.Diff([]string{other.ID}, claimIDs(t, s, "w", t0.Add(time.Minute), 10)); diff != "" {
		t.Errorf("claim beside a suspended job (-want +got):\n%s", diff)
	}
	if _, err := s.DefinitionSuspend(ctx, "held", false, t0); err != nil {
		t.Fatal(err)
	}
	if diff := gocmp.Diff([]string{held.ID}, claimIDs(t, s, "w", t0.Add(time.Minute), 10)); diff != "" {
		t.Errorf("claim once the job is resumed (-want +got):\n%s", diff)
	}
}

// testQueueDisabled holds a disabled queue's queued runs, even ahead of others in the
// order, while its active runs go on, new runs join it and other queues' runs are
// claimed; enabling it releases them.
func testQueueDisabled(t *testing.T, s store.Store) {
	ctx := context.Background()
	gpu := putQueue(t, s, job.Queue{Name: "gpu", Priority: 100})
	putQueue(t, s, job.Queue{Name: "etl"})
	var q seq
	active := q.queued(t, s, "train", "gpu", 0)
	if diff := gocmp.Diff([]string{active.ID}, claimIDs(t, s, "w", t0.Add(time.Minute), 1)); diff != "" {
		t.Fatalf("claim of the enabled queue (-want +got):\n%s", diff)
	}
	gpu.Disabled = true
	got, changed, err := s.QueuePut(ctx, gpu, t0.Add(time.Minute))
	if err != nil || !changed || !got.Disabled {
		t.Fatalf("disabling: %+v changed %v err %v; want a changed, disabled queue", got, changed, err)
	}
	if got, err := s.QueueGet(ctx, "gpu"); err != nil || !got.Disabled {
		t.Fatalf("QueueGet of the disabled queue: %+v, %v", got, err)
	}
	if _, changed, _ := s.QueuePut(ctx, gpu, t0.Add(2*time.Minute)); changed {
		t.Error("disabling a disabled queue reports a change")
	}
	held := []string{q.queued(t, s, "train", "gpu", 0).ID, q.queued(t, s, "infer", "gpu", 5).ID}
	other := q.queued(t, s, "load", "etl", 0)
	if diff := gocmp.Diff([]string{other.ID}, claimIDs(t, s, "w", t0.Add(time.Minute), 10)); diff != "" {
		t.Errorf("claim beside a disabled queue (-want +got):\n%s", diff)
	}
	if n := len(claimIDs(t, s, "w", t0.Add(time.Minute), 10)); n != 0 {
		t.Errorf("%d runs claimed while only the disabled queue's wait", n)
	}
	if _, err := s.RunTransition(ctx, job.Transition{RunID: active.ID, From: job.StateDispatched, To: job.StateRunning, Time: t0, Reason: job.ReasonStarted}); err != nil {
		t.Fatalf("the disabled queue's active run goes on: %v", err)
	}
	stats, err := s.QueueStats(ctx, "gpu")
	if err != nil || stats["gpu"] != (job.QueueStats{Running: 1, Queued: 2}) {
		t.Errorf("QueueStats[gpu] = %+v, %v; want 1 running, 2 queued", stats["gpu"], err)
	}

	gpu.Disabled = false
	if _, changed, err := s.QueuePut(ctx, gpu, t0.Add(2*time.Minute)); err != nil || !changed {
		t.Fatalf("enabling: changed %v err %v", changed, err)
	}
	got2 := claimIDs(t, s, "w", t0.Add(time.Minute), 10)
	slices.Sort(got2)
	slices.Sort(held)
	if diff := gocmp.Diff(held, got2); diff != "" {
		t.Errorf("claim once the queue is enabled (-want +got):\n%s", diff)
	}
}
