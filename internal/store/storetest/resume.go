package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"docket.dev/docket/internal/group"
	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
)

// resumePlan is what `docket retry` asks the store for: group.Resume, from a step.
func resumePlan(from string) store.ResumePlan {
	return func(old job.Run, children []job.Run) (job.Run, []job.Run, []job.Event, error) {
		var again map[string]bool
		if from != "" {
			again = group.Downstream(children, from)
		}
		p, runs, evs := group.Resume(old, children, again, t0)
		return p, runs, evs, nil
	}
}

// testGroupResume resumes a workflow whose train step failed: a running workflow is
// refused; the new run carries extract over with its result, runs train and what
// follows again, and leaves the old run as it was; a second resume while the first
// runs is refused.
func testGroupResume(t *testing.T, s store.Store) {
	ctx := context.Background()
	var q seq
	old, _ := createGroup(t, s, &q, pipeline("resumed"), 0)
	got := claimKeys(t, s, 10)
	if _, err := s.RunResume(ctx, old.ID, resumePlan("")); !errors.Is(err, job.ErrConflict) {
		t.Errorf("resume of a running workflow: %v; want a conflict", err)
	}
	if _, err := s.ReportPut(ctx, job.Report{RunID: got[0].ID, Result: json.RawMessage(`{"path":"/data/1"}`), UpdatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	end(t, s, got[0], job.StateSucceeded, nil)
	train := claimKeys(t, s, 10)[0]
	end(t, s, train, job.StateFailed, nil)
	end(t, s, claimKeys(t, s, 10)[0], job.StateSucceeded, nil) // notify
	before := stepStates(t, s, old)

	resumed, err := s.RunResume(ctx, old.ID, resumePlan(""))
	if err != nil {
		t.Fatal(err)
	}
	if resumed.ResumedFrom != old.ID || resumed.State != job.StateQueued || resumed.Kind != job.KindWorkflow {
		t.Errorf("resumed run %+v", resumed)
	}
	want := []string{"evaluate-a waiting", "evaluate-b waiting", "extract succeeded", "group queued 1/6 ended, 1 succeeded, 0 failed",
		"notify waiting", "publish waiting", "train queued"}
	if diff := cmp.Diff(want, stepStates(t, s, resumed)); diff != "" {
		t.Errorf("resumed run (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(before, stepStates(t, s, old)); diff != "" {
		t.Errorf("the old run changed (-before +after):\n%s", diff)
	}
	results, err := s.ReportStepResults(ctx, resumed.ID)
	if err != nil || string(results["extract"]) != `{"path":"/data/1"}` {
		t.Errorf("results of the resumed run: %s, %v; want extract's carried over", results, err)
	}
	if _, err := s.RunResume(ctx, old.ID, resumePlan("")); !errors.Is(err, job.ErrConflict) {
		t.Errorf("a second resume while the first runs: %v; want a conflict", err)
	}
	// The resumed run goes on as a new one: train, then what follows.
	got = claimKeys(t, s, 10)
	if diff := cmp.Diff([]string{"train"}, keys(got)); diff != "" {
		t.Fatalf("resumed run claimed (-want +got):\n%s", diff)
	}
	for _, step := range [][]string{{"train"}, {"evaluate-a", "evaluate-b"}, {"publish"}, {"notify"}} {
		if step[0] != "train" {
			got = claimKeys(t, s, 10)
		}
		if diff := cmp.Diff(step, keys(got)); diff != "" {
			t.Fatalf("claimed (-want +got):\n%s", diff)
		}
		for _, r := range got {
			end(t, s, r, job.StateSucceeded, nil)
		}
	}
	if p := mustGet(t, s, resumed.ID); p.State != job.StateSucceeded {
		t.Errorf("resumed run ended %s: %s", p.State, p.Message)
	}
	// From a step of a run that succeeded: that step and what follows run again.
	again, err := s.RunResume(ctx, resumed.ID, resumePlan("publish"))
	if err != nil {
		t.Fatal(err)
	}
	want = []string{"evaluate-a succeeded", "evaluate-b succeeded", "extract succeeded", "group queued 4/6 ended, 4 succeeded, 0 failed",
		"notify waiting", "publish queued", "train succeeded"}
	if diff := cmp.Diff(want, stepStates(t, s, again)); diff != "" {
		t.Errorf("resumed from publish (-want +got):\n%s", diff)
	}
	if _, err := s.RunResume(ctx, got[0].ID, resumePlan("")); !errors.Is(err, job.ErrConflict) {
		t.Errorf("resume of a step: %v; want a conflict", err)
	}
	if _, err := s.RunResume(ctx, "01900000-0000-7000-8000-00000000dead", resumePlan("")); !errors.Is(err, job.ErrNotFound) {
		t.Errorf("resume of no run: %v; want not found", err)
	}
}

// testResumeGoneQueue: a workflow whose failed step ran in a queue deleted since is not
// resumed, as the step would run again with no limits; once the queue is there again, it is.
func testResumeGoneQueue(t *testing.T, s store.Store) {
	ctx := context.Background()
	putQueue(t, s, job.Queue{Name: "spot", MaxRunning: 1})
	sp := spec("spotty")
	sp.Steps = []job.Step{{Name: "fit", Queue: "spot"}, {Name: "report", Needs: []string{"fit"}}}
	var q seq
	old, _ := createGroup(t, s, &q, sp, 0)
	fit := claimKeys(t, s, 10)
	if diff := cmp.Diff([]string{"fit"}, keys(fit)); diff != "" || fit[0].Queue != "spot" {
		t.Fatalf("claimed (-want +got):\n%s (queue %q)", diff, fit[0].Queue)
	}
	end(t, s, fit[0], job.StateFailed, nil)
	if p := mustGet(t, s, old.ID); !p.State.Terminal() {
		t.Fatalf("workflow %s after its first step failed; want it ended", p.State)
	}
	sp.Steps[0].Queue = ""
	put(t, s, sp, t0)
	if err := s.QueueDelete(ctx, "spot"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RunResume(ctx, old.ID, resumePlan("")); !errors.Is(err, job.ErrConflict) || !strings.Contains(err.Error(), "queue spot") {
		t.Fatalf("resume of a run whose step's queue is gone: %v; want a conflict naming queue spot", err)
	}
	putQueue(t, s, job.Queue{Name: "spot", MaxRunning: 1})
	if _, err := s.RunResume(ctx, old.ID, resumePlan("")); err != nil {
		t.Fatal(err)
	}
	if got := claimKeys(t, s, 10); len(got) != 1 || got[0].Step != "fit" || got[0].Queue != "spot" {
		t.Errorf("claimed %v after the resume; want step fit in queue spot", keys(got))
	}
}

// testGroupResumeFiles resumes an array whose tasks 1 and 2 failed (task 2 after a retry):
// the new array run has the old one's input files, each task run again has its own (those
// given to the task's first attempt, as its retries do), and task 0, carried over, keeps
// its output file; a retry of a task run again finds its inputs too.
func testGroupResumeFiles(t *testing.T, s store.Store) {
	ctx := context.Background()
	var q seq
	old, children := createGroup(t, s, &q, spec("resume-files"), 3)
	file := func(path string) job.File {
		return job.File{Path: path, SHA256: fmt.Sprintf("%064x", len(path)), Size: int64(len(path)), Mode: 0o644}
	}
	inputs := map[string][]job.File{old.ID: {file("shared.txt")}}
	for i, c := range children {
		inputs[c.ID] = []job.File{file(fmt.Sprintf("task-%d.csv", i))}
	}
	if err := s.RunFilesPut(ctx, store.FileInput, inputs, t0); err != nil {
		t.Fatal(err)
	}
	got := claimKeys(t, s, 10)
	if err := s.RunFilesPut(ctx, store.FileOutput, map[string][]job.File{got[0].ID: {file("out.txt")}}, t0); err != nil {
		t.Fatal(err)
	}
	end(t, s, got[0], job.StateSucceeded, nil)
	end(t, s, got[1], job.StateFailed, nil)
	retry := got[2].NextAttempt(t0, t0)
	end(t, s, got[2], job.StateFailed, &retry)
	end(t, s, claimKeys(t, s, 10)[0], job.StateFailed, nil)

	resumed, err := s.RunResume(ctx, old.ID, resumePlan(""))
	if err != nil {
		t.Fatal(err)
	}
	paths := func(fs []job.File) []string {
		out := []string{}
		for _, f := range fs {
			out = append(out, f.Path)
		}
		return out
	}
	inputsOf := func(r job.Run) []string {
		t.Helper()
		fs, err := store.InputsOf(ctx, s, r)
		if err != nil {
			t.Fatal(err)
		}
		return paths(fs)
	}
	if diff := cmp.Diff([]string{"shared.txt"}, inputsOf(resumed)); diff != "" {
		t.Errorf("the resumed array's inputs (-want +got):\n%s", diff)
	}
	again := claimKeys(t, s, 10)
	if diff := cmp.Diff([]string{"1", "2"}, keys(again)); diff != "" {
		t.Fatalf("claimed (-want +got):\n%s", diff)
	}
	for i, r := range again {
		want := []string{"shared.txt", fmt.Sprintf("task-%d.csv", i+1)}
		if diff := cmp.Diff(want, inputsOf(r)); diff != "" {
			t.Errorf("task %s run again: inputs (-want +got):\n%s", r.Key(), diff)
		}
	}
	trs, err := s.TaskResults(ctx, resumed.ID, -1, 10)
	if err != nil || len(trs) != 3 || trs[0].Run.ReusedFrom != got[0].ID {
		t.Fatalf("tasks of the resumed array: %+v, %v", trs, err)
	}
	outs, err := s.RunFiles(ctx, trs[0].Run.ID, store.FileOutput)
	if diff := cmp.Diff([]string{"out.txt"}, paths(outs)); err != nil || diff != "" {
		t.Errorf("task 0 carried over: output files %v (-want +got):\n%s", err, diff)
	}
	retry = again[1].NextAttempt(t0, t0)
	end(t, s, again[1], job.StateFailed, &retry)
	if diff := cmp.Diff([]string{"shared.txt", "task-2.csv"}, inputsOf(retry)); diff != "" {
		t.Errorf("a retry of task 2 run again: inputs (-want +got):\n%s", diff)
	}
}
