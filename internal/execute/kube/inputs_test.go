package kube

import (
	"context"
	"testing"
	"time"

	"docket.dev/docket/internal/job"
)

// TestInputsRefused: a run with input files fails InputsUnavailable at once, naming the
// file, and no Job is created: the executor places no files yet, and a run must not start
// without them.
func TestInputsRefused(t *testing.T) {
	t.Parallel()
	f := setup(t, Options{})
	id := job.NewRunID(time.Now())
	x := job.Execution{
		Run: job.Run{ID: id, Job: "nightly", Attempt: 1}, Image: "busybox", Command: []string{"true"},
		CPU: "100m", Memory: "64Mi", Deadline: time.Minute, Env: map[string]string{"DOCKET_RUN_ID": id},
		Inputs: []job.File{{Path: "data/a.csv", SHA256: "ab", Size: 1}},
	}
	if err := f.e.Start(context.Background(), x); err != nil {
		t.Fatal(err)
	}
	f.waitReason(id, string(job.ReasonInputsUnavailable))
	if f.jobExists(Name(id)) {
		t.Errorf("Job %s was created for a run whose files were not placed", Name(id))
	}
}
