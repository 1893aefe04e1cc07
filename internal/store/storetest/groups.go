package storetest

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"docket.dev/docket/internal/group"
	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
)

// pipeline is a workflow: extract -> train -> evaluate-a, evaluate-b -> publish -> notify
// (always).
func pipeline(name string) job.Spec {
	sp := spec(name)
	sp.Steps = []job.Step{
		{Name: "extract"},
		{Name: "train", Needs: []string{"extract"}},
		{Name: "evaluate-a", Needs: []string{"train"}},
		{Name: "evaluate-b", Needs: []string{"train"}},
		{Name: "publish", Needs: []string{"evaluate-a", "evaluate-b"}},
		{Name: "notify", Needs: []string{"publish"}, When: job.WhenAlways},
	}
	return sp
}

// createGroup stores a new group run of sp (tasks for an array) with its children.
func createGroup(t *testing.T, s store.Store, q *seq, sp job.Spec, tasks int) (job.Run, []job.Run) {
	t.Helper()
	put(t, s, sp, t0)
	parent := q.run(sp.Name, job.StateQueued)
	parent.Exclusive = sp.Concurrency == job.ConcurrencyForbid
	children, events := group.Expand(&parent, sp, tasks, nil)
	events = append([]job.Event{firstEvent(parent)}, events...)
	stored, created, err := s.RunCreateGroup(context.Background(), parent, children, events)
	if err != nil || !created {
		t.Fatalf("RunCreateGroup: created %v, err %v", created, err)
	}
	return stored, children
}

// end moves a claimed run to a terminal state, as its executor's report would.
func end(t *testing.T, s store.Store, r job.Run, to job.State, then *job.Run) {
	t.Helper()
	if _, err := s.RunTransition(context.Background(), job.Transition{RunID: r.ID, From: job.StateDispatched, To: to, Time: t0, Reason: "Done", Message: "ended " + string(to), Then: then}); err != nil {
		t.Fatalf("end %s (%s): %v", r.ID, r.Key(), err)
	}
}

