package group

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"docket.dev/docket/internal/job"
)

// workflow is the pipeline: extract -> train -> evaluate-a, evaluate-b -> publish
// -> notify (always).
func workflow() job.Spec {
	return job.Spec{Name: "nightly", Image: "busybox", CPU: "1", Memory: "1Gi", Steps: []job.Step{
		{Name: "extract"},
		{Name: "train", Needs: []string{"extract"}},
		{Name: "evaluate-a", Needs: []string{"train"}},
		{Name: "evaluate-b", Needs: []string{"train"}},
		{Name: "publish", Needs: []string{"evaluate-a", "evaluate-b"}},
		{Name: "notify", Needs: []string{"publish"}, When: job.WhenAlways},
	}}
}

func TestExpand(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)
	parent := job.Run{ID: "p", Job: "nightly", Revision: 2, State: job.StateQueued, CreatedAt: now, Exclusive: true, Env: map[string]string{"A": "1"}}
	children, events := Expand(&parent, workflow(), 0, nil)
	if parent.Kind != job.KindWorkflow || parent.Group == nil || parent.Group.Size != 6 {
		t.Fatalf("parent %+v; want a workflow of 6 steps", parent)
	}
	var got []string
	for i, c := range children {
		got = append(got, c.Step+" "+string(c.State))
		if c.Parent != "p" || c.Revision != 2 || c.Attempt != 1 || !c.Exclusive || c.Env["A"] != "1" || c.Trigger != job.TriggerGroup {
			t.Errorf("child %+v does not carry its parent's run", c)
		}
		if events[i].RunID != c.ID || events[i].State != c.State {
			t.Errorf("event %+v is not child %s's first", events[i], c.ID)
		}
	}
	want := []string{"extract queued", "train waiting", "evaluate-a waiting", "evaluate-b waiting", "publish waiting", "notify waiting"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("children (-want +got):\n%s", diff)
	}
	if !children[5].Always || children[4].Always {
		t.Error("only notify runs always")
	}

	arr := job.Run{ID: "a", Job: "score", State: job.StateQueued, CreatedAt: now}
	spec := job.Spec{Name: "score", Parallelism: 2}
	tasks, _ := Expand(&arr, spec, 0, []string{"x.csv", "y.csv", "z.csv"})
	if arr.Kind != job.KindArray || arr.Group.Size != 3 || arr.Group.Parallelism != 2 || len(tasks) != 3 {
		t.Fatalf("array %+v with %d tasks; want 3 tasks, parallelism 2", arr, len(tasks))
	}
	for i, c := range tasks {
		if *c.TaskIndex != i || c.Input != []string{"x.csv", "y.csv", "z.csv"}[i] || c.State != job.StateQueued {
			t.Errorf("task %d: %+v", i, c)
		}
	}
	plain := job.Run{ID: "r", CreatedAt: now}
	if c, _ := Expand(&plain, job.Spec{Name: "plain"}, 0, nil); c != nil || plain.Kind != job.KindRun {
		t.Errorf("a plain job's run became %+v with children %v", plain, c)
	}
}

