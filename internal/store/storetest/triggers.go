package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
)

// triggered lists the runs of name started by triggers, oldest first, as "KEY STATE".
func triggered(t *testing.T, s store.Store, name string) []string {
	t.Helper()
	runs, _, err := s.RunList(context.Background(), store.RunFilter{Job: name, Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, r := range runs {
		if r.Trigger == job.TriggerAfter {
			out = append(out, fmt.Sprintf("%s %s", r.IdempotencyKey, r.State))
		}
	}
	sort.Strings(out)
	return out
}

// runOnce makes a run of name, claims it and ends it in state to, with no retry.
func runOnce(t *testing.T, s store.Store, q *seq, name string, to job.State) job.Run {
	t.Helper()
	r := create(t, s, q.run(name, job.StateQueued))
	got := claimKeys(t, s, 10)
	if len(got) != 1 || got[0].ID != r.ID {
		t.Fatalf("claimed %d runs; want the run of %s", len(got), name)
	}
	end(t, s, got[0], to, nil)
	return r
}

// testTriggers: a run's end fires the jobs that run after its job, in its transaction,
// once per end (the firing key), and a job that runs after two waits for an end of each.
func testTriggers(t *testing.T, s store.Store) {
	ctx := context.Background()
	var q seq
	put(t, s, spec("load"), t0)
	train := spec("train")
	train.After = []job.After{{Job: "load"}}
	put(t, s, train, t0)
	audit := spec("audit")
	audit.After = []job.After{{Job: "load", On: job.OnFinished}, {Job: "train"}}
	put(t, s, audit, t0)

	load1 := runOnce(t, s, &q, "load", job.StateSucceeded)
	if diff := cmp.Diff([]string{"after:" + load1.ID + " queued"}, triggered(t, s, "train")); diff != "" {
		t.Fatalf("train after load succeeded (-want +got):\n%s", diff)
	}
	if got := triggered(t, s, "audit"); len(got) != 0 {
		t.Errorf("audit fired before train ended: %v", got)
	}
	trainRun := claimKeys(t, s, 10)
	end(t, s, trainRun[0], job.StateSucceeded, nil)
	if diff := cmp.Diff([]string{"after:" + trainRun[0].ID + " queued"}, triggered(t, s, "audit")); diff != "" {
		t.Errorf("audit once load and train ended (-want +got):\n%s", diff)
	}
	claimKeys(t, s, 10) // audit's run, out of the way

	// A failure fires a trigger on finished, not one on succeeded.
	load2 := runOnce(t, s, &q, "load", job.StateFailed)
	if got := triggered(t, s, "train"); len(got) != 1 {
		t.Errorf("train fired on a failed load: %v", got)
	}
	// An end the store holds but no firing does (written by a version without triggers,
	// say) is fired by the reconcile pass, once.
	done := q.run("load", job.StateSucceeded)
	finished := t0.Add(time.Second)
	done.FinishedAt = &finished
	create(t, s, done)
	for i, want := range []int{1, 0} {
		n, err := s.TriggerReconcile(ctx, t0.Add(time.Minute))
		if err != nil || n != want {
			t.Errorf("reconcile pass %d started %d runs (err %v); want %d", i, n, err, want)
		}
	}
	want := []string{"after:" + done.ID + " queued", "after:" + load1.ID + " succeeded"}
	sort.Strings(want)
	if diff := cmp.Diff(want, triggered(t, s, "train")); diff != "" {
		t.Errorf("train (-want +got):\n%s", diff)
	}
	// audit has load's two later ends waiting, and no new end of train: it waits.
	if got := triggered(t, s, "audit"); len(got) != 1 {
		t.Errorf("audit fired without a new end of train: %v (load %s failed)", got, load2.ID)
	}
	// A job applied again without after stops waiting.
	audit.After = nil
	put(t, s, audit, t0)
	train2 := claimKeys(t, s, 10)
	for _, r := range train2 {
		end(t, s, r, job.StateSucceeded, nil)
	}
	if got := triggered(t, s, "audit"); len(got) != 1 {
		t.Errorf("audit, no longer after anything, fired: %v", got)
	}

	// A suspended job records its firing as a skipped run.
	if _, err := s.DefinitionSuspend(ctx, "train", true, t0); err != nil {
		t.Fatal(err)
	}
	load3 := runOnce(t, s, &q, "load", job.StateSucceeded)
	if got := triggered(t, s, "train"); !slices.Contains(got, "after:"+load3.ID+" skipped") {
		t.Errorf("suspended train after load succeeded: %v; want a skipped run", got)
	}
	if _, err := s.DefinitionSuspend(ctx, "train", false, t0); err != nil {
		t.Fatal(err)
	}

	// A workflow's end fires what runs after it (its steps' ends do not); a fired
	// workflow is made with its steps.
	flow := spec("flow")
	flow.Steps = []job.Step{{Name: "only"}}
	report := spec("report")
	report.After = []job.After{{Job: "flow", On: job.OnFailed}}
	report.Steps = []job.Step{{Name: "a"}, {Name: "b", Needs: []string{"a"}}}
	put(t, s, report, t0)
	wf, _ := createGroup(t, s, &q, flow, 0)
	step := claimKeys(t, s, 10)
	if len(step) != 1 || step[0].Parent != wf.ID {
		t.Fatalf("claimed %v; want the workflow's step", keys(step))
	}
	end(t, s, step[0], job.StateFailed, nil)
	if diff := cmp.Diff([]string{"after:" + wf.ID + " queued"}, triggered(t, s, "report")); diff != "" {
		t.Fatalf("report after the workflow failed (-want +got):\n%s", diff)
	}
	if got := keys(claimKeys(t, s, 10)); !cmp.Equal(got, []string{"a"}) {
		t.Errorf("the fired workflow's first claim: %v; want its step a", got)
	}
}

// testTriggersConcurrent ends runs of the two jobs a job runs after at the same moment,
// as two servers would: the job fires once, whatever the interleaving.
func testTriggersConcurrent(t *testing.T, s store.Store) {
	for round := range 5 {
		var q seq
		a, b, c := fmt.Sprintf("a%d", round), fmt.Sprintf("b%d", round), fmt.Sprintf("c%d", round)
		put(t, s, spec(a), t0)
		put(t, s, spec(b), t0)
		down := spec(c)
		down.After = []job.After{{Job: a}, {Job: b}}
		put(t, s, down, t0)
		create(t, s, q.run(a, job.StateQueued))
		create(t, s, q.run(b, job.StateQueued))
		got := claimKeys(t, s, 10)
		if len(got) != 2 {
			t.Fatalf("round %d: claimed %d runs; want a's and b's", round, len(got))
		}
		var wg sync.WaitGroup
		for _, r := range got {
			wg.Go(func() { end(t, s, r, job.StateSucceeded, nil) })
		}
		wg.Wait()
		if n, err := s.TriggerReconcile(context.Background(), t0); err != nil || n != 0 {
			t.Errorf("round %d: reconcile started %d runs (err %v); the ends should have fired already", round, n, err)
		}
		if fired := triggered(t, s, c); len(fired) != 1 {
			t.Errorf("round %d: %s fired %v; want once", round, c, fired)
		}
		claimKeys(t, s, 10) // c's run, out of the way
	}
}

// testTriggerCycle: the store refuses a definition whose after closes a cycle of
// triggers, even when the apply checked it before another apply's trigger was stored, and
// keeps what was stored; a deleted job's triggers close no cycle. Two applies closing one
// cycle between them at once: one of them is refused.
func testTriggerCycle(t *testing.T, s store.Store) {
	ctx := context.Background()
	after := func(name string, ups ...string) job.Spec {
		sp := spec(name)
		for _, u := range ups {
			sp.After = append(sp.After, job.After{Job: u})
		}
		return sp
	}
	put(t, s, spec("a"), t0)
	put(t, s, after("b", "a"), t0)
	put(t, s, after("c", "b"), t0)
	_, _, err := s.DefinitionPut(ctx, after("a", "c"), t0.Add(time.Minute))
	var fe *job.FieldError
	if !errors.As(err, &fe) || fe.Field != "after" {
		t.Fatalf("a after c, which runs after b after a: %v; want a field error on after", err)
	}
	if d, err := s.DefinitionGet(ctx, "a"); err != nil || d.Revision != 1 || len(d.After) != 0 {
		t.Errorf("a after the refused apply: revision %d, after %v (%v); want revision 1 as it was", d.Revision, d.After, err)
	}
	if err := s.DefinitionDelete(ctx, "c", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	put(t, s, after("a", "c"), t0.Add(2*time.Minute)) // c is gone: its after closes nothing
	put(t, s, spec("x"), t0)
	put(t, s, spec("y"), t0)
	errs := make(chan error, 2)
	for _, sp := range []job.Spec{after("x", "y"), after("y", "x")} {
		go func() {
			_, _, err := s.DefinitionPut(ctx, sp, t0.Add(3*time.Minute))
			errs <- err
		}()
	}
	refused := 0
	for range 2 {
		if err := <-errs; errors.As(err, &fe) {
			refused++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if refused != 1 {
		t.Errorf("x after y and y after x applied at once: %d refused; want 1", refused)
	}
}

// putUpstreams puts jobs up-a and up-b, and for each a job named prefix+its name that runs
// after it.
func putUpstreams(t *testing.T, s store.Store, prefix string) {
	t.Helper()
	for _, up := range []string{"up-a", "up-b"} {
		put(t, s, spec(up), t0)
		down := spec(prefix + up)
		down.After = []job.After{{Job: up}}
		put(t, s, down, t0)
	}
}

// testTriggerBatchesCross writes, at once, two batches of ends of two upstream jobs, each
// of which fires a downstream job of its own, the batches ending them in opposite orders
// (as two servers' recorders may). Each end locks the job it fires, so written end by end
// the two batches would take those locks in crossing orders. Every batch must succeed,
// and every end fire its job.
func testTriggerBatchesCross(t *testing.T, s store.Store) {
	const rounds = 12
	var q seq
	putUpstreams(t, s, "after-")
	// Per round, runs of up-a, up-b, up-b, up-a: the first batch ends the first two in
	// id order, the second the last two, so each batch's id order puts another job first.
	var ups []job.Run
	for range rounds {
		for _, up := range []string{"up-a", "up-b", "up-b", "up-a"} {
			ups = append(ups, create(t, s, q.run(up, job.StateQueued)))
		}
	}
	claimed := claimKeys(t, s, len(ups))
	if len(claimed) != len(ups) {
		t.Fatalf("claimed %d runs; want %d", len(claimed), len(ups))
	}
	for round := range rounds {
		r := ups[4*round : 4*round+4]
		errs := atOnce(transitions(s, succeeded(r[0]), succeeded(r[1])), transitions(s, succeeded(r[2]), succeeded(r[3])))
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d, batch %d: %v", round, i, err)
			}
		}
	}
	for _, up := range []string{"up-a", "up-b"} {
		if got := triggered(t, s, "after-"+up); len(got) != 2*rounds {
			t.Errorf("after-%s fired %d times; want %d, once per end of %s", up, len(got), 2*rounds, up)
		}
	}
}

// testSlotsCrossFirings records, at once, a scheduler pass's slots of two jobs and a
// batch of ends that fires the same two jobs (each runs after an upstream job and on a
// schedule). The pass takes the jobs in the order they fell due, the other way round from
// their names; both writers must lock them in one order, so each round both succeed.
func testSlotsCrossFirings(t *testing.T, s store.Store) {
	const rounds = 40
	var q seq
	putUpstreams(t, s, "dn-")
	// Jobs that fell due between the two widen the time the pass holds the first.
	between := make([]string, 30)
	for i := range between {
		between[i] = fmt.Sprintf("due-%02d", i)
		put(t, s, spec(between[i]), t0)
	}
	for round := range rounds {
		ua, ub := create(t, s, q.run("up-a", job.StateQueued)), create(t, s, q.run("up-b", job.StateQueued))
		claimKeys(t, s, 2)
		from, through := t0.Add(time.Duration(round)*time.Minute), t0.Add(time.Duration(round+1)*time.Minute)
		next := through.Add(time.Minute)
		var slots []store.Slots
		for _, name := range slices.Concat([]string{"dn-up-b"}, between, []string{"dn-up-a"}) { // dn-up-b fell due first
			runs, events := slotRuns(name, through)
			slots = append(slots, store.Slots{Job: name, From: from, Through: through, Next: &next, Runs: runs, Events: events})
		}
		errs := atOnce(transitions(s, succeeded(ua), succeeded(ub)), func() error {
			_, err := s.SlotsRecord(context.Background(), store.Fence{}, slots)
			return err
		})
		if errs[0] != nil || errs[1] != nil {
			t.Fatalf("round %d: the batch of ends: %v; the pass's slots: %v", round, errs[0], errs[1])
		}
		claimKeys(t, s, 100) // the runs fired and scheduled, out of the way
	}
	for _, up := range []string{"up-a", "up-b"} {
		if got := triggered(t, s, "dn-"+up); len(got) != rounds {
			t.Errorf("dn-%s fired %d times; want %d", up, len(got), rounds)
		}
	}
}

// testTriggerUpstreamDelete: a job another live job runs after is not deleted (that job
// would never run again): the conflict names it. Once that job is gone, the delete goes
// through.
func testTriggerUpstreamDelete(t *testing.T, s store.Store) {
	ctx := context.Background()
	put(t, s, spec("source"), t0)
	sink := spec("sink")
	sink.After = []job.After{{Job: "source"}}
	put(t, s, sink, t0)
	err := s.DefinitionDelete(ctx, "source", t0)
	if !errors.Is(err, job.ErrConflict) || !strings.Contains(err.Error(), "job sink runs after source") {
		t.Fatalf("delete of a job sink runs after: %v; want a conflict naming sink", err)
	}
	if d, err := s.DefinitionGet(ctx, "source"); err != nil || d.Revision != 1 {
		t.Errorf("the refused delete changed source: %+v %v", d, err)
	}
	if err := s.DefinitionDelete(ctx, "sink", t0); err != nil {
		t.Fatal(err)
	}
	if err := s.DefinitionDelete(ctx, "source", t0); err != nil {
		t.Errorf("delete once nothing runs after it: %v", err)
	}
}
