package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"

	"docket.dev/docket/internal/execute/container"
	"docket.dev/docket/internal/execute/container/enginetest"
	"docket.dev/docket/internal/job"
)

// TestContainerCrashRecovery kills a container-executor server with SIGKILL while a run's
// container is running. The container outlives the server; the restarted server removes
// it before it recovers the run, so the run is recorded as interrupted and nothing of it
// runs on unrecorded.
func TestContainerCrashRecovery(t *testing.T) {
	t.Parallel()
	engine := enginetest.Engine(t)
	image := enginetest.JobImage(t, engine)
	dir := t.TempDir()
	file := writeFile(t, t.TempDir(), "long.yaml", fmt.Sprintf(`name: long
image: %s
command: ["testjob", "sleep", "5m"]
cpu: 500m
memory: 64Mi
`, image))
	flags := []string{"--executor", "container", "--container-network", "none", "--kill-grace", "1s"}
	srv := startServer(t, dir, flags...)
	if _, stderr, code := srv.cli("apply", "-f", file); code != 0 {
		t.Fatalf("apply: %s", stderr)
	}
	run := srv.submit("long")
	waitFor(t, time.Minute, "the run to be running", func() bool { return srv.run(run.ID).State == job.StateRunning })
	srv.Kill9()

	ctx := context.Background()
	info, err := engine.ContainerInspect(ctx, container.Name(run.ID), client.ContainerInspectOptions{})
	if err != nil || !info.Container.State.Running {
		t.Fatalf("the container should outlive a killed server: inspect %v", err)
	}

	srv = startServer(t, dir, flags...)
	final := srv.waitTerminal(run.ID, time.Minute)
	if final.State != job.StateFailed || final.Reason != "Interrupted" {
		t.Errorf("run after restart: %s %s %q; want failed Interrupted", final.State, final.Reason, final.Message)
	}
	if _, err := engine.ContainerInspect(ctx, container.Name(run.ID), client.ContainerInspectOptions{}); !cerrdefs.IsNotFound(err) {
		t.Errorf("the restarted server left the container of run %s (inspect: %v)", run.ID, err)
	}
	if runs := srv.allRuns("job=long"); len(runs) != 1 {
		t.Errorf("job long has %d runs; want the one, not restarted", len(runs))
	}
}
