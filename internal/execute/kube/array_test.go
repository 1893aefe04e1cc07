package kube

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"docket.dev/docket/internal/job"
)

// arrayFixture is an array run of size tasks whose pods' lives the KWOK annotations choose.
type arrayFixture struct {
	*fixture
	array       *job.TaskArray
	annotations map[string]string
}

func (f *fixture) array(size, parallelism int, maxFailed *int, annotations map[string]string) *arrayFixture {
	return &arrayFixture{fixture: f, annotations: annotations, array: &job.TaskArray{
		RunID: job.NewRunID(time.Now()), Size: size, Parallelism: parallelism, MaxFailed: maxFailed,
		Env: map[string]string{"DOCKET_API": "http://docket.example:8080", "DOCKET_TOKEN": "docket-run.array.token"},
	}}
}

// task starts attempt of task index.
func (a *arrayFixture) task(index, attempt int) job.Execution {
	a.t.Helper()
	id := job.NewRunID(time.Now())
	x := job.Execution{
		Run:   job.Run{ID: id, Job: "score", Attempt: attempt, Parent: a.array.RunID, TaskIndex: &index},
		Image: "registry.example.com/ds/score:2.0", Command: []string{"python", "score.py"},
		CPU: "100m", Memory: "64Mi", Deadline: time.Minute, Retries: 1,
		Env:         map[string]string{"DOCKET_RUN_ID": id, "DOCKET_TASK_INDEX": fmt.Sprint(index)},
		Annotations: a.annotations,
		Array:       a.array,
	}
	if err := a.e.Start(context.Background(), x); err != nil {
		a.t.Fatal(err)
	}
	return x
}

// TestArrayIndexedJob runs an array of three tasks, two at a time, as one Indexed Job on
// the test control plane, KWOK playing each index's pods: index 1's first pod exits 2, its
// second (the task's second attempt) succeeds.
func TestArrayIndexedJob(t *testing.T) {
	t.Parallel()
	f := setup(t, Options{Pod: PodDefaults{HelperImage: "registry.example.com/docket:test"}})
	maxFailed := 1
	a := f.array(3, 2, &maxFailed, map[string]string{
		"kwok.docket.dev/exit-code": "2", "kwok.docket.dev/fail-index": "1", "kwok.docket.dev/fail-times": "1"})
	tasks := []job.Execution{a.task(0, 1), a.task(1, 1), a.task(2, 1)}

	ends := map[string]job.Update{}
	for range tasks {
		u := f.rec.Finish(t, 60*time.Second)
		ends[u.RunID] = u
	}
	for i, want := range []job.State{job.StateSucceeded, job.StateFailed, job.StateSucceeded} {
		u := ends[tasks[i].Run.ID]
		if u.State != want {
			t.Errorf("task %d attempt 1 ended %s %s (%s); want %s", i, u.State, u.Reason, u.Message, want)
		}
	}
	if u := ends[tasks[1].Run.ID]; u.ExitCode == nil || *u.ExitCode != 2 {
		t.Errorf("task 1 attempt 1 exit code %v; want 2", u.ExitCode)
	}
	// Docket's recorder would queue the second attempt of task 1: the Job has started a
	// pod for it (index 1, one failure before it), which KWOK lets succeed.
	retry := a.task(1, 2)
	if u := f.rec.Finish(t, 60*time.Second); u.RunID != retry.Run.ID || u.State != job.StateSucceeded {
		t.Errorf("task 1 attempt 2 ended %+v; want succeeded", u)
	}
	if !slices.Contains(f.rec.Reasons(retry.Run.ID), string(job.ReasonStarted)) {
		t.Errorf("task 1 attempt 2 reasons %v; want it reported running", f.rec.Reasons(retry.Run.ID))
	}

	jobs, err := f.client.BatchV1().Jobs(f.ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs.Items) != 1 {
		t.Fatalf("%d Jobs in the namespace; want the array's one", len(jobs.Items))
	}
	j := jobs.Items[0]
	spec, pod := j.Spec, j.Spec.Template.Spec
	var volumes []string
	for _, v := range pod.Volumes {
		if v.EmptyDir != nil {
			volumes = append(volumes, v.Name)
		}
	}
	checks := []struct {
		what string
		ok   bool
	}{
		{"named for the array", j.Name == Name(a.array.RunID) && j.Labels[LabelRun] == a.array.RunID},
		{"indexed", spec.CompletionMode != nil && *spec.CompletionMode == batchv1.IndexedCompletion},
		{"completions = tasks", spec.Completions != nil && *spec.Completions == 3},
		{"parallelism = the array's", spec.Parallelism != nil && *spec.Parallelism == 2},
		{"backoffLimitPerIndex = retries", spec.BackoffLimitPerIndex != nil && *spec.BackoffLimitPerIndex == 1},
		{"maxFailedIndexes = max_failed", spec.MaxFailedIndexes != nil && *spec.MaxFailedIndexes == 1},
		{"a Job deadline", spec.ActiveDeadlineSeconds != nil && *spec.ActiveDeadlineSeconds >= 60},
		{"each pod the task's deadline", pod.ActiveDeadlineSeconds != nil && *pod.ActiveDeadlineSeconds == 60},
		{"emptyDirs for the task and its inputs", slices.Equal(volumes, []string{"task", "inputs"})},
		{"the init container asks for its task", len(pod.InitContainers) == 1 && pod.InitContainers[0].Image == "registry.example.com/docket:test" &&
			slices.Equal(pod.InitContainers[0].Command[:3], []string{"/docket", "task", "start"})},
		{"the job's container runs the task", len(pod.Containers) == 1 && pod.Containers[0].Image == "registry.example.com/ds/score:2.0" &&
			strings.Join(pod.Containers[0].Command, " ") == TaskDir+"/docket task exec --dir "+TaskDir},
		{"the array's token, not a task's", envOf(pod.InitContainers[0], "DOCKET_TOKEN") == "docket-run.array.token"},
		{"a disrupted pod is not a failure, a stopped attempt fails its index", len(spec.PodFailurePolicy.Rules) == 2 &&
			spec.PodFailurePolicy.Rules[0].Action == batchv1.PodFailurePolicyActionIgnore &&
			spec.PodFailurePolicy.Rules[1].Action == batchv1.PodFailurePolicyActionFailIndex},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("the Job is not %s: %+v", c.what, spec)
		}
	}
	f.waitFor("the Job to complete every index", 30*time.Second, func() bool {
		j, err := f.client.BatchV1().Jobs(f.ns).Get(context.Background(), Name(a.array.RunID), metav1.GetOptions{})
		return err == nil && j.Status.CompletedIndexes == "0-2"
	})
	pods, err := f.client.CoreV1().Pods(f.ns).List(context.Background(), metav1.ListOptions{LabelSelector: LabelRun + "=" + a.array.RunID})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 4 {
		t.Errorf("%d pods; want 4: one for each index and a second for index 1", len(pods.Items))
	}
	// docket task start reads its index from JOB_COMPLETION_INDEX, which the Job
	// controller gives every container of the pod, the init container too.
	for _, p := range pods.Items {
		index := p.Annotations[AnnotationCompletionIndex]
		got := envFrom(p.Spec.InitContainers[0], "JOB_COMPLETION_INDEX")
		if (got != "metadata.annotations['"+AnnotationCompletionIndex+"']" && got != "metadata.labels['"+LabelCompletionIndex+"']") || index == "" {
			t.Errorf("pod %s (index %q): the init container's JOB_COMPLETION_INDEX comes from %q", p.Name, index, got)
		}
	}
}

