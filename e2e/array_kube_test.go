package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"docket.dev/docket/internal/execute/kube/kubetest"
	"docket.dev/docket/internal/job"
)

// TestArrayKube runs an array of 4 tasks, 2 at a time, on the Kubernetes executor of the
// test control plane: one Indexed Job, whose index 1 KWOK fails once (exit code 3) and then
// lets succeed; Docket records task 1's two attempts and docket results shows every task.
func TestArrayKube(t *testing.T) {
	t.Parallel()
	kubeClient := kubetest.Client(t)
	namespace := kubetest.Namespace(t, kubeClient)
	dir := t.TempDir()
	s := startServer(t, dir+"/data", "--executor", "kubernetes", "--kubeconfig", os.Getenv("DOCKET_TEST_KUBECONFIG"),
		"--namespace", namespace, "--helper-image", "registry.example.com/docket:test", "--retry-backoff", "100ms")
	def := writeFile(t, dir, "score.yaml", `name: score
image: registry.example.com/ds/score:2.0
command: [python, score.py]
cpu: 100m
memory: 64Mi
retries: 1
parallelism: 2
annotations: {kwok.docket.dev/exit-code: "3", kwok.docket.dev/fail-index: "1", kwok.docket.dev/fail-times: "1"}
`)
	if _, errOut, code := s.cli("apply", "-f", def); code != 0 {
		t.Fatalf("apply: %s", errOut)
	}
	out, errOut, code := s.cli("run", "score", "--array", "4", "--wait", "--results")
	if code != 0 {
		t.Fatalf("run: exit %d\n%s\n%s", code, out, errOut)
	}
	var attempts []int
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var r struct {
			Index   int
			State   job.State
			Attempt int
		}
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("result line %q: %v", l, err)
		}
		if r.State != job.StateSucceeded || r.Index != len(attempts) {
			t.Errorf("result line %q; want task %d succeeded", l, len(attempts))
		}
		attempts = append(attempts, r.Attempt)
	}
	if want := []int{1, 2, 1, 1}; !slices.Equal(attempts, want) {
		t.Errorf("attempts by task %v; want %v", attempts, want)
	}
	jobs, err := kubeClient.BatchV1().Jobs(namespace).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs.Items) != 1 {
		t.Fatalf("%d Jobs; want the array's one Indexed Job", len(jobs.Items))
	}
	spec := jobs.Items[0].Spec
	if spec.Completions == nil || *spec.Completions != 4 || spec.Parallelism == nil || *spec.Parallelism != 2 ||
		spec.BackoffLimitPerIndex == nil || *spec.BackoffLimitPerIndex != 1 {
		t.Errorf("the Job's completions %v, parallelism %v, backoffLimitPerIndex %v; want 4, 2, 1",
			deref(spec.Completions), deref(spec.Parallelism), deref(spec.BackoffLimitPerIndex))
	}
}

// deref is what p points to, or the zero value.
func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// TestArrayKubeRestart kills the server while an array's Indexed Job runs its 3 tasks: the
// Job outlives it, and the restarted server adopts each running task and follows it to its
// end, once, with the one Job.
func TestArrayKubeRestart(t *testing.T) {
	t.Parallel()
	kubeClient := kubetest.Client(t)
	namespace := kubetest.Namespace(t, kubeClient)
	dir := t.TempDir()
	flags := []string{"--executor", "kubernetes", "--kubeconfig", os.Getenv("DOCKET_TEST_KUBECONFIG"),
		"--namespace", namespace, "--helper-image", "registry.example.com/docket:test"}
	s := startServer(t, dir+"/data", flags...)
	// The pods run until a fixed time, whichever server follows them then.
	until := time.Now().Add(15 * time.Second).UTC().Format(time.RFC3339)
	def := writeFile(t, dir, "score.yaml", fmt.Sprintf("name: score\nimage: registry.example.com/ds/score:2.0\ncommand: [python, score.py]\ncpu: 100m\nmemory: 64Mi\nannotations: {kwok.docket.dev/run-for: %q}\n", until))
	if _, errOut, code := s.cli("apply", "-f", def); code != 0 {
		t.Fatalf("apply: %s", errOut)
	}
	var array job.Run
	if code := s.api("POST", "/api/v1/jobs/score/runs", `{"tasks": 3}`, &array); code != 201 {
		t.Fatalf("submit the array: %d", code)
	}
	waitFor(t, time.Minute, "the tasks to run", func() bool {
		tasks := s.allRuns("parent=" + array.ID)
		return len(tasks) == 3 && !slices.ContainsFunc(tasks, func(r job.Run) bool { return r.State != job.StateRunning })
	})
	s.Kill9()
	s = startServer(t, dir+"/data", flags...)
	if r := s.waitTerminal(array.ID, 90*time.Second); r.State != job.StateSucceeded {
		t.Fatalf("the array after the restart: %s %s", r.State, r.Message)
	}
	tasks := s.allRuns("parent=" + array.ID)
	if len(tasks) != 3 {
		t.Fatalf("%d tasks; want 3, none run again", len(tasks))
	}
	for _, task := range tasks {
		var reasons []string
		for _, ev := range s.events(task.ID) {
			reasons = append(reasons, string(ev.Reason))
		}
		if task.State != job.StateSucceeded || !slices.Contains(reasons, "Adopted") || countOf(reasons, "Started") != 1 {
			t.Errorf("task %d: %s, events %v; want succeeded, started once and adopted", deref(task.TaskIndex), task.State, reasons)
		}
	}
	jobs, err := kubeClient.BatchV1().Jobs(namespace).List(context.Background(), metav1.ListOptions{})
	if err != nil || len(jobs.Items) != 1 {
		t.Errorf("Jobs after the restart: %v %d; want the array's one", err, len(jobs.Items))
	}
}