// stepStates is every step's newest attempt's state, and the group's state and counts.
func stepStates(t *testing.T, s store.Store, parent job.Run) []string {
	t.Helper()
	runs, _, err := s.RunList(context.Background(), store.RunFilter{Job: parent.Job, Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	var children []job.Run
	var out []string
	for _, r := range runs {
		switch {
		case r.ID == parent.ID:
			g := r.Group
			out = append(out, fmt.Sprintf("group %s %d/%d ended, %d succeeded, %d failed", r.State, g.Ended, g.Size, g.Succeeded, g.Failed))
		case r.Parent == parent.ID:
			children = append(children, r)
		}
	}
	for key, r := range group.Latest(children) {
		out = append(out, key+" "+string(r.State))
	}
	sort.Strings(out)
	return out
}

func claimKeys(t *testing.T, s store.Store, limit int) []job.Run {
	t.Helper()
	runs, err := s.RunClaim(context.Background(), "w", t0.Add(time.Minute), limit)
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(runs, func(i, j int) bool { return runs[i].Key() < runs[j].Key() })
	return runs
}

func keys(runs []job.Run) []string {
	out := []string{}
	for _, r := range runs {
		out = append(out, r.Key())
	}
	return out
}

// testGroupWorkflow runs a workflow whose train step fails: each step is claimed once its
// needs succeeded, train's failure skips what needs it but not notify (always), and the
// group ends failed with its counts once notify has run.
func testGroupWorkflow(t *testing.T, s store.Store) {
	var q seq
	parent, _ := createGroup(t, s, &q, pipeline("wf"), 0)
	got := claimKeys(t, s, 10)
	if diff := cmp.Diff([]string{"extract"}, keys(got)); diff != "" {
		t.Fatalf("first claim (-want +got):\n%s", diff)
	}
	if p := mustGet(t, s, parent.ID); p.State != job.StateRunning || p.StartedAt == nil {
		t.Errorf("group is %s (started %v) once a step is claimed; want running", p.State, p.StartedAt)
	}
	end(t, s, got[0], job.StateSucceeded, nil)
	got = claimKeys(t, s, 10)
	if diff := cmp.Diff([]string{"train"}, keys(got)); diff != "" {
		t.Fatalf("after extract (-want +got):\n%s", diff)
	}
	end(t, s, got[0], job.StateFailed, nil)
	want := []string{
		"evaluate-a skipped", "evaluate-b skipped", "extract succeeded",
		"group running 5/6 ended, 1 succeeded, 1 failed",
		"notify queued", "publish skipped", "train failed",
	}
	if diff := cmp.Diff(want, stepStates(t, s, parent)); diff != "" {
		t.Errorf("after train failed (-want +got):\n%s", diff)
	}
	got = claimKeys(t, s, 10)
	if diff := cmp.Diff([]string{"notify"}, keys(got)); diff != "" {
		t.Fatalf("after train failed, claimed (-want +got):\n%s", diff)
	}
	evs, _ := s.EventList(context.Background(), got[0].ID)
	if evs[1].Reason != job.ReasonReady {
		t.Errorf("notify's events %+v; want it released", evs)
	}
	end(t, s, got[0], job.StateSucceeded, nil)
	p := mustGet(t, s, parent.ID)
	if p.State != job.StateFailed || p.Reason != "StepFailed" || p.FinishedAt == nil ||
		p.Message != "2/6 steps succeeded, 1 failed, 3 cancelled or skipped; step train: ended failed" {
		t.Errorf("group ended %s %s %q", p.State, p.Reason, p.Message)
	}
	if n, err := s.GroupReconcile(context.Background(), t0); err != nil || n != 0 {
		t.Errorf("GroupReconcile changed %d groups, err %v; want none", n, err)
	}
}

// testGroupRetry: a step that fails with a retry to come has not ended; its retry, the
// same step of the same group, ends it.
func testGroupRetry(t *testing.T, s store.Store) {
	var q seq
	sp := pipeline("wf-retry")
	sp.Steps = sp.Steps[:2] // extract -> train
	parent, _ := createGroup(t, s, &q, sp, 0)
	first := claimKeys(t, s, 10)[0]
	retry := q.run("wf-retry", job.StateQueued)
	retry.Trigger, retry.Attempt, retry.RetryOf = job.TriggerRetry, 2, first.ID
	retry.Parent, retry.Step = first.Parent, first.Step
	end(t, s, first, job.StateFailed, &retry)
	want := []string{"extract queued", "group running 0/2 ended, 0 succeeded, 0 failed", "train waiting"}
	if diff := cmp.Diff(want, stepStates(t, s, parent)); diff != "" {
		t.Errorf("after a failure with a retry (-want +got):\n%s", diff)
	}
	again := claimKeys(t, s, 10)
	if len(again) != 1 || again[0].ID != retry.ID {
		t.Fatalf("claimed %v; want the retry", keys(again))
	}
	end(t, s, again[0], job.StateSucceeded, nil)
	if got := claimKeys(t, s, 10); len(got) != 1 || got[0].Step != "train" {
		t.Errorf("after the retry succeeded, claimed %v; want train", keys(got))
	}
}

// testGroupArray: an array's parallelism caps its running tasks across claims; past
// max_failed failed tasks the queued ones are cancelled, the running ones asked to stop,
// and the array fails once they have.
func testGroupArray(t *testing.T, s store.Store) {
	var q seq
	sp := spec("arr")
	one := 1
	sp.Parallelism, sp.MaxFailed = 2, &one
	parent, tasks := createGroup(t, s, &q, sp, 6)
	got := claimKeys(t, s, 10)
	if diff := cmp.Diff([]string{"0", "1"}, keys(got)); diff != "" {
		t.Fatalf("first claim within parallelism 2 (-want +got):\n%s", diff)
	}
	if more := claimKeys(t, s, 10); len(more) != 0 {
		t.Errorf("claimed %v beyond the parallelism", keys(more))
	}
	end(t, s, got[0], job.StateFailed, nil) // one failure is tolerated
	next := claimKeys(t, s, 10)
	if diff := cmp.Diff([]string{"2"}, keys(next)); diff != "" {
		t.Fatalf("after a task ended (-want +got):\n%s", diff)
	}
	end(t, s, next[0], job.StateFailed, nil) // the second is one too many
	want := []string{"0 failed", "1 dispatched", "2 failed", "3 cancelled", "4 cancelled", "5 cancelled",
		"group running 5/6 ended, 0 succeeded, 2 failed"}
	if diff := cmp.Diff(want, stepStates(t, s, parent)); diff != "" {
		t.Errorf("after too many failed (-want +got):\n%s", diff)
	}
	stop, err := s.RunCancelRequested(context.Background(), "w")
	if err != nil || len(stop) != 1 || stop[0].ID != got[1].ID || stop[0].CancelledBy == "" {
		t.Fatalf("runs to stop %+v, err %v; want task 1 with a request", stop, err)
	}
	// A queued task cancelled says why in the words a stopped one will.
	if r := mustGet(t, s, tasks[3].ID); r.Reason != job.ReasonMaxFailed || r.Message != "cancelled by "+stop[0].CancelledBy {
		t.Errorf("task 3: %s %q; want MaxFailed, cancelled by %s", r.Reason, r.Message, stop[0].CancelledBy)
	}
	end(t, s, got[1], job.StateCancelled, nil)
	if p := mustGet(t, s, parent.ID); p.State != job.StateFailed || p.Reason != "TasksFailed" {
		t.Errorf("array ended %s %s %q; want failed", p.State, p.Reason, p.Message)
	}
}

// testGroupCancel cancels a workflow while its first step runs: waiting steps are skipped
// at once, the running one asked to stop; notify (always) still runs, as soon as what it
// needs has ended (publish, skipped), and the group ends cancelled once all have.
func testGroupCancel(t *testing.T, s store.Store) {
	ctx := context.Background()
	var q seq
	parent, _ := createGroup(t, s, &q, pipeline("wf-cancel"), 0)
	extract := claimKeys(t, s, 10)[0]
	if _, err := s.RunCancelGroup(ctx, parent.ID, "ana", t0); err != nil {
		t.Fatal(err)
	}
	want := []string{"evaluate-a skipped", "evaluate-b skipped", "extract dispatched",
		"group running 4/6 ended, 0 succeeded, 0 failed", "notify queued", "publish skipped", "train skipped"}
	if diff := cmp.Diff(want, stepStates(t, s, parent)); diff != "" {
		t.Errorf("after the cancel (-want +got):\n%s", diff)
	}
	if stop, _ := s.RunCancelRequested(ctx, "w"); len(stop) != 1 || stop[0].ID != extract.ID || stop[0].CancelledBy != "ana" {
		t.Errorf("runs to stop: %+v; want extract, by ana", stop)
	}
	end(t, s, extract, job.StateCancelled, nil)
	if p := mustGet(t, s, parent.ID); p.State != job.StateRunning {
		t.Errorf("group is %s while notify has still to run", p.State)
	}
	notify := claimKeys(t, s, 10)
	if diff := cmp.Diff([]string{"notify"}, keys(notify)); diff != "" {
		t.Fatalf("claimed after the cancel (-want +got):\n%s", diff)
	}
	end(t, s, notify[0], job.StateSucceeded, nil)
	if p := mustGet(t, s, parent.ID); p.State != job.StateCancelled || p.Message != "cancelled by ana; 1/6 steps succeeded, 5 cancelled or skipped" {
		t.Errorf("group ended %s %q", p.State, p.Message)
	}
	if _, err := s.RunCancelGroup(ctx, parent.ID, "ana", t0); err == nil {
		t.Error("cancel of an ended group: no error")
	}
}

// testGroupExclusive: the steps of one run of a forbid job run side by side, a step
// released once its group runs included; another run of the job waits until the first
// has ended.
func testGroupExclusive(t *testing.T, s store.Store) {
	var q seq
	sp := spec("solo-wf")
	sp.Concurrency = job.ConcurrencyForbid
	sp.Steps = []job.Step{{Name: "a"}, {Name: "b"}, {Name: "c", Needs: []string{"a"}}}
	first, _ := createGroup(t, s, &q, sp, 0)
	second, _ := createGroup(t, s, &q, sp, 0)
	got := claimKeys(t, s, 10)
	if len(got) != 2 || got[0].Parent != first.ID || got[1].Parent != first.ID {
		t.Fatalf("claimed %+v; want steps a and b of the first run", got)
	}
	for _, r := range got {
		end(t, s, r, job.StateSucceeded, nil)
	}
	got = claimKeys(t, s, 10)
	if len(got) != 1 || got[0].Parent != first.ID || got[0].Step != "c" {
		t.Fatalf("claimed %v once a ended (its group running); want step c of the first run", keys(got))
	}
	end(t, s, got[0], job.StateSucceeded, nil)
	got = claimKeys(t, s, 10)
	if len(got) != 2 || got[0].Parent != second.ID {
		t.Errorf("claimed %v after the first run ended; want the second run's steps", keys(got))
	}
}

// testGroupConcurrentEnds ends two needs of one step at once, as two servers would: the
// step is released once, whatever the interleaving.
func testGroupConcurrentEnds(t *testing.T, s store.Store) {
	for round := range 5 {
		var q seq
		sp := spec(fmt.Sprintf("join-%d", round))
		sp.Steps = []job.Step{{Name: "a"}, {Name: "b"}, {Name: "c", Needs: []string{"a", "b"}}}
		parent, _ := createGroup(t, s, &q, sp, 0)
		got := claimKeys(t, s, 10)
		var wg sync.WaitGroup
		for _, r := range got {
			wg.Go(func() { end(t, s, r, job.StateSucceeded, nil) })
		}
		wg.Wait()
		want := []string{"a succeeded", "b succeeded", "c queued", "group running 2/3 ended, 2 succeeded, 0 failed"}
		if diff := cmp.Diff(want, stepStates(t, s, parent)); diff != "" {
			t.Fatalf("round %d (-want +got):\n%s", round, diff)
		}
		evs, _ := s.EventList(context.Background(), claimKeys(t, s, 10)[0].ID)
		if len(evs) != 3 {
			t.Errorf("round %d: c's events %+v; want waiting, released once, claimed", round, evs)
		}
	}
}

// testGroupBatchesCross writes, at once, two batches of task ends of two arrays, each
// batch ending a task of one array and then one of the other, in opposite orders: as two
// servers' recorders do when their runs of both arrays end together. Each end locks its
// array's row to count it; taken in the batches' orders, those locks would make the two
// transactions wait for each other (on PostgreSQL a deadlock, found after a second and
// one batch failed). Every round, both batches are written, each array counting its ends.
func testGroupBatchesCross(t *testing.T, s store.Store) {
	const rounds = 12
	var q seq
	sp := spec("cross")
	var tasks [2][]job.Run
	var arrays [2]job.Run
	for i := range arrays {
		sp.Name = fmt.Sprintf("cross-%d", i)
		arrays[i], _ = createGroup(t, s, &q, sp, 2*rounds)
	}
	for _, r := range claimKeys(t, s, 4*rounds) {
		i := slices.IndexFunc(arrays[:], func(a job.Run) bool { return a.ID == r.Parent })
		tasks[i] = append(tasks[i], r)
	}
	if len(tasks[0]) != 2*rounds || len(tasks[1]) != 2*rounds {
		t.Fatalf("claimed %d and %d tasks; want %d of each", len(tasks[0]), len(tasks[1]), 2*rounds)
	}
	for round := range rounds {
		a, b := 2*round, 2*round+1
		errs := atOnce(
			transitions(s, succeeded(tasks[0][a]), succeeded(tasks[1][a])),
			transitions(s, succeeded(tasks[1][b]), succeeded(tasks[0][b])))
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d, batch %d: %v", round, i, err)
			}
		}
	}
	for _, a := range arrays {
		if g := mustGet(t, s, a.ID); g.State != job.StateSucceeded || g.Group.Ended != 2*rounds {
			t.Errorf("array %s: %s, %+v; want succeeded with every task counted", a.Job, g.State, g.Group)
		}
	}
}

