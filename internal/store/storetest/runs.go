package storetest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
)

// slotRuns makes queued scheduled runs for the given slot times.
func slotRuns(jobName string, slots ...time.Time) ([]job.Run, []job.Event) {
	var runs []job.Run
	var events []job.Event
	for _, slot := range slots {
		slot := slot
		r := job.Run{
			ID: job.NewRunID(slot), Job: jobName, Revision: 1, State: job.StateQueued, Trigger: job.TriggerSchedule,
			ScheduledTime: &slot, Attempt: 1, NotBefore: slot, CreatedAt: slot, Reason: job.ReasonScheduled, Message: "slot " + slot.Format(time.RFC3339),
		}
		runs = append(runs, r)
		events = append(events, firstEvent(r))
	}
	return runs, events
}

func testSlotsRecord(t *testing.T, s store.Store) {
	ctx := context.Background()
	put(t, s, spec("slots"), t0)
	runs, events := slotRuns("slots", t0.Add(time.Minute), t0.Add(2*time.Minute))
	if err := recordSlots(s, store.Fence{}, "slots", t0, t0.Add(2*time.Minute), runs, events); err != nil {
		t.Fatal(err)
	}
	// A stale cursor stores nothing.
	stale, staleEvents := slotRuns("slots", t0.Add(3*time.Minute))
	if err := recordSlots(s, store.Fence{}, "slots", t0, t0.Add(3*time.Minute), stale, staleEvents); !errors.Is(err, job.ErrConflict) {
		t.Fatalf("stale cursor: err %v, want ErrConflict", err)
	}
	if _, err := s.RunGet(ctx, stale[0].ID); !errors.Is(err, job.ErrNotFound) {
		t.Errorf("a run of a rejected SlotsRecord was stored: %v", err)
	}
	// A slot that already has a run is not inserted again, even under a new id.
	again, againEvents := slotRuns("slots", t0.Add(2*time.Minute), t0.Add(3*time.Minute))
	again[0].ID = job.NewRunID(t0.Add(2*time.Minute + time.Second))
	againEvents[0].RunID = again[0].ID
	if err := recordSlots(s, store.Fence{}, "slots", t0.Add(2*time.Minute), t0.Add(3*time.Minute), again, againEvents); err != nil {
		t.Fatal(err)
	}
	list, _, err := s.RunList(ctx, store.RunFilter{Job: "slots"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range list {
		got = append(got, r.ScheduledTime.Format("15:04"))
	}
	if diff := cmp.Diff([]string{"09:03", "09:02", "09:01"}, got); diff != "" {
		t.Errorf("one run per slot, newest first (-want +got):\n%s", diff)
	}
	if evs, _ := s.EventList(ctx, again[0].ID); len(evs) != 0 {
		t.Errorf("the duplicate slot's event was stored: %v", evs)
	}
	if d, _ := s.DefinitionGet(ctx, "slots"); !d.ScheduledThrough.Equal(t0.Add(3 * time.Minute)) {
		t.Errorf("cursor = %v, want %v", d.ScheduledThrough, t0.Add(3*time.Minute))
	}
	if err := recordSlots(s, store.Fence{}, "absent", t0, t0.Add(time.Minute), nil, nil); !errors.Is(err, job.ErrConflict) {
		t.Errorf("unknown job: err %v, want ErrConflict", err)
	}
}

func testSlotsRecordConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	put(t, s, spec("race"), t0)
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runs, events := slotRuns("race", t0.Add(time.Minute))
			runs[0].ID = job.NewRunID(t0.Add(time.Duration(i) * time.Second))
			events[0].RunID = runs[0].ID
			errs[i] = recordSlots(s, store.Fence{}, "race", t0, t0.Add(time.Minute), runs, events)
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, job.ErrConflict):
			t.Errorf("SlotsRecord: %v", err)
		}
	}
	list, _, _ := s.RunList(ctx, store.RunFilter{Job: "race"})
	if ok != 1 || len(list) != 1 {
		t.Errorf("%d schedulers succeeded and %d runs exist; want exactly 1 and 1", ok, len(list))
	}
}

func testRunCreateIdempotency(t *testing.T, s store.Store) {
	ctx := context.Background()
	var q seq
	first := q.run("idem", job.StateQueued)
	first.IdempotencyKey = "nightly-2026-11-23"
	first.Env = map[string]string{"MODE": "full"}
	create(t, s, first)
	second := q.run("idem", job.StateQueued)
	second.IdempotencyKey = first.IdempotencyKey
	got, created, err := s.RunCreate(ctx, second, firstEvent(second))
	if err != nil || created || got.ID != first.ID {
		t.Fatalf("repeat key: id %s created %v err %v; want the first run %s", got.ID, created, err, first.ID)
	}
	if diff := cmp.Diff(first, got); diff != "" {
		t.Errorf("returned run (-want +got):\n%s", diff)
	}
	// The repeat recorded nothing: the first run keeps its one event, the second has none.
	for id, want := range map[string]int{first.ID: 1, second.ID: 0} {
		if evs, err := s.EventList(ctx, id); err != nil || len(evs) != want {
			t.Errorf("events of %s after the repeat: %d (%v); want %d", id, len(evs), err, want)
		}
	}
	other := q.run("other-job", job.StateQueued)
	other.IdempotencyKey = first.IdempotencyKey
	if _, created, err := s.RunCreate(ctx, other, firstEvent(other)); err != nil || !created {
		t.Errorf("same key on another job: created %v err %v; keys are per job", created, err)
	}
	dup := q.run("idem", job.StateQueued)
	dup.ID = first.ID
	if _, _, err := s.RunCreate(ctx, dup, firstEvent(dup)); !errors.Is(err, job.ErrConflict) {
		t.Errorf("duplicate id: err %v, want ErrConflict", err)
	}
}