// envFrom is the field a container's variable is read from, if it is.
func envFrom(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			return e.ValueFrom.FieldRef.FieldPath
		}
	}
	return ""
}

// TestArrayTaskCancel cancels one task of an array: its pod is deleted, and the array's Job
// and the other task go on.
func TestArrayTaskCancel(t *testing.T) {
	t.Parallel()
	f := setup(t, Options{Pod: PodDefaults{HelperImage: "registry.example.com/docket:test"}})
	a := f.array(2, 0, nil, map[string]string{"kwok.docket.dev/run-for": "3s"})
	first, second := a.task(0, 1), a.task(1, 1)
	f.waitReason(first.Run.ID, string(job.ReasonStarted))
	if err := f.e.Cancel(context.Background(), first.Run.ID, "ana"); err != nil {
		t.Fatal(err)
	}
	if u := f.rec.Finish(t, 30*time.Second); u.RunID != first.Run.ID || u.State != job.StateCancelled {
		t.Errorf("the first update %+v; want task 0 cancelled", u)
	}
	if u := f.rec.Finish(t, 30*time.Second); u.RunID != second.Run.ID || u.State != job.StateSucceeded {
		t.Errorf("then %+v; want task 1 succeeded", u)
	}
	if !f.jobExists(Name(a.array.RunID)) {
		t.Error("cancelling one task deleted the array's Job")
	}
}

func envOf(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// TestArrayTaskAdopt stops the server following a task while its pod runs (the array's Job
// goes on) and has another adopt the task: it follows the task's pod to its end.
func TestArrayTaskAdopt(t *testing.T) {
	t.Parallel()
	helper := PodDefaults{HelperImage: "registry.example.com/docket:test"}
	first := setup(t, Options{Pod: helper})
	a := first.array(1, 0, nil, map[string]string{"kwok.docket.dev/run-for": "3s"})
	x := a.task(0, 1)
	first.waitReason(x.Run.ID, string(job.ReasonStarted))
	first.stop()
	if !first.jobExists(Name(a.array.RunID)) {
		t.Fatal("the array's Job was deleted when its server stopped")
	}
	next := setup(t, Options{Client: first.client, Namespace: first.ns, Pod: helper})
	x.Run.State = job.StateRunning
	if ok, err := next.e.Adopt(context.Background(), x, 0); !ok || err != nil {
		t.Fatalf("Adopt = %v, %v", ok, err)
	}
	if u := next.rec.Finish(t, 30*time.Second); u.RunID != x.Run.ID || u.State != job.StateSucceeded {
		t.Errorf("the adopted task ended %+v; want succeeded", u)
	}
	other := x
	other.Array = &job.TaskArray{RunID: job.NewRunID(time.Now()), Size: 1, Env: a.array.Env}
	if ok, err := next.e.Adopt(context.Background(), other, 0); ok || err != nil {
		t.Errorf("Adopt of a task whose array has no Job = %v, %v; want false", ok, err)
	}
}
