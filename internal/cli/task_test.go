package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"docket.dev/docket/internal/client"
	"docket.dev/docket/internal/job"
)

// TestTaskExecution: docket task exec becomes the task's command with the run's env over
// the pod's, in its inputs' folder when it has inputs, its program found on the PATH of
// that env; a missing command or program is an error naming it.
func TestTaskExecution(t *testing.T) {
	t.Parallel()
	bin := t.TempDir()
	prog := filepath.Join(bin, "score")
	if err := os.WriteFile(prog, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	pod := []string{"HOME=/root", "PATH=/nowhere", "DOCKET_RUN_ID=array-run", "DOCKET_TOKEN=array-token"}
	run := client.TaskStart{Action: job.TaskRun, RunID: "task-run", Attempt: 2, Command: []string{"score", "--fast"},
		Env: map[string]string{"PATH": bin, "DOCKET_RUN_ID": "task-run", "DOCKET_TOKEN": "task-token", "DOCKET_TASK_INDEX": "1", "DOCKET_ATTEMPT": "2"}}
	withInputs := run
	withInputs.Inputs = 3

	tests := []struct {
		name    string
		started taskStarted
		want    taskProcess
		err     string
	}{
		{"run", taskStarted{TaskStart: run, InputsDir: "/docket/inputs"}, taskProcess{path: prog, argv: []string{"score", "--fast"},
			env: []string{"HOME=/root", "PATH=" + bin, "DOCKET_RUN_ID=task-run", "DOCKET_TOKEN=task-token", "DOCKET_ATTEMPT=2", "DOCKET_TASK_INDEX=1"}}, ""},
		{"inputs", taskStarted{TaskStart: withInputs, InputsDir: "/docket/inputs"}, taskProcess{path: prog, argv: []string{"score", "--fast"}, dir: "/docket/inputs",
			env: []string{"HOME=/root", "PATH=" + bin, "DOCKET_RUN_ID=task-run", "DOCKET_TOKEN=task-token", "DOCKET_ATTEMPT=2", "DOCKET_TASK_INDEX=1", "DOCKET_INPUTS=/docket/inputs"}}, ""},
		{"absolute", taskStarted{TaskStart: client.TaskStart{Action: job.TaskRun, RunID: "r", Command: []string{"/bin/sh", "-c", "true"}}},
			taskProcess{path: "/bin/sh", argv: []string{"/bin/sh", "-c", "true"}, env: pod}, ""},
		{"no command", taskStarted{TaskStart: client.TaskStart{Action: job.TaskRun, RunID: "r"}}, taskProcess{}, "run r has no command"},
		{"not found", taskStarted{TaskStart: client.TaskStart{Action: job.TaskRun, RunID: "r", Command: []string{"score"}}}, taskProcess{},
			"score: command not found on the PATH /nowhere"},
	}
	for _, tt := range tests {
		got, err := taskExecution(tt.started, pod)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: %v; want an error with %q", tt.name, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(taskProcess{})); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
	if _, err := taskExecution(taskStarted{TaskStart: client.TaskStart{RunID: "r", Command: []string{"score"}}}, pod); ExitCode(err) != 127 {
		t.Errorf("a program not found exits %d; want 127", ExitCode(err))
	}
}

// TestWaitTaskStart: a wait is asked again 1s later, then 2s, ..., at most 5s apart, each
// wait said; past --wait it gives up with the server's message.
func TestWaitTaskStart(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var asked []time.Duration
		start := time.Now()
		ask := func(runAt int) func() (client.TaskStart, error) {
			return func() (client.TaskStart, error) {
				asked = append(asked, time.Since(start))
				if len(asked) == runAt {
					return client.TaskStart{Action: job.TaskRun, RunID: "r"}, nil
				}
				return client.TaskStart{Action: job.TaskWait, Message: "attempt 1 is running"}, nil
			}
		}
		var progress bytes.Buffer
		got, err := waitTaskStart(context.Background(), ask(8), time.Minute, &progress)
		if err != nil || got.Action != job.TaskRun {
			t.Fatalf("%+v, %v; want run", got, err)
		}
		want := []time.Duration{0, 1, 3, 6, 10, 15, 20, 25}
		for i := range want {
			want[i] *= time.Second
		}
		if diff := cmp.Diff(want, asked); diff != "" {
			t.Errorf("asked at (-want +got):\n%s", diff)
		}
		if lines := strings.Count(progress.String(), "waiting "); lines != 7 || !strings.HasPrefix(progress.String(), "waiting 1s: attempt 1 is running\n") {
			t.Errorf("progress said %d waits; want 7:\n%s", lines, progress.String())
		}

		// A server that is not reached or answers 5xx is asked again; a 4xx is final.
		calls := 0
		flaky := func() (client.TaskStart, error) {
			calls++
			switch calls {
			case 1:
				return client.TaskStart{}, errors.New("cannot reach the docket server")
			case 2:
				return client.TaskStart{}, &client.Error{Status: 503, Message: "not ready"}
			}
			return client.TaskStart{}, &client.Error{Status: 400, Message: "index: bad"}
		}
		progress.Reset()
		if _, err := waitTaskStart(context.Background(), flaky, time.Minute, &progress); calls != 3 || err == nil || err.Error() != "index: bad" {
			t.Errorf("asked %d times, then %v; want 3 times, then the 400", calls, err)
		}
		if want := "waiting 1s: cannot reach the docket server\nwaiting 2s: not ready\n"; progress.String() != want {
			t.Errorf("progress %q; want %q", progress.String(), want)
		}

		asked, start = nil, time.Now()
		_, err = waitTaskStart(context.Background(), ask(0), 4*time.Second, &progress)
		if err == nil || !strings.Contains(err.Error(), "gave up after 4s: attempt 1 is running") || ExitCode(err) != 1 {
			t.Errorf("%v (exit %d); want to give up with exit 1", err, ExitCode(err))
		}
		if diff := cmp.Diff([]time.Duration{0, time.Second, 3 * time.Second, 4 * time.Second}, asked); diff != "" {
			t.Errorf("asked at (-want +got):\n%s", diff)
		}
	})
}