// testGroupEndsCross writes, at once, what takes a group's row and its children's rows:
// the end of one task beside a cancel of its array, and beside the failure of another
// task that makes the array cancel the rest (max_failed 0). Each writer must take the
// group's row before its children's, so every round both succeed.
func testGroupEndsCross(t *testing.T, s store.Store) {
	const rounds = 15
	var q seq
	sp := spec("ends-cross")
	zero := 0
	sp.MaxFailed = &zero
	for round := range rounds {
		for _, cancel := range []bool{true, false} {
			array, _ := createGroup(t, s, &q, sp, 2)
			tasks := claimKeys(t, s, 2)
			if len(tasks) != 2 || tasks[0].Parent != array.ID {
				t.Fatalf("round %d: claimed %d tasks of the array", round, len(tasks))
			}
			other := transitions(s, ended(tasks[1], job.StateFailed))
			if cancel {
				other = func() error {
					_, err := s.RunCancelGroup(context.Background(), array.ID, "ana", t0)
					return err
				}
			}
			if errs := atOnce(transitions(s, succeeded(tasks[0])), other); errs[0] != nil || errs[1] != nil {
				t.Fatalf("round %d (cancel %v): the task's end: %v; the other write: %v", round, cancel, errs[0], errs[1])
			}
			// The task left active ends, and the array with it.
			if cancel {
				end(t, s, tasks[1], job.StateCancelled, nil)
			}
			if g := mustGet(t, s, array.ID); !g.State.Terminal() || g.Group.Ended != 2 {
				t.Errorf("round %d (cancel %v): array %s %+v; want it ended with both tasks counted", round, cancel, g.State, g.Group)
			}
		}
	}
}