func TestRelease(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)
	parent := job.Run{ID: "p", CreatedAt: now}
	children, _ := Expand(&parent, workflow(), 0, nil)
	state := func(states map[string]job.State) map[string]job.Run {
		latest := Latest(children)
		for step, st := range states {
			r := latest[step]
			r.State = st
			latest[step] = r
		}
		return latest
	}
	type change struct {
		Step, To string
		Reason   job.Reason
		Message  string
	}
	tests := []struct {
		name   string
		states map[string]job.State
		by     string
		want   []change
	}{
		{"nothing ended", map[string]job.State{"extract": job.StateRunning}, "", nil},
		{"a need succeeded", map[string]job.State{"extract": job.StateSucceeded}, "",
			[]change{{"train", "queued", job.ReasonReady, "queued: its needs succeeded"}}},
		{"one of two needs ended", map[string]job.State{"extract": job.StateSucceeded, "train": job.StateSucceeded,
			"evaluate-a": job.StateSucceeded, "evaluate-b": job.StateRunning}, "", nil},
		{"a need failed", map[string]job.State{"extract": job.StateSucceeded, "train": job.StateFailed}, "", []change{
			{"evaluate-a", "skipped", job.ReasonUpstreamFailed, "not run: step train failed"},
			{"evaluate-b", "skipped", job.ReasonUpstreamFailed, "not run: step train failed"}}},
		{"always runs after a failure", map[string]job.State{"extract": job.StateSucceeded, "train": job.StateSucceeded,
			"evaluate-a": job.StateSucceeded, "evaluate-b": job.StateSucceeded, "publish": job.StateCancelled}, "",
			[]change{{"notify", "queued", job.ReasonReady, "queued: its needs ended (step publish was cancelled), and it runs always"}}},
		{"a need skipped", map[string]job.State{"extract": job.StateSucceeded, "train": job.StateSucceeded,
			"evaluate-a": job.StateSkipped, "evaluate-b": job.StateSucceeded}, "",
			[]change{{"publish", "skipped", job.ReasonUpstreamFailed, "not run: step evaluate-a was skipped"}}},
		{"cancelled", map[string]job.State{"extract": job.StateRunning}, "ana", []change{
			{"evaluate-a", "skipped", job.ReasonCancelled, "not run: the workflow was cancelled by ana"},
			{"evaluate-b", "skipped", job.ReasonCancelled, "not run: the workflow was cancelled by ana"},
			{"publish", "skipped", job.ReasonCancelled, "not run: the workflow was cancelled by ana"},
			{"train", "skipped", job.ReasonCancelled, "not run: the workflow was cancelled by ana"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			latest := state(tt.states)
			var got []change
			for _, c := range Release(latest, tt.by) {
				var step string
				for s, r := range latest {
					if r.ID == c.RunID {
						step = s
					}
				}
				if c.From != job.StateWaiting {
					t.Errorf("change of %s from %s; want from waiting", step, c.From)
				}
				got = append(got, change{step, string(c.To), c.Reason, c.Message})
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOutcome(t *testing.T) {
	t.Parallel()
	two := 2
	tests := []struct {
		name    string
		kind    job.Kind
		g       job.Group
		by      string
		failed  []job.Run
		state   job.State
		reason  job.Reason
		message string
	}{
		{"all succeeded", job.KindWorkflow, job.Group{Size: 3, Ended: 3, Succeeded: 3}, "", nil,
			job.StateSucceeded, "Completed", "3/3 steps succeeded"},
		{"a step failed", job.KindWorkflow, job.Group{Size: 6, Ended: 6, Succeeded: 2, Failed: 1}, "",
			[]job.Run{{Step: "train", Message: "exited with code 1"}},
			job.StateFailed, "StepFailed", "2/6 steps succeeded, 1 failed, 3 cancelled or skipped; step train: exited with code 1"},
		{"cancelled", job.KindWorkflow, job.Group{Size: 2, Ended: 2, Succeeded: 1}, "ana", nil,
			job.StateCancelled, "Cancelled", "cancelled by ana; 1/2 steps succeeded, 1 cancelled or skipped"},
		{"array within its tolerance", job.KindArray, job.Group{Size: 10, Ended: 10, Succeeded: 8, Failed: 2, MaxFailed: &two}, "", nil,
			job.StateSucceeded, "Completed", "8/10 tasks succeeded, 2 failed"},
		{"array past its tolerance", job.KindArray, job.Group{Size: 10, Ended: 10, Succeeded: 5, Failed: 3, MaxFailed: &two}, "",
			[]job.Run{{TaskIndex: ptr(3), Message: "exited with code 2"}},
			job.StateFailed, "TasksFailed", "5/10 tasks succeeded, 3 failed, 2 cancelled or skipped; task 3: exited with code 2; and 2 more"},
		{"array without a tolerance", job.KindArray, job.Group{Size: 2, Ended: 2, Succeeded: 1, Failed: 1}, "", nil,
			job.StateFailed, "TasksFailed", "1/2 tasks succeeded, 1 failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := tt.g
			state, reason, msg := Outcome(job.Run{Kind: tt.kind, Group: &g, CancelledBy: tt.by}, tt.failed, g.Failed)
			if state != tt.state || reason != tt.reason || msg != tt.message {
				t.Errorf("Outcome = %s %s %q; want %s %s %q", state, reason, msg, tt.state, tt.reason, tt.message)
			}
		})
	}
}

func TestOverflowing(t *testing.T) {
	t.Parallel()
	one := 1
	for _, tt := range []struct {
		g    job.Group
		want bool
	}{
		{job.Group{Failed: 1, MaxFailed: &one}, false},
		{job.Group{Failed: 2, MaxFailed: &one}, true},
		{job.Group{Failed: 50}, false},
	} {
		if got := Overflowing(tt.g); got != tt.want {
			t.Errorf("Overflowing(%+v) = %v, want %v", tt.g, got, tt.want)
		}
	}
}

func ptr(i int) *int { return &i }

func TestReleaseWaiter(t *testing.T) {
	t.Parallel()
	w := job.Run{ID: "w", State: job.StateWaiting, WaitsFor: []string{"a", "b"}}
	run := func(id string, s job.State) job.Run { return job.Run{ID: id, State: s} }
	for _, tc := range []struct {
		name   string
		newest map[string]job.Run
		to     job.State
		msg    string
	}{
		{"both succeeded", map[string]job.Run{"a": run("a", job.StateSucceeded), "b": run("b2", job.StateSucceeded)}, job.StateQueued, "succeeded (a, b)"},
		{"one running", map[string]job.Run{"a": run("a", job.StateSucceeded), "b": run("b", job.StateRunning)}, "", ""},
		{"one failed, one running", map[string]job.Run{"a": run("a", job.StateRunning), "b": run("b", job.StateFailed)}, job.StateSkipped, "not run: a run it depends on did not succeed: run b failed"},
		{"one cancelled", map[string]job.Run{"a": run("a", job.StateCancelled), "b": run("b", job.StateSucceeded)}, job.StateSkipped, "run a was cancelled"},
		{"one gone", map[string]job.Run{"a": run("a", job.StateSucceeded)}, job.StateSkipped, "run b is gone"},
	} {
		ch, ok := ReleaseWaiter(w, tc.newest)
		if ok != (tc.to != "") || ch.To != tc.to || !strings.Contains(ch.Message, tc.msg) {
			t.Errorf("%s: %+v, %v; want %q with %q", tc.name, ch, ok, tc.to, tc.msg)
		}
	}
	if _, ok := ReleaseWaiter(job.Run{State: job.StateQueued, WaitsFor: []string{"a"}}, nil); ok {
		t.Error("a run that no longer waits was changed")
	}
}
