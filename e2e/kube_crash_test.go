package e2e

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"docket.dev/docket/internal/execute/kube"
	"docket.dev/docket/internal/execute/kube/kubetest"
	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store/postgres/pgtest"
)

// TestKubeRestart stops a Kubernetes-executor server while a run's Job is running: with
// SIGKILL, with SIGTERM (a rolling update), and with SIGKILL while a second server shares
// the PostgreSQL store (a replica). The Job outlives the server; the restarted server, or
// the replica once the first has missed its heartbeats, follows the run on: it ends as the
// Job ends, once, with its log kept once, and the work is not started again.
func TestKubeRestart(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"SIGKILL", "SIGTERM", "replica"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			client := kubetest.Client(t)
			namespace := kubetest.Namespace(t, client)
			kubetest.ServeLogs(t, namespace, "epoch 1", "epoch 2", "epoch 3")
			dir := t.TempDir()
			// The pod runs until a fixed time, whichever server is following it then.
			until := time.Now().Add(15 * time.Second).UTC().Format(time.RFC3339)
			file := writeFile(t, t.TempDir(), "train.yaml", fmt.Sprintf(`name: train
image: registry.example.com/ds/train:1.4.2
command: ["python", "train.py"]
cpu: 500m
memory: 64Mi
annotations: {kwok.docket.dev/run-for: %q}
`, until))
			flags := []string{"--executor", "kubernetes", "--kubeconfig", os.Getenv("DOCKET_TEST_KUBECONFIG"), "--namespace", namespace}
			if how == "replica" {
				flags = append(flags, "--database-url", pgtest.URL(t), "--instance-ttl", "3s")
			}
			srv := startServer(t, dir, flags...)
			if _, stderr, code := srv.cli("apply", "-f", file); code != 0 {
				t.Fatalf("apply: %s", stderr)
			}
			run := srv.submit("train")
			waitFor(t, time.Minute, "the run's output", func() bool {
				return srv.run(run.ID).State == job.StateRunning && srv.logs(run.ID) == "epoch 1\nepoch 2\nepoch 3\n"
			})
			var replica *server
			if how == "replica" {
				replica = startServer(t, t.TempDir(), flags...)
			}
			if how == "SIGTERM" {
				srv.Stop()
			} else {
				srv.Kill9()
			}
			ctx := context.Background()
			j, err := client.BatchV1().Jobs(namespace).Get(ctx, kube.Name(run.ID), metav1.GetOptions{})
			if err != nil || j.DeletionTimestamp != nil {
				t.Fatalf("the Job should outlive its server: %v", err)
			}

			if replica != nil {
				srv = replica
			} else {
				srv = startServer(t, dir, flags...)
			}
			final := srv.waitTerminal(run.ID, 90*time.Second)
			if final.State != job.StateSucceeded || final.Reason != "Completed" {
				t.Errorf("run after restart: %s %s %q; want succeeded Completed", final.State, final.Reason, final.Message)
			}
			var reasons []string
			for _, ev := range srv.events(run.ID) {
				reasons = append(reasons, string(ev.Reason))
			}
			if !slices.Contains(reasons, "Adopted") || slices.Contains(reasons, "Interrupted") || countOf(reasons, "Started") != 1 {
				t.Errorf("events %v; want one Started and the run Adopted, not Interrupted", reasons)
			}
			if log := srv.logs(run.ID); log != "epoch 1\nepoch 2\nepoch 3\n" {
				t.Errorf("log after restart %q; want each line once", log)
			}
			if runs := srv.allRuns("job=train"); len(runs) != 1 {
				t.Errorf("job train has %d runs; want the one", len(runs))
			}
			if _, err := client.BatchV1().Jobs(namespace).Get(ctx, kube.Name(run.ID), metav1.GetOptions{}); err != nil {
				t.Errorf("the finished Job is kept for the retention: %v", err)
			}
		})
	}
}

// TestKubeRestartNoJob kills a server between recording a run pending and creating its
// Job (simulated by deleting the Job): the restarted server finds nothing to follow, and
// fails the run as interrupted, once.
func TestKubeRestartNoJob(t *testing.T) {
	t.Parallel()
	client := kubetest.Client(t)
	namespace := kubetest.Namespace(t, client)
	dir := t.TempDir()
	file := writeFile(t, t.TempDir(), "long.yaml", `name: long
image: busybox:1.36
command: ["sleep", "300"]
cpu: 500m
memory: 64Mi
annotations: {kwok.docket.dev/run-for: 300s}
`)
	flags := []string{"--executor", "kubernetes", "--kubeconfig", os.Getenv("DOCKET_TEST_KUBECONFIG"), "--namespace", namespace}
	srv := startServer(t, dir, flags...)
	if _, stderr, code := srv.cli("apply", "-f", file); code != 0 {
		t.Fatalf("apply: %s", stderr)
	}
	run := srv.submit("long")
	waitFor(t, time.Minute, "the run to be running", func() bool { return srv.run(run.ID).State == job.StateRunning })
	srv.Kill9()
	ctx := context.Background()
	jobs := client.BatchV1().Jobs(namespace)
	policy := metav1.DeletePropagationBackground
	if err := jobs.Delete(ctx, kube.Name(run.ID), metav1.DeleteOptions{PropagationPolicy: &policy}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the Job to be gone", func() bool {
		_, err := jobs.Get(ctx, kube.Name(run.ID), metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})

	srv = startServer(t, dir, flags...)
	final := srv.waitTerminal(run.ID, time.Minute)
	if final.State != job.StateFailed || final.Reason != "Interrupted" {
		t.Errorf("run after restart: %s %s %q; want failed Interrupted", final.State, final.Reason, final.Message)
	}
	if runs := srv.allRuns("job=long"); len(runs) != 1 {
		t.Errorf("job long has %d runs; want the one, not restarted", len(runs))
	}
}

func countOf(list []string, s string) int {
	n := 0
	for _, v := range list {
		if v == s {
			n++
		}
	}
	return n
}
