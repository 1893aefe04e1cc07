package kube

import (
	"context"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"docket.dev/docket/internal/execute/executetest"
	"docket.dev/docket/internal/job"
)

// TestCaptureLogs checks that a finished pod's output is copied into the run's log before
// the run ends. The test control plane has no kubelet to serve pod logs, so this runs on
// client-go's fake clientset, whose log endpoint answers "fake logs".
func TestCaptureLogs(t *testing.T) {
	t.Parallel()
	client := fake.NewClientset()
	rec := executetest.New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e, err := New(ctx, Options{Client: client, Namespace: "batch", Reporter: rec, Logs: rec})
	if err != nil {
		t.Fatal(err)
	}
	id := job.NewRunID(time.Now())
	x := job.Execution{Run: job.Run{ID: id, Job: "nightly", Attempt: 1}, Image: "img", CPU: "1", Memory: "1Gi", Deadline: time.Minute}
	if err := e.Start(ctx, x); err != nil {
		t.Fatal(err)
	}
	jobs := client.BatchV1().Jobs("batch")
	var j *batchv1.Job
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if j, err = jobs.Get(ctx, Name(id), metav1.GetOptions{}); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
	}
	// What the Job controller and a kubelet would do: a pod that ran and ended, and the
	// Job's Complete condition.
	now := metav1.Now()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: Name(id) + "-abcde", Namespace: "batch", Labels: j.Spec.Template.Labels, CreationTimestamp: now},
		Spec:       corev1.PodSpec{NodeName: "node-1"},
		Status: corev1.PodStatus{Phase: corev1.PodSucceeded, ContainerStatuses: []corev1.ContainerStatus{{
			Name: "job", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", StartedAt: now, FinishedAt: now}},
		}}},
	}
	if _, err := client.CoreV1().Pods("batch").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	j.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now}}
	if _, err := jobs.UpdateStatus(ctx, j, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	u := rec.Finish(t, 10*time.Second)
	if u.State != job.StateSucceeded {
		t.Errorf("final update %+v", u)
	}
	if got := rec.Log(id); got != "fake logs" {
		t.Errorf("run log %q, want the pod's output %q", got, "fake logs")
	}
}

// TestStreamLogs checks that a running pod's output reaches the run's log while it runs,
// and only once when the Job ends.
func TestStreamLogs(t *testing.T) {
	t.Parallel()
	client := fake.NewClientset()
	rec := executetest.New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e, err := New(ctx, Options{Client: client, Namespace: "batch", Reporter: rec, Logs: rec})
	if err != nil {
		t.Fatal(err)
	}
	id := job.NewRunID(time.Now())
	if err := e.Start(ctx, job.Execution{Run: job.Run{ID: id, Job: "nightly", Attempt: 1}, Image: "img", CPU: "1", Memory: "1Gi", Deadline: time.Minute}); err != nil {
		t.Fatal(err)
	}
	jobs := client.BatchV1().Jobs("batch")
	var j *batchv1.Job
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if j, err = jobs.Get(ctx, Name(id), metav1.GetOptions{}); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
	}
	now := metav1.Now()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: Name(id) + "-abcde", Namespace: "batch", Labels: j.Spec.Template.Labels, CreationTimestamp: now},
		Spec:       corev1.PodSpec{NodeName: "node-1"},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
			Name: "job", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
		}}},
	}
	if _, err := client.CoreV1().Pods("batch").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); rec.Log(id) != "fake logs"; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the running pod's output did not reach the log: %q", rec.Log(id))
		}
	}
	j.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now}}
	if _, err := jobs.UpdateStatus(ctx, j, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if u := rec.Finish(t, 10*time.Second); u.State != job.StateSucceeded {
		t.Errorf("final update %+v", u)
	}
	if got := rec.Log(id); got != "fake logs" {
		t.Errorf("run log %q, want the output once", got)
	}
}

// TestAdoptLogs checks the output an adopting server keeps of a run whose first server
// kept some: the rest of the pod's output when the Job has had one pod, and the newest
// pod's output from its start, under a line that says so, when the cluster replaced one.
func TestAdoptLogs(t *testing.T) {
	t.Parallel()
	const header = "[docket: another server follows this run from here; the output of its newest pod is kept from its start, so lines above may repeat]\n"
	for _, tc := range []struct {
		name     string
		replaced bool   // the cluster stopped a first pod and the Job started another
		kept     string // the output the first server kept
		want     string
	}{
		{"one pod", false, "fake l", "fake logs"},
		{"replaced pod", true, "output of the first pod\nfake l", "output of the first pod\nfake l" + header + "fake logs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			id := job.NewRunID(time.Now())
			x := job.Execution{Run: job.Run{ID: id, Job: "nightly", Attempt: 1, State: job.StateRunning},
				Image: "img", CPU: "1", Memory: "1Gi", Deadline: time.Minute}
			j, err := jobFor(x, "batch", PodDefaults{})
			if err != nil {
				t.Fatal(err)
			}
			then, now := metav1.NewTime(time.Now().Add(-time.Minute)), metav1.Now()
			running := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: Name(id) + "-bcdef", Namespace: "batch", Labels: j.Spec.Template.Labels, CreationTimestamp: now},
				Spec:       corev1.PodSpec{NodeName: "node-2"},
				Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
					Name: "job", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
				}}},
			}
			objects := []runtime.Object{j, running}
			if tc.replaced {
				objects = append(objects, &corev1.Pod{
					ObjectMeta: metav1.ObjectMeta{Name: Name(id) + "-abcde", Namespace: "batch", Labels: j.Spec.Template.Labels, CreationTimestamp: then},
					Spec:       corev1.PodSpec{NodeName: "node-1"},
					Status: corev1.PodStatus{Phase: corev1.PodFailed,
						Conditions: []corev1.PodCondition{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: "EvictionByEvictionAPI"}},
						ContainerStatuses: []corev1.ContainerStatus{{
							Name: "job", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 143, StartedAt: then, FinishedAt: then}},
						}}},
				})
			}
			client := fake.NewClientset(objects...)
			rec := executetest.New()
			w := rec.OpenLog(id)
			w.Write([]byte(tc.kept))
			w.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			e, err := New(ctx, Options{Client: client, Namespace: "batch", Reporter: rec, Logs: rec})
			if err != nil {
				t.Fatal(err)
			}
			if ok, err := e.Adopt(ctx, x, int64(len(tc.kept))); !ok || err != nil {
				t.Fatalf("Adopt = %v, %v", ok, err)
			}
			for deadline := time.Now().Add(10 * time.Second); rec.Log(id) != tc.want; time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("run log %q, want %q", rec.Log(id), tc.want)
				}
			}
			j.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now}}
			if _, err := client.BatchV1().Jobs("batch").UpdateStatus(ctx, j, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
			if u := rec.Finish(t, 10*time.Second); u.State != job.StateSucceeded {
				t.Errorf("final update %+v", u)
			}
			if got := rec.Log(id); got != tc.want {
				t.Errorf("run log %q at the end, want %q", got, tc.want)
			}
		})
	}
}
