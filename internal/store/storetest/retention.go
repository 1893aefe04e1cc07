package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
)

// finished creates a run of jobName that finished after hours, with a log.
func (q *seq) finished(t *testing.T, s store.Store, jobName string, hours float64) job.Run {
	t.Helper()
	r := q.run(jobName, job.StateSucceeded)
	at := t0.Add(time.Duration(hours * float64(time.Hour)))
	r.FinishedAt = &at
	r = create(t, s, r)
	if err := s.LogAppend(context.Background(), r.ID, []byte("output of "+r.ID+"\n")); err != nil {
		t.Fatal(err)
	}
	return r
}

// present reports, for each run, whether it, its events and its log are all still
// stored (true) or all gone (false); a run half deleted fails the test.
func present(t *testing.T, s store.Store, runs ...job.Run) []bool {
	t.Helper()
	ctx := context.Background()
	out := make([]bool, len(runs))
	for i, r := range runs {
		_, getErr := s.RunGet(ctx, r.ID)
		if getErr != nil && !errors.Is(getErr, job.ErrNotFound) {
			t.Fatal(getErr)
		}
		evs, err := s.EventList(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		log, err := s.LogRead(ctx, r.ID, 0, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		stored := getErr == nil
		out[i] = stored
		if stored != (len(evs) > 0) || (r.FinishedAt != nil && stored != (len(log) > 0)) {
			t.Errorf("run %s half deleted: run stored %v, %d events, %d bytes of log", r.ID, stored, len(evs), len(log))
		}
	}
	return out
}

func testRunPrune(t *testing.T, s store.Store) {
	ctx := context.Background()
	var q seq
	var a []job.Run
	for h := 1; h <= 5; h++ {
		a = append(a, q.finished(t, s, "prune-a", float64(h)))
	}
	active := create(t, s, q.run("prune-a", job.StateRunning))
	b := []job.Run{q.finished(t, s, "prune-b", 1), q.finished(t, s, "prune-b", 2)}
	all := append(append(append([]job.Run{}, a...), active), b...)

	// Keeping 2 per job, a1..a3 are due (oldest first); b's two are its newest.
	prune := func(before time.Time, keep, limit, want int) {
		t.Helper()
		n, err := s.RunPrune(ctx, before, keep, limit)
		if err != nil || n != want {
			t.Fatalf("RunPrune(%v, keep %d, limit %d) = %d, %v; want %d", before, keep, limit, n, err, want)
		}
	}
	prune(t0.Add(10*time.Hour), 2, 2, 2)
	want := []bool{false, false, true, true, true, true, true, true}
	if diff := cmp.Diff(want, present(t, s, all...)); diff != "" {
		t.Errorf("after the first batch (-want +got):\n%s", diff)
	}
	prune(t0.Add(10*time.Hour), 2, 2, 1)
	prune(t0.Add(10*time.Hour), 2, 2, 0)
	want[2] = false
	if diff := cmp.Diff(want, present(t, s, all...)); diff != "" {
		t.Errorf("after keeping two per job (-want +got):\n%s", diff)
	}

	// Keeping none, age alone decides; the active run is never due.
	prune(t0.Add(4*time.Hour+30*time.Minute), 0, 100, 3)
	want = []bool{false, false, false, false, true, true, false, false}
	if diff := cmp.Diff(want, present(t, s, all...)); diff != "" {
		t.Errorf("after pruning by age (-want +got):\n%s", diff)
	}
	prune(t0.Add(1000*time.Hour), 0, 100, 1)
	if got := mustGet(t, s, active.ID); got.State != job.StateRunning {
		t.Errorf("active run: state %s", got.State)
	}
}

// testRunPruneGroups: an array run is pruned whole, with its tasks, which count toward
// neither the runs kept per job nor the batch's limit.
func testRunPruneGroups(t *testing.T, s store.Store) {
	ctx := context.Background()
	var q seq
	finishedGroup := func(hours float64, tasks int) (job.Run, []job.Run) {
		at := t0.Add(time.Duration(hours * float64(time.Hour)))
		parent := q.run("fan", job.StateSucceeded)
		parent.FinishedAt, parent.Kind, parent.Group = &at, job.KindArray, &job.Group{Size: tasks, Ended: tasks, Succeeded: tasks}
		var children []job.Run
		events := []job.Event{firstEvent(parent)}
		for i := range tasks {
			c := q.run("fan", job.StateSucceeded)
			c.FinishedAt, c.Parent, c.TaskIndex, c.Trigger = &at, parent.ID, &i, job.TriggerGroup
			children = append(children, c)
			events = append(events, firstEvent(c))
		}
		if _, _, err := s.RunCreateGroup(ctx, parent, children, events); err != nil {
			t.Fatal(err)
		}
		for _, r := range append([]job.Run{parent}, children...) {
			if err := s.LogAppend(ctx, r.ID, []byte("output of "+r.ID+"\n")); err != nil {
				t.Fatal(err)
			}
		}
		return parent, children
	}
	old, oldTasks := finishedGroup(1, 3)
	newer, newerTasks := finishedGroup(2, 3)
	single := q.finished(t, s, "fan", 3)
	// Keeping 2 per job: the newer array and the single run are the newest two, whatever
	// the tasks; the old array goes with its three tasks, in a batch of one.
	if n, err := s.RunPrune(ctx, t0.Add(10*time.Hour), 2, 1); err != nil || n != 4 {
		t.Fatalf("RunPrune keeping 2 = %d, %v; want 4 (the old array and its tasks)", n, err)
	}
	want := []bool{false, false, false, false, true, true, true, true, true}
	all := append(append(append([]job.Run{old}, oldTasks...), newer), append(newerTasks, single)...)
	if diff := cmp.Diff(want, present(t, s, all...)); diff != "" {
		t.Errorf("after pruning (-want +got):\n%s", diff)
	}
	if n, err := s.RunPrune(ctx, t0.Add(10*time.Hour), 2, 1); err != nil || n != 0 {
		t.Errorf("RunPrune again = %d, %v; want nothing more due", n, err)
	}
}

func testLogPrune(t *testing.T, s store.Store) {
	ctx := context.Background()
	var q seq
	r1 := q.finished(t, s, "logs", 1)
	r2 := q.run("logs", job.StateFailed)
	at2 := t0.Add(2 * time.Hour)
	r2.FinishedAt = &at2
	r2 = create(t, s, r2) // finished without output
	r3 := q.finished(t, s, "logs", 3)
	r4 := create(t, s, q.run("logs", job.StateRunning))
	if err := s.LogAppend(ctx, r4.ID, []byte("still going\n")); err != nil {
		t.Fatal(err)
	}
	r5 := q.finished(t, s, "logs", 5)

	note := job.Event{Time: t0.Add(100 * time.Hour), Reason: job.ReasonLogsExpired, Message: "output removed"}
	step := func(cursor string, before time.Time, want int) string {
		t.Helper()
		next, n, err := s.LogPrune(ctx, cursor, before, 2, note)
		if err != nil || n != want {
			t.Fatalf("LogPrune(%q, %v) took %d runs, err %v; want %d", cursor, before, n, err, want)
		}
		if n == 0 && next != cursor {
			t.Errorf("LogPrune with nothing to take moved the cursor from %q to %q", cursor, next)
		}
		return next
	}
	c := step("", t0.Add(4*time.Hour), 2)
	c = step(c, t0.Add(4*time.Hour), 1)
	c = step(c, t0.Add(4*time.Hour), 0)

	logged := func() []bool {
		var out []bool
		for _, r := range []job.Run{r1, r2, r3, r4, r5} {
			log, err := s.LogRead(ctx, r.ID, 0, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, len(log) > 0)
		}
		return out
	}
	if diff := cmp.Diff([]bool{false, false, false, true, true}, logged()); diff != "" {
		t.Errorf("logs kept (-want +got):\n%s", diff)
	}
	expired := func(r job.Run) []job.Event {
		t.Helper()
		evs, err := s.EventList(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		var out []job.Event
		for _, ev := range evs {
			if ev.Reason == note.Reason {
				ev.ID = 0
				out = append(out, ev)
			}
		}
		return out
	}
	want := []job.Event{{RunID: r1.ID, Time: note.Time, State: job.StateSucceeded, Reason: note.Reason, Message: note.Message}}
	if diff := cmp.Diff(want, expired(r1)); diff != "" {
		t.Errorf("event of a run whose log went (-want +got):\n%s", diff)
	}
	if evs := expired(r2); len(evs) != 0 {
		t.Errorf("a run without a log got %v", evs)
	}

	// The cursor carries on where the last pass stopped.
	step(c, t0.Add(6*time.Hour), 1)
	if diff := cmp.Diff([]bool{false, false, false, true, false}, logged()); diff != "" {
		t.Errorf("logs kept after the second pass (-want +got):\n%s", diff)
	}
	if evs := expired(r3); len(evs) != 1 {
		t.Errorf("run 3 has %d expiry events, want 1", len(evs))
	}
}
