package group

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"docket.dev/docket/internal/job"
)

// ended returns the children of a workflow run of workflow() that ended as states says
// (by step), train with a failed first attempt retried once.
func ended(t *testing.T, states map[string]job.State) (job.Run, []job.Run) {
	t.Helper()
	now := time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)
	parent := job.Run{ID: "p", Job: "nightly", Revision: 2, State: job.StateFailed, CreatedAt: now, Attempt: 1}
	children, _ := Expand(&parent, workflow(), 0, nil)
	parent.State = job.StateFailed
	for i := range children {
		children[i].State = states[children[i].Step]
		code := 0
		children[i].ExitCode = &code
	}
	retry := children[1].NextAttempt(now, now)
	retry.State, retry.ExitCode = states["train"], children[1].ExitCode
	children[1].State = job.StateFailed
	return parent, append(children, retry)
}

func steps(runs []job.Run) []string {
	var out []string
	for _, r := range runs {
		s := r.Step + " " + string(r.State) + " " + string(r.Reason)
		if r.ReusedFrom != "" {
			s += " reuses"
		}
		out = append(out, s)
	}
	return out
}

func TestResume(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	failed := map[string]job.State{"extract": job.StateSucceeded, "train": job.StateFailed, "evaluate-a": job.StateSkipped,
		"evaluate-b": job.StateSkipped, "publish": job.StateSkipped, "notify": job.StateSucceeded}
	tests := []struct {
		name   string
		states map[string]job.State
		from   string
		want   []string
	}{
		{"failed train", failed, "", []string{"extract succeeded Reused reuses", "train queued Ready", "evaluate-a waiting Waiting",
			"evaluate-b waiting Waiting", "publish waiting Waiting", "notify waiting Waiting"}},
		{"from extract", failed, "extract", []string{"extract queued Queued", "train waiting Waiting", "evaluate-a waiting Waiting",
			"evaluate-b waiting Waiting", "publish waiting Waiting", "notify waiting Waiting"}},
		{"from evaluate-b of a success", map[string]job.State{"extract": job.StateSucceeded, "train": job.StateSucceeded, "evaluate-a": job.StateSucceeded,
			"evaluate-b": job.StateSucceeded, "publish": job.StateSucceeded, "notify": job.StateSucceeded}, "evaluate-b",
			[]string{"extract succeeded Reused reuses", "train succeeded Reused reuses", "evaluate-a succeeded Reused reuses",
				"evaluate-b queued Ready", "publish waiting Waiting", "notify waiting Waiting"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			old, children := ended(t, tt.states)
			var again map[string]bool
			if tt.from != "" {
				again = Downstream(children, tt.from)
			}
			parent, runs, events := Resume(old, children, again, now)
			if diff := cmp.Diff(tt.want, steps(runs)); diff != "" {
				t.Errorf("children (-want +got):\n%s", diff)
			}
			reused := 0
			for i, r := range runs {
				if r.Parent != parent.ID || r.Attempt != 1 || r.Revision != 2 || r.Trigger != job.TriggerGroup {
					t.Errorf("child %+v is not a first attempt of the new run", r)
				}
				if r.ReusedFrom != "" {
					reused++
					if r.ExitCode == nil || r.FinishedAt != nil && r.FinishedAt.IsZero() {
						t.Errorf("reused %s lost its exit code", r.Step)
					}
				}
				if events[i+1].RunID != r.ID || events[i+1].State != r.State {
					t.Errorf("event %d %+v is not %s's first", i+1, events[i+1], r.Step)
				}
			}
			if parent.ResumedFrom != "p" || parent.Kind != job.KindWorkflow || parent.State != job.StateQueued || parent.Reason != job.ReasonResumed ||
				parent.Group.Size != 6 || parent.Group.Ended != reused || parent.Group.Succeeded != reused || events[0].RunID != parent.ID {
				t.Errorf("parent %+v, group %+v; want a queued workflow run resuming p with %d carried over", parent, parent.Group, reused)
			}
		})
	}
}

func TestResumeArray(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)
	max := 1
	old := job.Run{ID: "a", Job: "score", State: job.StateQueued, CreatedAt: now, Attempt: 1,
		Overrides: &job.Overrides{Command: []string{"score", "--fast"}}, Queue: "gpu", Priority: 7, Params: map[string]string{"day": "mon"}}
	tasks, _ := Expand(&old, job.Spec{Name: "score", MaxFailed: &max}, 4, nil)
	old.State = job.StateFailed
	for i, s := range []job.State{job.StateSucceeded, job.StateFailed, job.StateSucceeded, job.StateCancelled} {
		tasks[i].State = s
	}
	parent, runs, _ := Resume(old, tasks, nil, now)
	var got []string
	for _, r := range runs {
		got = append(got, string(r.State)+" "+r.Key())
	}
	if diff := cmp.Diff([]string{"succeeded 0", "queued 1", "succeeded 2", "queued 3"}, got); diff != "" {
		t.Errorf("tasks (-want +got):\n%s", diff)
	}
	if parent.Kind != job.KindArray || *parent.Group.MaxFailed != 1 || parent.Group.Succeeded != 2 {
		t.Errorf("parent group %+v", parent.Group)
	}
	// A submission's overrides (the AWS Batch face's containerOverrides), queue, priority
	// and params hold for the resumed run and its tasks as for the first.
	for _, r := range []job.Run{parent, runs[1]} {
		if r.Overrides != old.Overrides || r.Queue != "gpu" || r.Priority != 7 || r.Params["day"] != "mon" {
			t.Errorf("run %s of the resumed array: overrides %v, queue %q, priority %d, params %v", r.Key(), r.Overrides, r.Queue, r.Priority, r.Params)
		}
	}
}

// TestResumeKeepsQueueAndParams: a resumed array runs in the queue, at the priority and
// with the params the run it resumes had, and so do its tasks.
func TestResumeKeepsQueueAndParams(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)
	old := job.Run{ID: "p", Job: "score", Revision: 1, State: job.StateFailed, CreatedAt: now, Attempt: 1,
		Queue: "gpu", Priority: 700, Params: map[string]string{"lr": "0.1"}}
	children, _ := Expand(&old, job.Spec{}, 2, nil)
	old.State = job.StateFailed
	children[0].State, children[1].State = job.StateSucceeded, job.StateFailed
	parent, runs, _ := Resume(old, children, nil, now.Add(time.Hour))
	for _, r := range append([]job.Run{parent}, runs...) {
		if r.Queue != "gpu" || r.Priority != 700 || r.Params["lr"] != "0.1" {
			t.Errorf("%s %s: queue %q, priority %d, params %v; want gpu, 700, lr=0.1", r.Kind, r.Key(), r.Queue, r.Priority, r.Params)
		}
	}
}
