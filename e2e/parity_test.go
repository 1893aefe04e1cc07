package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"docket.dev/docket/internal/execute/container/enginetest"
	"docket.dev/docket/internal/execute/kube/kubetest"
	"docket.dev/docket/internal/job"
)

// parityJobs is one definition file that every executor runs. %s is the test job image; the
// process executor finds the same program on the server's PATH. On the test control plane
// no container runs: the kwok.docket.dev annotations make KWOK play what the command does.
const parityJobs = `name: parity-env
image: %[1]s
command: ["testjob", "env"]
cpu: 500m
memory: 64Mi
env: {JOB_MODE: parity}
---
name: parity-exit
image: %[1]s
command: ["testjob", "exit", "3"]
cpu: 500m
memory: 64Mi
retries: 1
annotations: {kwok.docket.dev/exit-code: "3"}
---
name: parity-deadline
image: %[1]s
command: ["testjob", "sleep", "60s"]
cpu: 500m
memory: 64Mi
deadline: 2s
annotations: {kwok.docket.dev/run-for: 60s}
---
name: parity-missing
image: %[1]s
command: ["no-such-program"]
cpu: 500m
memory: 64Mi
retries: 2
annotations: {kwok.docket.dev/image: no-command}
`

// attempt is what parity compares of one run of a job.
type attempt struct {
	Attempt  int
	States   []job.State
	Reason   job.Reason
	ExitCode int // -1 when the run has none
	Log      string
}

// outcome is what parity compares of one docket run --wait.
type outcome struct {
	Attempts []attempt
	CLIExit  int
}

var (
	runIDPattern = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	slotPattern  = regexp.MustCompile(`DOCKET_SCHEDULED_TIME=\S+`)
	// A run token names its run (replaced by <run> first) and carries a MAC.
	tokenPattern = regexp.MustCompile(`docket-run\.<run>\.[A-Za-z0-9_-]{43}`)
)

func TestExecutorParity(t *testing.T) {
	t.Parallel()
	engine := enginetest.Engine(t)
	image := enginetest.JobImage(t, engine)
	pathEnv := "PATH=" + filepath.Dir(enginetest.TestJob(t)) + string(os.PathListSeparator) + os.Getenv("PATH")
	file := writeFile(t, t.TempDir(), "parity.yaml", fmt.Sprintf(parityJobs, image))
	jobs := []string{"parity-env", "parity-exit", "parity-deadline", "parity-missing"}

	kubeClient := kubetest.Client(t)
	namespace := kubetest.Namespace(t, kubeClient)
	executors := map[string][]string{
		"process":    nil,
		"container":  {"--container-network", "none"},
		"kubernetes": {"--kubeconfig", os.Getenv("DOCKET_TEST_KUBECONFIG"), "--namespace", namespace},
	}
	got := map[string]map[string]outcome{}
	for _, executor := range []string{"process", "container", "kubernetes"} {
		srv := startServerEnv(t, []string{pathEnv}, t.TempDir(), append([]string{"--executor", executor,
			"--retry-backoff", "100ms", "--kill-grace", "1s"}, executors[executor]...)...)
		if _, stderr, code := srv.cli("apply", "-f", file); code != 0 {
			t.Fatalf("%s: apply: %s", executor, stderr)
		}
		got[executor] = map[string]outcome{}
		for _, name := range jobs {
			got[executor][name] = runToEnd(t, srv, name)
		}
		srv.Stop()
	}

	want := map[string]outcome{
		"parity-env": {CLIExit: 0, Attempts: []attempt{{1, wantLifecycle, "Completed", 0,
			"DOCKET_API=<api>\nDOCKET_ATTEMPT=1\nDOCKET_JOB=parity-env\nDOCKET_RUN_ID=<run>\nDOCKET_SCHEDULED_TIME=<time>\nDOCKET_TOKEN=<token>\nJOB_MODE=parity\n"}}},
		"parity-exit": {CLIExit: 3, Attempts: []attempt{
			{1, failedLifecycle, "ExitCode", 3, "stderr line\nstdout line\n"},
			{2, failedLifecycle, "ExitCode", 3, "stderr line\nstdout line\n"},
		}},
		"parity-deadline": {CLIExit: 1, Attempts: []attempt{{1, failedLifecycle, "DeadlineExceeded", -1, "sleeping 1m0s\n"}}},
		// A command the machine or image lacks fails at once and is not retried.
		"parity-missing": {CLIExit: 127, Attempts: []attempt{{1, []job.State{job.StateQueued, job.StateDispatched, job.StatePending, job.StateFailed}, "CommandNotFound", 127, ""}}},
	}
	for _, executor := range []string{"process", "container"} {
		if diff := cmp.Diff(want, got[executor]); diff != "" {
			t.Errorf("%s executor outcomes (-want +got):\n%s", executor, diff)
		}
	}
	if diff := cmp.Diff(got["process"], got["container"]); diff != "" {
		t.Errorf("executors differ (-process +container):\n%s", diff)
	}

	// On Kubernetes no program runs (KWOK plays the kubelet): states, reasons and exit
	// codes are compared, and the env contract is read from the Job's pod template.
	for name, o := range want {
		for i := range o.Attempts {
			o.Attempts[i].Log = ""
		}
		want[name] = o
	}
	if diff := cmp.Diff(want, got["kubernetes"]); diff != "" {
		t.Errorf("kubernetes executor outcomes (-want +got):\n%s", diff)
	}
	jobs2, err := kubeClient.BatchV1().Jobs(namespace).List(context.Background(), metav1.ListOptions{LabelSelector: "docket.dev/job=parity-env"})
	if err != nil || len(jobs2.Items) != 1 {
		t.Fatalf("the Job of parity-env: %v, %d Jobs", err, len(jobs2.Items))
	}
	var env strings.Builder
	for _, e := range jobs2.Items[0].Spec.Template.Spec.Containers[0].Env {
		v := e.Value
		switch e.Name {
		case "DOCKET_RUN_ID":
			v = "<run>"
		case "DOCKET_TOKEN":
			if id := env0(jobs2.Items[0].Spec.Template.Spec.Containers[0].Env, "DOCKET_RUN_ID"); tokenPattern.MatchString(strings.ReplaceAll(v, id, "<run>")) {
				v = "<token>"
			}
		case "DOCKET_API":
			if regexp.MustCompile(`^http://127\.0\.0\.1:[0-9]+$`).MatchString(v) {
				v = "<api>"
			}
		case "DOCKET_SCHEDULED_TIME":
			if _, err := time.Parse(time.RFC3339, v); err != nil {
				t.Errorf("DOCKET_SCHEDULED_TIME=%s is not RFC 3339", v)
			}
			v = "<time>"
		}
		env.WriteString(e.Name + "=" + v + "\n")
	}
	if processEnv := got["process"]["parity-env"].Attempts[0].Log; env.String() != processEnv {
		t.Errorf("the Job's env:\n%s\nthe process's env:\n%s", env.String(), processEnv)
	}
}