func testRunList(t *testing.T, s store.Store) {
	ctx := context.Background()
	var q seq
	var ids []string
	for i := range 7 {
		r := q.run(fmt.Sprintf("list-%d", i%2), job.StateQueued)
		if i%3 == 0 {
			r.State = job.StateSkipped
		}
		ids = append(ids, create(t, s, r).ID)
	}
	var pages [][]string
	f := store.RunFilter{Limit: 3}
	for {
		runs, next, err := s.RunList(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var page []string
		for _, r := range runs {
			page = append(page, r.ID)
		}
		pages = append(pages, page)
		if next == "" {
			break
		}
		f.Cursor = next
	}
	want := [][]string{{ids[6], ids[5], ids[4]}, {ids[3], ids[2], ids[1]}, {ids[0]}}
	if diff := cmp.Diff(want, pages); diff != "" {
		t.Errorf("pages newest first (-want +got):\n%s", diff)
	}
	runs, _, err := s.RunList(ctx, store.RunFilter{Job: "list-0", States: []job.State{job.StateSkipped}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range runs {
		got = append(got, r.ID)
	}
	// list-0 holds runs 0, 2, 4, 6; of those, 0 and 6 are skipped.
	if diff := cmp.Diff([]string{ids[6], ids[0]}, got); diff != "" {
		t.Errorf("filtered (-want +got):\n%s", diff)
	}

	// By queue: a named one's runs, or the default queue's.
	var inQueue []string
	for range 2 {
		r := q.run("list-0", job.StateQueued)
		r.Queue = "list-q"
		inQueue = append([]string{create(t, s, r).ID}, inQueue...)
	}
	byQueue := func(queue string) []string {
		t.Helper()
		runs, _, err := s.RunList(ctx, store.RunFilter{Queue: &queue, Job: "list-0"})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range runs {
			out = append(out, r.ID)
		}
		return out
	}
	if diff := cmp.Diff(inQueue, byQueue("list-q")); diff != "" {
		t.Errorf("the runs of queue list-q (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{ids[6], ids[4], ids[2], ids[0]}, byQueue(job.DefaultQueue)); diff != "" {
		t.Errorf("the runs of the default queue (-want +got):\n%s", diff)
	}
}

func testRunLatest(t *testing.T, s store.Store) {
	ctx := context.Background()
	var q seq
	for _, name := range []string{"latest-a", "latest-b", "latest-never", "latest-gone"} {
		put(t, s, spec(name), t0)
	}
	var newestA, newestB job.Run
	for range 3 {
		newestA = create(t, s, q.run("latest-a", job.StateSucceeded))
		newestB = create(t, s, q.run("latest-b", job.StateQueued))
		create(t, s, q.run("latest-gone", job.StateFailed))
	}
	if err := s.DefinitionDelete(ctx, "latest-gone", t0); err != nil {
		t.Fatal(err)
	}
	latest, err := s.RunLatest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for name, r := range latest {
		if r.Job != name {
			t.Errorf("latest[%s] is a run of %s", name, r.Job)
		}
		got[name] = r.ID
	}
	want := map[string]string{"latest-a": newestA.ID, "latest-b": newestB.ID}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("newest run per job, deleted and never-run jobs absent (-want +got):\n%s", diff)
	}

	// Among runs in some states only.
	older := create(t, s, q.run("latest-a", job.StateQueued))
	latest, err = s.RunLatest(ctx, job.StateQueued, job.StateRunning)
	if err != nil {
		t.Fatal(err)
	}
	got = map[string]string{}
	for name, r := range latest {
		got[name] = r.ID
	}
	want = map[string]string{"latest-a": older.ID, "latest-b": newestB.ID}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("newest queued or running run per job (-want +got):\n%s", diff)
	}

	counts, err := s.RunCount(ctx, job.StateQueued, job.StateSucceeded, job.StateRunning)
	if err != nil {
		t.Fatal(err)
	}
	// latest-gone's failed runs are not asked for; nothing is running.
	if diff := cmp.Diff(map[job.State]int{job.StateQueued: 4, job.StateSucceeded: 3}, counts); diff != "" {
		t.Errorf("RunCount (-want +got):\n%s", diff)
	}
}

func testRunEnds(t *testing.T, s store.Store) {
	ctx := context.Background()
	var q seq
	for _, name := range []string{"ends-a", "ends-b", "ends-failing", "ends-never", "ends-gone"} {
		put(t, s, spec(name), t0)
	}
	ended := func(name string, state job.State, minutes int) job.Run {
		r := q.run(name, state)
		at := t0.Add(time.Duration(minutes) * time.Minute)
		r.FinishedAt = &at
		return create(t, s, r)
	}
	at := func(minutes int) time.Time { return t0.Add(time.Duration(minutes) * time.Minute) }
	ended("ends-a", job.StateSucceeded, 1)
	ended("ends-a", job.StateFailed, 2)
	create(t, s, q.run("ends-a", job.StateQueued)) // not finished: not counted
	ended("ends-b", job.StateFailed, 1)
	ended("ends-b", job.StateSucceeded, 3)
	ended("ends-b", job.StateCancelled, 4)
	ended("ends-failing", job.StateFailed, 5)
	ended("ends-failing", job.StateSkipped, 6) // a slot not run is not an end
	ended("ends-gone", job.StateSucceeded, 7)
	if err := s.DefinitionDelete(ctx, "ends-gone", t0); err != nil {
		t.Fatal(err)
	}
	ends, err := s.RunEnds(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]store.JobEnds{
		"ends-a":       {Finished: at(2), State: job.StateFailed, Succeeded: at(1)},
		"ends-b":       {Finished: at(4), State: job.StateCancelled, Succeeded: at(3)},
		"ends-failing": {Finished: at(5), State: job.StateFailed},
	}
	if diff := cmp.Diff(want, ends); diff != "" {
		t.Errorf("RunEnds: jobs never finished and deleted jobs absent (-want +got):\n%s", diff)
	}

	// They agree with the runs RunLatest returns.
	finished, err := s.RunLatest(ctx, job.StateSucceeded, job.StateFailed, job.StateCancelled)
	if err != nil {
		t.Fatal(err)
	}
	succeeded, err := s.RunLatest(ctx, job.StateSucceeded)
	if err != nil {
		t.Fatal(err)
	}
	for name, e := range ends {
		if r := finished[name]; r.FinishedAt == nil || !r.FinishedAt.Equal(e.Finished) || r.State != e.State {
			t.Errorf("RunEnds[%s] = %+v; RunLatest says %s at %v", name, e, r.State, r.FinishedAt)
		}
		if r, ok := succeeded[name]; ok != !e.Succeeded.IsZero() || ok && !r.FinishedAt.Equal(e.Succeeded) {
			t.Errorf("RunEnds[%s].Succeeded = %v; RunLatest's newest success %+v", name, e.Succeeded, r)
		}
	}
}

func claimIDs(t *testing.T, s store.Store, claimer string, now time.Time, limit int) []string {
	t.Helper()
	runs, err := s.RunClaim(context.Background(), claimer, now, limit)
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{}
	for _, r := range runs {
		if r.State != job.StateDispatched || r.ClaimedBy != claimer {
			t.Errorf("claimed run %s is %s by %q", r.ID, r.State, r.ClaimedBy)
		}
		ids = append(ids, r.ID)
	}
	return ids
}

func testRunClaim(t *testing.T, s store.Store) {
	var q seq
	a := create(t, s, q.run("claim", job.StateQueued))
	later := q.run("claim", job.StateQueued)
	later.NotBefore = t0.Add(time.Hour)
	create(t, s, later)
	b := create(t, s, q.run("claim", job.StateQueued))
	create(t, s, q.run("claim", job.StateSkipped))
	c := create(t, s, q.run("claim", job.StateQueued))

	if diff := cmp.Diff([]string{a.ID, b.ID}, claimIDs(t, s, "w1", t0.Add(time.Minute), 2)); diff != "" {
		t.Errorf("first claim, oldest first up to the limit (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{c.ID}, claimIDs(t, s, "w1", t0.Add(time.Minute), 10)); diff != "" {
		t.Errorf("second claim skips claimed, skipped and not-yet-due runs (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{later.ID}, claimIDs(t, s, "w1", t0.Add(2*time.Hour), 10)); diff != "" {
		t.Errorf("a run becomes claimable at its not_before (-want +got):\n%s", diff)
	}
	evs, err := s.EventList(context.Background(), a.ID)
	if err != nil || len(evs) != 2 || evs[1].State != job.StateDispatched {
		t.Errorf("claim event: %+v err %v", evs, err)
	}
}

func testRunClaimExclusive(t *testing.T, s store.Store) {
	ctx := context.Background()
	var q seq
	ex := func(name string) job.Run {
		r := q.run(name, job.StateQueued)
		r.Exclusive = true
		return create(t, s, r)
	}
	x1, x2 := ex("solo"), ex("solo")
	free := create(t, s, q.run("solo", job.StateQueued))
	y1 := ex("other")
	if diff := cmp.Diff([]string{x1.ID, free.ID, y1.ID}, claimIDs(t, s, "w", t0.Add(time.Minute), 10)); diff != "" {
		t.Errorf("one exclusive run per job at a time (-want +got):\n%s", diff)
	}
	if got := claimIDs(t, s, "w", t0.Add(time.Minute), 10); len(got) != 0 {
		t.Errorf("claimed %v while the job's runs are active", got)
	}
	for _, r := range []job.Run{x1, free} {
		if _, err := s.RunTransition(ctx, job.Transition{RunID: r.ID, From: job.StateDispatched, To: job.StateSucceeded, Time: t0, Reason: job.ReasonCompleted}); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff([]string{x2.ID}, claimIDs(t, s, "w", t0.Add(time.Minute), 10)); diff != "" {
		t.Errorf("the next exclusive run once the job is idle (-want +got):\n%s", diff)
	}
}

// testRunClaimExclusiveConcurrent claims from several claimers at once, as replicas do:
// however the claims interleave, one exclusive run of a job is active at a time.
func testRunClaimExclusiveConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	var q seq
	// Enough queued runs that concurrent claimers lock different ones.
	for range 300 {
		r := q.run("solo", job.StateQueued)
		r.Exclusive = true
		create(t, s, r)
	}
	for round := range 4 {
		var (
			mu  sync.Mutex
			got []job.Run
			wg  sync.WaitGroup
		)
		for w := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				runs, err := s.RunClaim(ctx, fmt.Sprintf("w%d", w), t0.Add(time.Minute), 5)
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				got = append(got, runs...)
				mu.Unlock()
			}()
		}
		wg.Wait()
		if len(got) != 1 {
			t.Fatalf("round %d: %d exclusive runs of one job claimed at once; want 1", round, len(got))
		}
		if _, err := s.RunTransition(ctx, job.Transition{RunID: got[0].ID, From: job.StateDispatched, To: job.StateSucceeded, Time: t0, Reason: job.ReasonCompleted}); err != nil {
			t.Fatal(err)
		}
	}
}

func testRunClaimConcurrent(t *testing.T, s store.Store) {
	var q seq
	const runs, workers = 60, 6
	for range runs {
		create(t, s, q.run("herd", job.StateQueued))
	}
	var (
		mu   sync.Mutex
		seen = map[string]string{}
		wg   sync.WaitGroup
	)
	deadline := time.Now().Add(10 * time.Second)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			claimer := fmt.Sprintf("w%d", w)
			for {
				got, err := s.RunClaim(context.Background(), claimer, t0.Add(time.Minute), 3)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for _, r := range got {
					if prev, dup := seen[r.ID]; dup {
						t.Errorf("run %s claimed by %s and %s", r.ID, prev, claimer)
					}
					seen[r.ID] = claimer
				}
				done := len(seen) == runs
				mu.Unlock()
				// Where rows are locked, a claim skips those another claim holds, so one
				// that takes none may have met only those: try again until all are taken,
				// or the time is up (and the count below says how many never were).
				if done || len(got) == 0 && time.Now().After(deadline) {
					return
				}
				if len(got) == 0 {
					time.Sleep(time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	if len(seen) != runs {
		t.Errorf("%d runs claimed, want %d", len(seen), runs)
	}
}

func testRunTransition(t *testing.T, s store.Store) {
	ctx := context.Background()
	var q seq
	r := create(t, s, q.run("life", job.StateQueued))
	claimIDs(t, s, "w", t0.Add(time.Minute), 1)
	steps := []job.Transition{
		{RunID: r.ID, From: job.StateDispatched, To: job.StatePending, Time: t0.Add(2 * time.Minute), Reason: job.ReasonStarting, Message: "starting"},
		{RunID: r.ID, From: job.StatePending, To: job.StateRunning, Time: t0.Add(3 * time.Minute), Reason: job.ReasonStarted, Message: "pid 42"},
	}
	for _, st := range steps {
		if _, err := s.RunTransition(ctx, st); err != nil {
			t.Fatalf("%s -> %s: %v", st.From, st.To, err)
		}
	}
	code := 3
	got, err := s.RunTransition(ctx, job.Transition{RunID: r.ID, From: job.StateRunning, To: job.StateFailed, Time: t0.Add(4 * time.Minute),
		Reason: job.ReasonExitCode, Message: "exited with code 3", ExitCode: &code})
	if err != nil {
		t.Fatal(err)
	}
	if got.State != job.StateFailed || got.ExitCode == nil || *got.ExitCode != 3 || got.Reason != "ExitCode" ||
		got.StartedAt == nil || !got.StartedAt.Equal(t0.Add(3*time.Minute)) || got.FinishedAt == nil || !got.FinishedAt.Equal(t0.Add(4*time.Minute)) {
		t.Errorf("after failing: %+v", got)
	}
	// The guard: a transition from a state the run has left changes nothing.
	_, err = s.RunTransition(ctx, job.Transition{RunID: r.ID, From: job.StateRunning, To: job.StateSucceeded, Time: t0.Add(5 * time.Minute), Reason: job.ReasonCompleted})
	if !errors.Is(err, job.ErrConflict) {
		t.Errorf("stale transition: err %v, want ErrConflict", err)
	}
	if now := mustGet(t, s, r.ID); now.State != job.StateFailed || now.Reason != "ExitCode" {
		t.Errorf("stale transition changed the run: %+v", now)
	}
	_, err = s.RunTransition(ctx, job.Transition{RunID: "absent", From: job.StateQueued, To: job.StateCancelled, Time: t0})
	if !errors.Is(err, job.ErrNotFound) {
		t.Errorf("unknown run: err %v, want ErrNotFound", err)
	}
	if _, err := s.RunTransition(ctx, job.Transition{RunID: r.ID, From: job.StateFailed, To: job.StateRunning, Time: t0}); err == nil {
		t.Error("a terminal run was moved back to running")
	}
	// Requeueing a dispatched run releases its claim.
	r2 := create(t, s, q.run("life", job.StateQueued))
	claimIDs(t, s, "w", t0.Add(time.Minute), 1)
	back, err := s.RunTransition(ctx, job.Transition{RunID: r2.ID, From: job.StateDispatched, To: job.StateQueued, Time: t0, Reason: job.ReasonRequeued})
	if err != nil || back.ClaimedBy != "" || back.State != job.StateQueued {
		t.Errorf("requeue: %+v err %v", back, err)
	}
}

func testRunTransitionThenAtomic(t *testing.T, s store.Store) {
	ctx := context.Background()
	var q seq
	failing := func() job.Run {
		r := create(t, s, q.run("retry", job.StateQueued))
		if _, err := s.RunTransition(ctx, job.Transition{RunID: r.ID, From: job.StateQueued, To: job.StateDispatched, Time: t0}); err != nil {
			t.Fatal(err)
		}
		return r
	}
	retryOf := func(r job.Run) *job.Run {
		next := q.run("retry", job.StateQueued)
		next.Trigger, next.Attempt, next.RetryOf, next.Reason = job.TriggerRetry, 2, r.ID, "Retrying"
		return &next
	}
	a := failing()
	then := retryOf(a)
	if _, err := s.RunTransition(ctx, job.Transition{RunID: a.ID, From: job.StateDispatched, To: job.StateFailed, Time: t0, Reason: job.ReasonExitCode, Then: then}); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, s, then.ID); got.RetryOf != a.ID || got.Attempt != 2 || got.State != job.StateQueued {
		t.Errorf("retry run: %+v", got)
	}
	// A second retry of the same attempt collides, and the whole transition rolls back.
	b := failing()
	dup := retryOf(b)
	dup.RetryOf = a.ID
	_, err := s.RunTransition(ctx, job.Transition{RunID: b.ID, From: job.StateDispatched, To: job.StateFailed, Time: t0, Reason: job.ReasonExitCode, Then: dup})
	if !errors.Is(err, job.ErrConflict) {
		t.Fatalf("duplicate retry: err %v, want ErrConflict", err)
	}
	if got := mustGet(t, s, b.ID); got.State != job.StateDispatched {
		t.Errorf("the failed transition was kept: run is %s", got.State)
	}
	if _, err := s.RunGet(ctx, dup.ID); !errors.Is(err, job.ErrNotFound) {
		t.Errorf("the duplicate retry was stored: %v", err)
	}
}

// testRunTransitionBefore: a start recorded with the end that followed it is two changes
// in one transaction, each with its events and times; when the end cannot be recorded
// (here its retry collides), neither is.
func testRunTransitionBefore(t *testing.T, s store.Store) {
	ctx := context.Background()
	var q seq
	pending := func() job.Run {
		r := create(t, s, q.run("quick", job.StateQueued))
		claimIDs(t, s, "w", t0.Add(time.Minute), 1)
		if _, err := s.RunTransition(ctx, job.Transition{RunID: r.ID, From: job.StateDispatched, To: job.StatePending, Time: t0.Add(2 * time.Minute), Reason: job.ReasonStarting}); err != nil {
			t.Fatal(err)
		}
		return r
	}
	start := func(r job.Run) *job.Transition {
		return &job.Transition{RunID: r.ID, To: job.StateRunning, Time: t0.Add(3 * time.Minute), Reason: job.ReasonStarted, Message: "pid 42",
			Notes: []job.Note{{Reason: "Note", Message: "a note of the start"}}}
	}
	r := pending()
	code := 0
	got, err := s.RunTransition(ctx, job.Transition{RunID: r.ID, To: job.StateSucceeded, Time: t0.Add(4 * time.Minute),
		Reason: job.ReasonCompleted, Message: "exited with code 0", ExitCode: &code, Before: start(r)})
	if err != nil {
		t.Fatal(err)
	}
	if got.State != job.StateSucceeded || got.Reason != job.ReasonCompleted || got.ExitCode == nil || *got.ExitCode != 0 ||
		got.StartedAt == nil || !got.StartedAt.Equal(t0.Add(3*time.Minute)) || got.FinishedAt == nil || !got.FinishedAt.Equal(t0.Add(4*time.Minute)) {
		t.Errorf("after the start and the end: %+v", got)
	}
	if now := mustGet(t, s, r.ID); now.State != job.StateSucceeded || now.StartedAt == nil || !now.StartedAt.Equal(t0.Add(3*time.Minute)) {
		t.Errorf("stored: %+v", now)
	}
	evs, err := s.EventList(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	var trail []string
	for _, ev := range evs {
		trail = append(trail, fmt.Sprintf("%s %s %s", ev.State, ev.Reason, ev.Time.Sub(t0)))
	}
	want := []string{"queued  0s", "dispatched  1m0s", "pending Starting 2m0s", "running Started 3m0s", "running Note 3m0s", "succeeded Completed 4m0s"}
	if len(trail) < 3 || !slices.Equal(trail[len(trail)-3:], want[len(want)-3:]) {
		t.Errorf("events %q; want them to end with %q", trail, want[len(want)-3:])
	}

	// The end's retry collides: the start is not kept either.
	a := pending()
	b := pending()
	dup := q.run("quick", job.StateQueued)
	dup.Trigger, dup.Attempt, dup.RetryOf = job.TriggerRetry, 2, a.ID
	if _, err := s.RunTransition(ctx, job.Transition{RunID: a.ID, From: job.StatePending, To: job.StateFailed, Time: t0.Add(4 * time.Minute), Reason: job.ReasonExitCode, Then: &dup}); err != nil {
		t.Fatal(err)
	}
	again := q.run("quick", job.StateQueued)
	again.Trigger, again.Attempt, again.RetryOf = job.TriggerRetry, 2, a.ID
	_, err = s.RunTransition(ctx, job.Transition{RunID: b.ID, To: job.StateFailed, Time: t0.Add(4 * time.Minute), Reason: job.ReasonExitCode, Then: &again, Before: start(b)})
	if !errors.Is(err, job.ErrConflict) {
		t.Fatalf("colliding retry: err %v, want ErrConflict", err)
	}
	if now := mustGet(t, s, b.ID); now.State != job.StatePending || now.StartedAt != nil {
		t.Errorf("the start was kept without its end: %+v", now)
	}
	// A start from a state the run has left changes nothing.
	if _, err := s.RunTransition(ctx, job.Transition{RunID: r.ID, To: job.StateFailed, Time: t0, Reason: job.ReasonExitCode, Before: start(r)}); !errors.Is(err, job.ErrConflict) {
		t.Errorf("start of an ended run: err %v, want ErrConflict", err)
	}
	// A task of an array: its group counts the end, and the task was stamped started.
	sp := spec("quick-array")
	parent, _ := createGroup(t, s, &q, sp, 2)
	var task job.Run
	for _, r := range claimKeys(t, s, 10) {
		if r.Parent == parent.ID && r.Key() == "0" {
			task = r
		}
	}
	if _, err := s.RunTransition(ctx, job.Transition{RunID: task.ID, From: job.StateDispatched, To: job.StatePending, Time: t0.Add(2 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RunTransition(ctx, job.Transition{RunID: task.ID, To: job.StateSucceeded, Time: t0.Add(4 * time.Minute), Reason: job.ReasonCompleted, Before: start(task)}); err != nil {
		t.Fatal(err)
	}
	want = []string{"0 succeeded", "1 dispatched", "group running 1/2 ended, 1 succeeded, 0 failed"}
	if got := stepStates(t, s, parent); !slices.Equal(got, want) {
		t.Errorf("array after a task's start and end: %q; want %q", got, want)
	}
	if got := mustGet(t, s, task.ID); got.StartedAt == nil || !got.StartedAt.Equal(t0.Add(3*time.Minute)) {
		t.Errorf("task started %v; want %v", got.StartedAt, t0.Add(3*time.Minute))
	}
	// A pair that is not a start and an end is refused.
	if _, err := s.RunTransition(ctx, job.Transition{RunID: b.ID, From: job.StatePending, To: job.StateSucceeded, Time: t0, Before: start(b)}); err == nil {
		t.Error("a pair whose end starts from pending, not from the start's running, was accepted")
	}
}

func testRunRequestCancel(t *testing.T, s store.Store) {
	ctx := context.Background()
	var q seq
	r := create(t, s, q.run("stop", job.StateQueued))
	got, err := s.RunRequestCancel(ctx, r.ID, "ana@laptop")
	if err != nil || got.CancelledBy != "ana@laptop" || got.State != job.StateQueued {
		t.Fatalf("request: %+v err %v", got, err)
	}
	if got, _ := s.RunRequestCancel(ctx, r.ID, "bo@laptop"); got.CancelledBy != "ana@laptop" {
		t.Errorf("second request replaced the first requester: %q", got.CancelledBy)
	}
	if _, err := s.RunTransition(ctx, job.Transition{RunID: r.ID, From: job.StateQueued, To: job.StateCancelled, Time: t0, Reason: job.ReasonCancelled}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RunRequestCancel(ctx, r.ID, "ana@laptop"); !errors.Is(err, job.ErrConflict) {
		t.Errorf("cancel a finished run: err %v, want ErrConflict", err)
	}
	if _, err := s.RunRequestCancel(ctx, "absent", "ana"); !errors.Is(err, job.ErrNotFound) {
		t.Errorf("cancel an unknown run: err %v, want ErrNotFound", err)
	}
}

func testEvents(t *testing.T, s store.Store) {
	ctx := context.Background()
	var q seq
	r := create(t, s, q.run("ev", job.StateQueued))
	notice := job.Event{RunID: r.ID, Time: t0.Add(time.Second), State: job.StateQueued, Reason: job.ReasonImageNotUsed, Message: "the process executor does not pull images"}
	if err := s.EventAppend(ctx, notice); err != nil {
		t.Fatal(err)
	}
	evs, err := s.EventList(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for _, ev := range evs {
		reasons = append(reasons, string(ev.Reason))
		if ev.ID == 0 || ev.RunID != r.ID {
			t.Errorf("event %+v lacks its id or run", ev)
		}
	}
	if diff := cmp.Diff([]string{"Submitted", "ImageNotUsed"}, reasons); diff != "" {
		t.Errorf("events oldest first (-want +got):\n%s", diff)
	}
	if !evs[1].Time.Equal(notice.Time) {
		t.Errorf("event time %v, want %v", evs[1].Time, notice.Time)
	}
	if err := s.EventAppend(ctx, job.Event{RunID: "absent", Time: t0}); !errors.Is(err, job.ErrNotFound) {
		t.Errorf("event of an unknown run: err %v, want ErrNotFound", err)
	}
}

func testLogs(t *testing.T, s store.Store) {
	ctx := context.Background()
	for _, chunk := range []string{"hello ", "", "world\n", "bye\n"} {
		if err := s.LogAppend(ctx, "run-1", []byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		offset int64
		limit  int
		want   string
	}{
		{0, 1 << 20, "hello world\nbye\n"},
		{3, 5, "lo wo"},
		{6, 6, "world\n"},
		{16, 10, ""},
		{100, 10, ""},
	}
	for _, tt := range tests {
		got, err := s.LogRead(ctx, "run-1", tt.offset, tt.limit)
		if err != nil || string(got) != tt.want {
			t.Errorf("LogRead(%d, %d) = %q, %v; want %q", tt.offset, tt.limit, got, err, tt.want)
		}
	}
	if got, err := s.LogRead(ctx, "run-2", 0, 10); err != nil || len(got) != 0 {
		t.Errorf("log of a run without output = %q, %v; want empty", got, err)
	}
}

// testSlotsRecordFenced records slots under a lease term: the holder's write goes
// through; once the lease has passed on, the deposed holder's write is refused and
// stores nothing.
func testSlotsRecordFenced(t *testing.T, s store.Store) {
	ctx := context.Background()
	put(t, s, spec("fenced"), t0)
	ttl := 10 * time.Second
	a, err := s.LeaseAcquire(ctx, "scheduler", "a", t0, ttl)
	if err != nil {
		t.Fatal(err)
	}
	fenceA := store.Fence{Lease: "scheduler", Holder: "a", Token: a.Token}
	runs, events := slotRuns("fenced", t0.Add(time.Minute))
	if err := recordSlots(s, fenceA, "fenced", t0, t0.Add(time.Minute), runs, events); err != nil {
		t.Fatalf("the lease holder's write: %v", err)
	}
	if _, err := s.LeaseAcquire(ctx, "scheduler", "b", t0.Add(ttl), ttl); err != nil {
		t.Fatal(err)
	}
	late, lateEvents := slotRuns("fenced", t0.Add(2*time.Minute))
	if err := recordSlots(s, fenceA, "fenced", t0.Add(time.Minute), t0.Add(2*time.Minute), late, lateEvents); !errors.Is(err, job.ErrConflict) {
		t.Errorf("a deposed holder's write = %v; want ErrConflict", err)
	}
	if _, err := s.RunGet(ctx, late[0].ID); !errors.Is(err, job.ErrNotFound) {
		t.Errorf("a deposed holder's run was stored: %v", err)
	}
}

// testSlotsRecordBatch records several jobs in one call: a job whose cursor moved is left
// out, the others are recorded, and each recorded job's runs are unfinished runs.
func testSlotsRecordBatch(t *testing.T, s store.Store) {
	ctx := context.Background()
	for _, name := range []string{"x", "y", "z"} {
		put(t, s, spec(name), t0)
	}
	next := t0.Add(2 * time.Minute)
	var batch []store.Slots
	for _, name := range []string{"x", "y", "z"} {
		runs, events := slotRuns(name, t0.Add(time.Minute))
		from := t0
		if name == "y" {
			from = t0.Add(-time.Hour) // a stale cursor
		}
		batch = append(batch, store.Slots{Job: name, From: from, Through: t0.Add(time.Minute), Next: &next, Runs: runs, Events: events})
	}
	recorded, err := s.SlotsRecord(ctx, store.Fence{}, batch)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"x", "z"}, recorded); diff != "" {
		t.Errorf("recorded jobs (-want +got):\n%s", diff)
	}
	unfinished, err := s.RunUnfinished(ctx, []string{"x", "y", "z", "absent"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for name, runs := range unfinished {
		got[name] = len(runs)
	}
	if diff := cmp.Diff(map[string]int{"x": 1, "z": 1}, got); diff != "" {
		t.Errorf("unfinished runs by job (-want +got):\n%s", diff)
	}
	for _, name := range []string{"x", "z"} {
		d, err := s.DefinitionGet(ctx, name)
		if err != nil || !d.ScheduledThrough.Equal(t0.Add(time.Minute)) || d.NextDue == nil || !d.NextDue.Equal(next) {
			t.Errorf("%s: cursor %v next due %v err %v; want %v and %v", name, d.ScheduledThrough, d.NextDue, err, t0.Add(time.Minute), next)
		}
	}
	if d, _ := s.DefinitionGet(ctx, "y"); !d.ScheduledThrough.Equal(t0) {
		t.Errorf("the left-out job's cursor moved to %v", d.ScheduledThrough)
	}
}

func testRunTransitions(t *testing.T, s store.Store) {
	ctx := context.Background()
	var q seq
	var runs []job.Run
	for range 3 {
		runs = append(runs, create(t, s, q.run("batch", job.StateQueued)))
	}
	claimIDs(t, s, "w", t0.Add(time.Minute), 3)
	pending := func(r job.Run) job.Transition {
		return job.Transition{RunID: r.ID, From: job.StateDispatched, To: job.StatePending, Time: t0.Add(2 * time.Minute), Reason: job.ReasonStarting,
			Notes: []job.Note{{Reason: "Note", Message: "a note of " + r.ID}}}
	}
	got, err := s.RunTransitions(ctx, []job.Transition{pending(runs[0]), pending(runs[1])})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != runs[0].ID || got[1].ID != runs[1].ID || got[0].State != job.StatePending || got[1].State != job.StatePending {
		t.Fatalf("returned %+v", got)
	}
	for _, r := range runs[:2] {
		if now := mustGet(t, s, r.ID); now.State != job.StatePending || now.Reason != job.ReasonStarting {
			t.Errorf("stored: %+v", now)
		}
		evs, err := s.EventList(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(evs); n < 2 || evs[n-2].State != job.StatePending || evs[n-1].Message != "a note of "+r.ID {
			t.Errorf("events of %s: %+v", r.ID, evs)
		}
	}

	// One that cannot apply (runs[0] is pending already) keeps the others out too.
	code := 0
	end := job.Transition{RunID: runs[1].ID, To: job.StateSucceeded, Time: t0.Add(4 * time.Minute), Reason: job.ReasonCompleted, ExitCode: &code,
		Before: &job.Transition{RunID: runs[1].ID, To: job.StateRunning, Time: t0.Add(3 * time.Minute), Reason: job.ReasonStarted}}
	_, err = s.RunTransitions(ctx, []job.Transition{pending(runs[2]), end, pending(runs[0])})
	if !errors.Is(err, job.ErrConflict) {
		t.Fatalf("a batch with a stale transition: err %v, want ErrConflict", err)
	}
	if now := mustGet(t, s, runs[2].ID); now.State != job.StateDispatched {
		t.Errorf("a failed batch kept a transition: %+v", now)
	}
	if now := mustGet(t, s, runs[1].ID); now.State != job.StatePending || now.StartedAt != nil {
		t.Errorf("a failed batch kept a transition: %+v", now)
	}

	// Without it, the rest applies: a start with its end beside a pending.
	got, err = s.RunTransitions(ctx, []job.Transition{pending(runs[2]), end})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].State != job.StatePending || got[1].State != job.StateSucceeded || got[1].StartedAt == nil || !got[1].StartedAt.Equal(t0.Add(3*time.Minute)) {
		t.Errorf("returned %+v", got)
	}
	if now := mustGet(t, s, runs[1].ID); now.State != job.StateSucceeded || now.FinishedAt == nil {
		t.Errorf("stored: %+v", now)
	}
	if _, err := s.RunTransitions(ctx, []job.Transition{{RunID: runs[1].ID, From: job.StateSucceeded, To: job.StateRunning, Time: t0}}); err == nil {
		t.Error("a terminal run was moved back to running")
	}
}

func testRunClaimNoInputs(t *testing.T, s store.Store) {
	ctx := context.Background()
	var q seq
	plain := create(t, s, q.run("inputs", job.StateQueued))
	withFiles := q.run("inputs", job.StateQueued)
	files := []job.File{{Path: "in.txt", SHA256: strings.Repeat("a", 64), Size: 1, Mode: 0o644}}
	if err := s.RunFilesPut(ctx, store.FileInput, map[string][]job.File{withFiles.ID: files}, t0); err != nil {
		t.Fatal(err)
	}
	create(t, s, withFiles)
	outputOnly := create(t, s, q.run("inputs", job.StateQueued))
	if err := s.RunFilesPut(ctx, store.FileOutput, map[string][]job.File{outputOnly.ID: files}, t0); err != nil {
		t.Fatal(err)
	}
	retry := q.run("inputs", job.StateQueued)
	retry.Trigger, retry.Attempt, retry.RetryOf = job.TriggerRetry, 2, plain.ID
	create(t, s, retry)
	runs, err := s.RunClaim(ctx, "w", t0.Add(time.Minute), 10)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, r := range runs {
		got[r.ID] = r.NoInputs
	}
	want := map[string]bool{plain.ID: true, withFiles.ID: false, outputOnly.ID: true, retry.ID: false}
	if !maps.Equal(got, want) {
		t.Errorf("claimed with no inputs %v; want %v (plain, with files, with outputs only, a retry)", got, want)
	}
}