// testGroupClaimCancelCross claims the first tasks of an array that is still queued
// while the array is cancelled, at once: the claim takes tasks' rows and then starts
// their group, the cancel takes the group's row and then its tasks'. Each claimed task is
// asked to stop, each other one is cancelled, and the array ends once the claimed ones
// have.
func testGroupClaimCancelCross(t *testing.T, s store.Store) {
	const rounds, tasks = 15, 6
	var q seq
	sp := spec("claim-cancel")
	for round := range rounds {
		array, _ := createGroup(t, s, &q, sp, tasks)
		var claimed []job.Run
		claim := func() (err error) {
			claimed, err = s.RunClaim(context.Background(), "w", t0.Add(time.Minute), tasks)
			return err
		}
		cancel := func() error {
			_, err := s.RunCancelGroup(context.Background(), array.ID, "ana", t0)
			return err
		}
		if errs := atOnce(claim, cancel); errs[0] != nil || errs[1] != nil {
			t.Fatalf("round %d: the claim: %v; the cancel: %v", round, errs[0], errs[1])
		}
		for _, r := range claimed {
			if got := mustGet(t, s, r.ID); got.CancelledBy != "ana" {
				t.Errorf("round %d: claimed task %s not asked to stop: %+v", round, r.Key(), got)
			}
			end(t, s, r, job.StateCancelled, nil)
		}
		if g := mustGet(t, s, array.ID); !g.State.Terminal() || g.Group.Ended != tasks {
			t.Errorf("round %d: array %s %+v after %d claimed tasks ended; want it ended with every task counted", round, g.State, g.Group, len(claimed))
		}
	}
}

