package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"docket.dev/docket/internal/job"
)

// TestTaskStart plays a pod of an array's Indexed Job with the real binary, on a server
// that requires tokens: docket task start, for completion index 1, learns task 1's run,
// fetches its input file with that run's own token and leaves a copy of docket; docket
// task exec from that copy runs task 1's command with its env in its inputs' folder. An
// attempt not made yet is waited for, then given up (exit 1); a cancelled task stops
// (exit 3). The tasks stay queued: their queue is disabled, so nothing else runs them.
func TestTaskStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	token, tokens := tokensFile(t, dir, "ana", "admin")
	s := startServer(t, dir+"/data", "--tokens-file", tokens)
	s.token = token
	as := func(env []string, args ...string) (string, string, int) {
		return docket(t, append([]string{"DOCKET_SERVER=" + s.URL, "DOCKET_TOKEN=" + token, "DOCKET_CONFIG=" + dir + "/none.yaml"}, env...), args...)
	}
	if out, errOut, code := as(nil, "queues", "set", "held", "--disable"); code != 0 {
		t.Fatalf("queues set: exit %d %s%s", code, out, errOut)
	}
	def := writeFile(t, dir, "echo.yaml", `name: echo
image: busybox
command: ["sh", "-c", "echo task=$DOCKET_TASK_INDEX input=$DOCKET_TASK_INPUT run=$DOCKET_RUN_ID attempt=$DOCKET_ATTEMPT in=$(pwd); cat notes.txt"]
cpu: 100m
memory: 64Mi
queue: held
`)
	if _, errOut, code := as(nil, "apply", "-f", def); code != 0 {
		t.Fatalf("apply: %s", errOut)
	}
	lines := writeFile(t, dir, "lines.txt", "line-a\nline-b\nline-c\n")
	notes := writeFile(t, dir, "notes.txt", "the notes\n")
	out, errOut, code := as(nil, "run", "echo", "--each-line", lines, "--file", notes, "-o", "json")
	var array job.Run
	if err := json.Unmarshal([]byte(out), &array); code != 0 || err != nil {
		t.Fatalf("run: exit %d %s%s", code, out, errOut)
	}
	var results struct {
		Results []struct {
			RunID string `json:"run_id"`
		}
	}
	if status := s.api("GET", "/api/v1/runs/"+array.ID+"/results", "", &results); status != 200 || len(results.Results) != 3 {
		t.Fatalf("results: %d %+v", status, results)
	}
	task1 := results.Results[1].RunID

	// The pod of index 1: docket task start, then docket task exec from the copy it left.
	task, inputs := filepath.Join(dir, "task"), filepath.Join(dir, "inputs")
	pod := []string{"DOCKET_API=" + s.URL, "DOCKET_RUN_ID=" + array.ID, "JOB_COMPLETION_INDEX=1", "DOCKET_TASK_FAILURES="}
	out, errOut, code = as(pod, "task", "start", "--dir", task, "--inputs", inputs)
	if code != 0 || !strings.Contains(errOut, "fetched 1 input files") || !strings.Contains(errOut, "task 1 attempt 1: run "+task1) {
		t.Fatalf("task start: exit %d %s%s", code, out, errOut)
	}
	if fi, err := os.Stat(filepath.Join(task, "docket")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("task start left no docket binary of mode 0755: %v %v", fi, err)
	}
	cmd := exec.Command(filepath.Join(task, "docket"), "task", "exec", "--dir", task)
	cmd.Env = append(os.Environ(), pod...)
	got, err := cmd.CombinedOutput()
	want := fmt.Sprintf("task=1 input=line-b run=%s attempt=1 in=%s\nthe notes\n", task1, inputs)
	if err != nil || string(got) != want {
		t.Errorf("task exec: %v %q; want %q", err, got, want)
	}
	if got := s.run(task1); got.State != job.StateQueued {
		t.Errorf("task 1 is %s; starting a pod changes nothing of it", got.State)
	}

	// Attempt 2 of a task whose attempt 1 has not ended: wait, then give up.
	out, errOut, code = as(append(pod, "DOCKET_TASK_FAILURES=1"), "task", "start", "--dir", task, "--wait", "2s")
	if code != 1 || !strings.Contains(errOut, "waiting 1s: task 1: attempt 1 is queued") || !strings.Contains(errOut, "gave up after 2s") {
		t.Errorf("task start of attempt 2: exit %d %s%s; want to wait and give up", code, out, errOut)
	}
	// A cancelled task: stop.
	if status := s.api("POST", "/api/v1/runs/"+results.Results[0].RunID+"/cancel", "", nil); status != 200 {
		t.Fatalf("cancel task 0: %d", status)
	}
	out, errOut, code = as(pod, "task", "start", "--dir", task, "--index", "0")
	if code != job.TaskStopExitCode || !strings.Contains(errOut, "task 0 attempt 1 ended (cancelled") {
		t.Errorf("task start of a cancelled task: exit %d %s%s; want %d", code, out, errOut, job.TaskStopExitCode)
	}
}