var failedLifecycle = []job.State{job.StateQueued, job.StateDispatched, job.StatePending, job.StateRunning, job.StateFailed}

// runToEnd runs a job with docket run --wait and collects each attempt's outcome.
func runToEnd(t *testing.T, srv *server, name string) outcome {
	t.Helper()
	stdout, stderr, code := srv.cli("run", name, "--wait", "-o", "json")
	var final job.Run
	if err := json.Unmarshal([]byte(stdout), &final); err != nil {
		t.Fatalf("run %s: %v\nstdout: %s\nstderr: %s", name, err, stdout, stderr)
	}
	runs := srv.allRuns("job=" + name)
	o := outcome{CLIExit: code}
	for i := len(runs) - 1; i >= 0; i-- { // oldest first
		r := runs[i]
		a := attempt{Attempt: r.Attempt, States: states(srv.events(r.ID)), Reason: r.Reason, ExitCode: -1}
		if r.ExitCode != nil {
			a.ExitCode = *r.ExitCode
		}
		log := srv.logs(r.ID)
		if strings.Contains(log, "DOCKET_RUN_ID="+r.ID+"\n") {
			log = strings.ReplaceAll(log, r.ID, "<run>")
			log = tokenPattern.ReplaceAllString(log, "<token>")
			log = strings.ReplaceAll(log, "DOCKET_API="+srv.URL+"\n", "DOCKET_API=<api>\n")
		} else if runIDPattern.MatchString(log) {
			t.Errorf("run %s logged another run's id:\n%s", r.ID, log)
		}
		if m := slotPattern.FindString(log); m != "" {
			if _, err := time.Parse(time.RFC3339, strings.TrimPrefix(m, "DOCKET_SCHEDULED_TIME=")); err != nil {
				t.Errorf("run %s: %s is not RFC 3339", r.ID, m)
			}
			log = strings.Replace(log, m, "DOCKET_SCHEDULED_TIME=<time>", 1)
		}
		// stdout and stderr reach a container's log through separate pipes, so their lines
		// may interleave either way: compare them in sorted order.
		lines := strings.SplitAfter(log, "\n")
		slices.Sort(lines)
		a.Log = strings.Join(lines, "")
		o.Attempts = append(o.Attempts, a)
	}
	if final.ID != runs[0].ID {
		t.Errorf("run %s --wait ended on run %s, not on the last attempt %s", name, final.ID, runs[0].ID)
	}
	return o
}

// env0 is the value of a container's variable.
func env0(env []corev1.EnvVar, name string) string {
	for _, e := range env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}