// testGroupCancelledStep: a workflow that fails because a step was cancelled (none
// failed) names that step and why in its message.
func testGroupCancelledStep(t *testing.T, s store.Store) {
	var q seq
	sp := pipeline("cancelled-step")
	sp.Steps = sp.Steps[:2] // extract -> train
	parent, _ := createGroup(t, s, &q, sp, 0)
	first := claimKeys(t, s, 10)
	if len(first) != 1 || first[0].Step != "extract" {
		t.Fatalf("claimed %v; want extract", keys(first))
	}
	end(t, s, first[0], job.StateCancelled, nil)
	g := mustGet(t, s, parent.ID)
	if g.State != job.StateFailed || !strings.HasSuffix(g.Message, "; step extract: ended cancelled") {
		t.Errorf("the workflow: %s %q; want failed, naming the cancelled step", g.State, g.Message)
	}
	// Past five, the rest are counted.
	array, _ := createGroup(t, s, &q, spec("cancelled-tasks"), 7)
	for _, r := range claimKeys(t, s, 10) {
		end(t, s, r, job.StateCancelled, nil)
	}
	if g := mustGet(t, s, array.ID); g.State != job.StateFailed || !strings.HasSuffix(g.Message, "; task 4: ended cancelled; and 2 more") {
		t.Errorf("the array: %s %q; want failed, naming five cancelled tasks and 2 more", g.State, g.Message)
	}
}

// atOnce runs writes released at one moment, as two servers may write, and returns their
// errors in order.
func atOnce(writes ...func() error) []error {
	start := make(chan struct{})
	errs := make([]error, len(writes))
	var wg sync.WaitGroup
	for i, write := range writes {
		wg.Go(func() {
			<-start
			errs[i] = write()
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// transitions is a write of one batch of state changes, for atOnce.
func transitions(s store.Store, batch ...job.Transition) func() error {
	return func() error {
		_, err := s.RunTransitions(context.Background(), batch)
		return err
	}
}

// ended is the end of a claimed run in state to, as its executor reports it.
func ended(r job.Run, to job.State) job.Transition {
	return job.Transition{RunID: r.ID, From: job.StateDispatched, To: to, Time: t0, Reason: job.ReasonCompleted}
}

// succeeded is the success of a claimed run.
func succeeded(r job.Run) job.Transition { return ended(r, job.StateSucceeded) }
