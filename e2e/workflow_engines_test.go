package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"docket.dev/docket/internal/execute/container/enginetest"
	"docket.dev/docket/internal/execute/kube/kubetest"
	"docket.dev/docket/internal/job"
)

// engineWorkflow is one workflow file for the container executor and the test control
// plane: extract reports a result that train's command reads; evaluate fails (on the
// control plane, KWOK plays the exit code the annotation gives); notify runs always.
// %s is the test job image.
const engineWorkflow = `name: boxed-pipeline
image: %s
cpu: 100m
memory: 64Mi
deadline: 1m
steps:
  - {name: extract, command: [testjob, result, path=/data/boxed]}
  - {name: train, needs: [extract], command: [testjob, echo, "data={{ .Steps.extract.Result.path }}"]}
  - name: evaluate
    needs: [train]
    command: [testjob, exit, "3"]
    annotations: {kwok.docket.dev/exit-code: "3"}
  - {name: notify, needs: [evaluate], when: always, command: [testjob, echo, done]}
`

// TestWorkflowEngines runs one workflow file on Podman (steps as containers) and on the
// test control plane (steps as Jobs): evaluate fails, notify still runs, the workflow
// fails; a retry carries extract and train over and runs evaluate and notify again.
func TestWorkflowEngines(t *testing.T) {
	t.Parallel()
	engine := enginetest.Engine(t)
	image := enginetest.JobImage(t, engine)
	kubeClient := kubetest.Client(t)
	namespace := kubetest.Namespace(t, kubeClient)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	executors := map[string][]string{
		// A container finds the host's server at host.containers.internal (a test server
		// on every address, as the README sets Podman up).
		"container":  {"--addr", "0.0.0.0:" + port, "--api-url", "http://host.containers.internal:" + port, "--insecure-no-auth"},
		"kubernetes": {"--kubeconfig", os.Getenv("DOCKET_TEST_KUBECONFIG"), "--namespace", namespace},
	}
	for _, executor := range []string{"container", "kubernetes"} {
		t.Run(executor, func(t *testing.T) {
			dir := t.TempDir()
			srv := startServer(t, dir+"/data", append([]string{"--executor", executor}, executors[executor]...)...)
			file := writeFile(t, dir, "pipeline.yaml", fmt.Sprintf(engineWorkflow, image))
			if _, stderr, code := srv.cli("apply", "-f", file); code != 0 {
				t.Fatalf("apply: %s", stderr)
			}
			stdout, stderr, code := srv.cli("run", "boxed-pipeline", "--wait", "-o", "json")
			var first job.Run
			if err := json.Unmarshal([]byte(stdout), &first); err != nil || code == 0 || first.State != job.StateFailed {
				t.Fatalf("run --wait: exit %d, run %+v (%v)\nstderr:\n%s", code, first, err, stderr)
			}
			want := map[string]string{"extract": "succeeded Completed", "train": "succeeded Completed", "evaluate": "failed ExitCode", "notify": "succeeded Completed"}
			steps := stepsOf(t, srv, first.ID)
			if diff := cmp.Diff(want, stepStatesOf(steps)); diff != "" {
				t.Errorf("steps (-want +got):\n%s", diff)
			}
			if executor == "container" {
				if log := srv.logs(steps["train"].ID); log != "data=/data/boxed\n" {
					t.Errorf("train's output %q; want extract's result in its command", log)
				}
			} else {
				// No container runs on the control plane: each step is a Job of its own.
				jobs, err := kubeClient.BatchV1().Jobs(namespace).List(context.Background(), metav1.ListOptions{LabelSelector: "docket.dev/job=boxed-pipeline"})
				if err != nil || len(jobs.Items) != 4 {
					t.Fatalf("Jobs of the workflow: %v, %d; want one per step", err, len(jobs.Items))
				}
			}
			stdout, stderr, _ = srv.cli("retry", first.ID, "--wait", "-o", "json")
			var resumed job.Run
			if err := json.Unmarshal([]byte(stdout), &resumed); err != nil || resumed.State != job.StateFailed || resumed.ResumedFrom != first.ID {
				t.Fatalf("retry --wait: run %+v (%v)\nstderr:\n%s", resumed, err, stderr)
			}
			want = map[string]string{"extract": "succeeded Reused", "train": "succeeded Reused", "evaluate": "failed ExitCode", "notify": "succeeded Completed"}
			if diff := cmp.Diff(want, stepStatesOf(stepsOf(t, srv, resumed.ID))); diff != "" {
				t.Errorf("steps of the resumed run (-want +got):\n%s", diff)
			}
			if !strings.Contains(resumed.Message, "3/4 steps succeeded, 1 failed") {
				t.Errorf("resumed run's message: %s", resumed.Message)
			}
		})
	}
}
