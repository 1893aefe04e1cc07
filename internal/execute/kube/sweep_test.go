package kube

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"docket.dev/docket/internal/execute/executetest"
	"docket.dev/docket/internal/job"
)

// TestSweep checks that finished Jobs are deleted after the retention, except those
// annotated docket.dev/keep=true.
func TestSweep(t *testing.T) {
	t.Parallel()
	f := setup(t, Options{Retention: time.Second, SweepInterval: time.Hour})
	a := f.start(time.Minute, "100m", nil)
	f.rec.Finish(t, 30*time.Second)
	b := f.start(time.Minute, "100m", nil)
	f.rec.Finish(t, 30*time.Second)
	ctx := context.Background()
	kept, err := f.client.BatchV1().Jobs(f.ns).Get(ctx, Name(b.Run.ID), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	kept.Annotations = map[string]string{AnnotationKeep: "true"}
	if _, err := f.client.BatchV1().Jobs(f.ns).Update(ctx, kept, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // past the retention, and the cache has the annotation
	n, err := f.e.Sweep(ctx)
	if err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want 1 Job deleted", n, err)
	}
	f.waitGone(Name(a.Run.ID))
	if !f.jobExists(Name(b.Run.ID)) {
		t.Error("the Job annotated docket.dev/keep=true was deleted")
	}
}

// TestReap checks that Jobs nobody follows (their server died, or their run is not in the
// store) are deleted, and that others' are left alone: a second executor, as a restarted
// server would, reaps what the first left behind.
func TestReap(t *testing.T) {
	t.Parallel()
	f := setup(t, Options{})
	abandoned := f.start(time.Minute, "100m", map[string]string{"kwok.docket.dev/run-for": "60s"})
	followed := f.start(time.Minute, "100m", map[string]string{"kwok.docket.dev/run-for": "60s"})
	for _, x := range []job.Execution{abandoned, followed} {
		for deadline := time.Now().Add(10 * time.Second); !f.jobExists(Name(x.Run.ID)); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("Job %s was not created", Name(x.Run.ID))
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	restarted, err := New(ctx, Options{Client: f.client, Namespace: f.ns, Reporter: executetest.New(),
		Abandoned: func(_ context.Context, runID string) bool { return runID == abandoned.Run.ID }})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := restarted.Reap(ctx); err != nil || n != 1 {
		t.Fatalf("Reap = %d, %v; want 1", n, err)
	}
	f.waitGone(Name(abandoned.Run.ID))
	if !f.jobExists(Name(followed.Run.ID)) {
		t.Error("the Job of a followed run was deleted")
	}
	// The first executor, which held the abandoned run, sees its Job deleted.
	var u job.Update
	for range 2 {
		if u = f.rec.Finish(t, 30*time.Second); u.RunID == abandoned.Run.ID {
			break
		}
	}
	if u.RunID != abandoned.Run.ID || u.Reason != "JobDeleted" {
		t.Errorf("the run whose Job was deleted ended with %+v", u)
	}
}
