package kube

import (
	"context"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"docket.dev/docket/internal/execute/executetest"
	"docket.dev/docket/internal/execute/kube/kubetest"
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

// TestReapWithoutJobController ends runs while no Job controller marks their Jobs finished,
// as a busy one lags for minutes behind the pods: each run ends with its pod, and its Job
// is the retention's, whatever the reaper's passes meanwhile; once marked, the retention
// deletes it, but for the one annotated docket.dev/keep=true. The Job of a run recovered as
// interrupted while its pod runs on is deleted. It runs on a control plane of its own, as
// stopping the shared one's controller-manager would stall the other tests' Jobs.
func TestReapWithoutJobController(t *testing.T) {
	t.Parallel()
	plane := kubetest.Own(t)
	ctx := context.Background()
	// over is the store's answer: the runs that are over.
	var over sync.Map
	abandoned := func(_ context.Context, runID string) bool {
		_, ok := over.Load(runID)
		return ok
	}

	// A server stopped while its run's pod ran; the run could not be followed on, so it
	// was recovered as interrupted, and its Job runs on.
	gone := setup(t, Options{Client: plane.Client})
	lost := gone.start(time.Hour, "100m", map[string]string{"kwok.docket.dev/run-for": "1h"})
	gone.waitReason(lost.Run.ID, "Started")
	gone.stop()
	over.Store(lost.Run.ID, true)

	f := setup(t, Options{Client: plane.Client, Namespace: gone.ns, Abandoned: abandoned,
		Retention: 2 * time.Second, SweepInterval: time.Hour})
	until := map[string]string{"kwok.docket.dev/run-for": time.Now().Add(12 * time.Second).UTC().Format(time.RFC3339)}
	succeeded := f.start(time.Hour, "100m", until)
	failed := f.start(time.Hour, "100m", map[string]string{"kwok.docket.dev/run-for": until["kwok.docket.dev/run-for"], "kwok.docket.dev/exit-code": "3"})
	kept := f.start(time.Hour, "100m", until)
	ended := []job.Execution{succeeded, failed, kept}
	for _, x := range ended {
		f.waitReason(x.Run.ID, "Started")
	}
	jobs := plane.Client.BatchV1().Jobs(f.ns)
	keep := []byte(`{"metadata":{"annotations":{"` + AnnotationKeep + `":"true"}}}`)
	if _, err := jobs.Patch(ctx, Name(kept.Run.ID), types.MergePatchType, keep, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	plane.Stop(t, "kube-controller-manager")

	want := map[string]job.Reason{succeeded.Run.ID: "Completed", failed.Run.ID: "ExitCode", kept.Run.ID: "Completed"}
	for range ended {
		u := f.rec.Finish(t, time.Minute)
		if want[u.RunID] != u.Reason {
			t.Errorf("run %s ended %s %s; want %s", u.RunID, u.State, u.Reason, want[u.RunID])
		}
		over.Store(u.RunID, true)
	}
	finished := func(name string) bool {
		t.Helper()
		j, err := jobs.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("Job %s: %v", name, err)
		}
		done, _ := jobFinished(j)
		return done
	}
	for _, x := range ended {
		if finished(Name(x.Run.ID)) {
			t.Fatalf("Job %s was marked finished: the controller-manager was stopped too late", Name(x.Run.ID))
		}
	}

	// The reaper's passes, as Run makes them each SweepInterval.
	for range 3 {
		if _, err := f.e.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := f.e.Reap(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
	}
	f.waitGone(Name(lost.Run.ID))
	for _, x := range ended {
		if !f.jobExists(Name(x.Run.ID)) {
			t.Errorf("the Job of run %s, which ended with its pod, was deleted before the Job controller marked it", x.Run.ID)
		}
	}

	// The Job controller back, the Jobs are marked finished, and the retention deletes
	// them, but the kept one. The lost run's pod goes with its Job.
	plane.Start(t, "kube-controller-manager")
	f.waitFor("the Jobs to be marked finished", time.Minute, func() bool {
		return finished(Name(succeeded.Run.ID)) && finished(Name(failed.Run.ID)) && finished(Name(kept.Run.ID))
	})
	f.waitFor("the retention to delete the finished Jobs", 30*time.Second, func() bool {
		if _, err := f.e.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		return !f.jobExists(Name(succeeded.Run.ID)) && !f.jobExists(Name(failed.Run.ID))
	})
	if !f.jobExists(Name(kept.Run.ID)) {
		t.Error("the Job annotated docket.dev/keep=true was deleted")
	}
	f.waitFor("the lost run's pod to be deleted", 30*time.Second, func() bool {
		pods, err := plane.Client.CoreV1().Pods(f.ns).List(ctx, metav1.ListOptions{LabelSelector: LabelRun + "=" + lost.Run.ID})
		return err == nil && len(pods.Items) == 0
	})
}
