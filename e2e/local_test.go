package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"docket.dev/docket/internal/execute/container/enginetest"
	"docket.dev/docket/internal/job"
)

const localJobs = `name: greet
image: %[1]s
command: ["testjob", "env"]
cpu: 500m
memory: 64Mi
schedule: "@every 1s"
env: {JOB_GREETING: hello}
---
name: fail
image: %[1]s
command: ["testjob", "exit", "3"]
cpu: 500m
memory: 64Mi
`

// docket runs the docket command with extra environment and returns stdout, stderr and
// the exit code.
func docket(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), errb.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatalf("docket %v: %v", args, err)
	}
	return out.String(), errb.String(), 0
}

func TestRunLocal(t *testing.T) {
	t.Parallel()
	bin := enginetest.TestJob(t)
	env := []string{"PATH=" + filepath.Dir(bin) + string(os.PathListSeparator) + os.Getenv("PATH")}
	image := "localhost/docket-testjob:none"
	executors := []string{"process"}
	if os.Getenv("DOCKER_HOST") != "" || os.Getenv("DOCKET_TEST_CONTAINER") == "require" {
		image = enginetest.JobImage(t, enginetest.Engine(t))
		executors = append(executors, "container")
	}
	dir := t.TempDir()
	file := writeFile(t, dir, "jobs.yaml", fmt.Sprintf(localJobs, image))

	for _, executor := range executors {
		t.Run(executor, func(t *testing.T) {
			t.Parallel()
			flags := []string{"-f", file, "--local", "--executor", executor, "--container-network", "none"}
			stdout, stderr, code := docket(t, env, append([]string{"run", "greet", "--env", "JOB_EXTRA=x"}, flags...)...)
			if code != 0 {
				t.Fatalf("greet exited %d\n%s", code, stderr)
			}
			for _, want := range []string{"DOCKET_JOB=greet\n", "DOCKET_ATTEMPT=1\n", "JOB_EXTRA=x\n", "JOB_GREETING=hello\n"} {
				if !strings.Contains(stdout, want) {
					t.Errorf("greet's output lacks %q:\n%s", want, stdout)
				}
			}
			// The schedule does not fire: one run, one env listing.
			if n := strings.Count(stdout, "DOCKET_RUN_ID="); n != 1 {
				t.Errorf("greet ran %d times:\n%s", n, stdout)
			}
			for _, want := range []string{"with the " + executor + " executor", "running    Started", "succeeded  Completed: exited with code 0"} {
				if !strings.Contains(stderr, want) {
					t.Errorf("greet's progress lacks %q:\n%s", want, stderr)
				}
			}

			stdout, stderr, code = docket(t, env, append([]string{"run", "fail"}, flags...)...)
			// The run's log holds both streams, in either order for a container.
			lines := strings.SplitAfter(stdout, "\n")
			slices.Sort(lines)
			if code != 3 || strings.Join(lines, "") != "stderr line\nstdout line\n" || !strings.Contains(stderr, "failed     ExitCode: exited with code 3") {
				t.Errorf("fail: exit %d, stdout %q, stderr:\n%s", code, stdout, stderr)
			}

			// With -o json, stdout is the final run alone; the output goes to stderr.
			stdout, stderr, code = docket(t, env, append([]string{"run", "fail", "-o", "json"}, flags...)...)
			var final job.Run
			if err := json.Unmarshal([]byte(stdout), &final); err != nil || code != 3 || final.State != job.StateFailed ||
				final.ExitCode == nil || *final.ExitCode != 3 || !strings.Contains(stderr, "stdout line\n") {
				t.Errorf("fail -o json: exit %d, unmarshal %v, run %+v\nstdout %q\nstderr:\n%s", code, err, final, stdout, stderr)
			}
		})
	}

	t.Run("queues", func(t *testing.T) {
		t.Parallel()
		// A queue the job names runs it: the file's own, or one made without limits.
		job := "name: queued\nimage: busybox\ncommand: [\"echo\", \"through the queue\"]\ncpu: 100m\nmemory: 16Mi\nqueue: gpu\n"
		for file, note := range map[string]bool{
			writeFile(t, dir, "queued.yaml", job):                                                     true,
			writeFile(t, dir, "with-queue.yaml", job+"---\nkind: Queue\nname: gpu\nmax_running: 1\n"): false,
		} {
			stdout, stderr, code := docket(t, env, "run", "-f", file, "--local", "--executor", "process")
			if code != 0 || stdout != "through the queue\n" || strings.Contains(stderr, "queue gpu: not in") != note {
				t.Errorf("run -f %s --local: exit %d\n%s%s", filepath.Base(file), code, stdout, stderr)
			}
		}
		// And the queue --queue names.
		stdout, stderr, code := docket(t, env, "run", "-f", writeFile(t, dir, "queued.yaml", job), "--local", "--executor", "process", "--queue", "cpu")
		if code != 0 || stdout != "through the queue\n" || !strings.Contains(stderr, "queue cpu: not in") {
			t.Errorf("run --local --queue cpu: exit %d\n%s%s", code, stdout, stderr)
		}
	})

	t.Run("outputs", func(t *testing.T) {
		t.Parallel()
		// What a run keeps goes with the throwaway store, unless --download writes it out.
		file := writeFile(t, dir, "keeps.yaml", "name: keeps\nimage: busybox\ncommand: [\"sh\", \"-c\", \"echo a,b > out.csv && docket report --file out.csv\"]\ncpu: 100m\nmemory: 16Mi\n")
		if _, stderr, code := docket(t, env, "run", "-f", file, "--local", "--executor", "process"); code != 0 || !strings.Contains(stderr, "the run kept 1 output file (docket report --file): --download DIR writes them out") {
			t.Errorf("run --local of a job that keeps a file: exit %d\n%s", code, stderr)
		}
		out := filepath.Join(t.TempDir(), "out")
		lines := writeFile(t, dir, "keeps-lines.txt", "x\ny\n")
		_, stderr, code := docket(t, env, "run", "-f", file, "--local", "--executor", "process", "--each-line", lines, "--download", out)
		for _, task := range []string{"0", "1"} {
			if data, err := os.ReadFile(filepath.Join(out, task, "out.csv")); code != 0 || err != nil || string(data) != "a,b\n" {
				t.Errorf("run --local --each-line --download: task %s's file %q %v; exit %d\n%s", task, data, err, code, stderr)
			}
		}
	})

	t.Run("errors", func(t *testing.T) {
		t.Parallel()
		bad := writeFile(t, dir, "bad.yaml", "name: bad\nimage: busybox\nmemory: 64Mi\ncommand: [\"true\"]\n")
		tests := []struct {
			args []string
			code int
			msg  string
		}{
			{[]string{"run", "-f", file, "--local", "--executor", "process"}, 2, "defines 2 jobs (greet, fail); name the one to run"},
			{[]string{"run", "nope", "-f", file, "--local", "--executor", "process"}, 2, `defines no job "nope"; it has greet, fail`},
			{[]string{"run", "-f", file}, 2, "needs --local"},
			{[]string{"run", "--local"}, 2, "--local needs -f FILE"},
			{[]string{"run", "-f", file, "--local", "--executor", "kube"}, 2, `--executor "kube": use container or process`},
			{[]string{"run", "-f", bad, "--local", "--executor", "process"}, 1, "bad.yaml: cpu: is required"},
		}
		for _, tt := range tests {
			_, stderr, code := docket(t, env, tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.msg) {
				t.Errorf("docket %v: exit %d, stderr %q; want exit %d and %q", tt.args, code, stderr, tt.code, tt.msg)
			}
		}
	})
}
