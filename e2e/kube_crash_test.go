package e2e

import (
	"context"
	"os"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"docket.dev/docket/internal/execute/kube"
	"docket.dev/docket/internal/execute/kube/kubetest"
	"docket.dev/docket/internal/job"
)

// TestKubeCrashRecovery kills a Kubernetes-executor server with SIGKILL while a run's Job
// is running. The Job outlives the server; the restarted server deletes it before it
// recovers the run, so the run is recorded as interrupted and nothing of it runs on
// unrecorded.
func TestKubeCrashRecovery(t *testing.T) {
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
	var run job.Run
	if status := srv.api("POST", "/api/v1/jobs/long/runs", `{}`, &run); status != 201 {
		t.Fatalf("submit: %d", status)
	}
	waitFor(t, time.Minute, "the run to be running", func() bool { return srv.run(run.ID).State == job.StateRunning })
	srv.Kill9()

	ctx := context.Background()
	jobs := client.BatchV1().Jobs(namespace)
	if _, err := jobs.Get(ctx, kube.Name(run.ID), metav1.GetOptions{}); err != nil {
		t.Fatalf("the Job should outlive a killed server: %v", err)
	}

	srv = startServer(t, dir, flags...)
	final := srv.waitTerminal(run.ID, time.Minute)
	if final.State != job.StateFailed || final.Reason != "Interrupted" {
		t.Errorf("run after restart: %s %s %q; want failed Interrupted", final.State, final.Reason, final.Message)
	}
	waitFor(t, 30*time.Second, "the Job to be deleted", func() bool {
		_, err := jobs.Get(ctx, kube.Name(run.ID), metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
	if runs := srv.allRuns("job=long"); len(runs) != 1 {
		t.Errorf("job long has %d runs; want the one, not restarted", len(runs))
	}
}
