package process

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"docket.dev/docket/internal/execute/container/enginetest"
	"docket.dev/docket/internal/execute/executetest"
	"docket.dev/docket/internal/job"
)

func setup(t *testing.T) (*Executor, *executetest.Recorder) {
	t.Helper()
	rec := executetest.New()
	e := New(Options{Reporter: rec, Logs: rec, WorkDir: t.TempDir(), KillGrace: 300 * time.Millisecond})
	return e, rec
}

func execution(id string, deadline time.Duration, command ...string) job.Execution {
	return job.Execution{
		Run: job.Run{ID: id, Job: "j", Attempt: 1}, Image: "busybox", CPU: "1", Memory: "1Gi",
		Command: command, Deadline: deadline,
		Env: map[string]string{"DOCKET_RUN_ID": id, "MODE": "test"},
	}
}

func TestOutcomes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		command []string
		state   job.State
		reason  string
		message string
		code    int
		log     string
	}{
		{"success with env and both streams", []string{"sh", "-c", "echo run=$DOCKET_RUN_ID mode=$MODE; echo err >&2"},
			job.StateSucceeded, "Completed", "exited with code 0", 0, "run=r1 mode=test\nerr\n"},
		{"exit code", []string{"sh", "-c", "exit 3"}, job.StateFailed, "ExitCode", "exited with code 3", 3, ""},
		{"killed by a signal", []string{"sh", "-c", "kill -KILL $$"}, job.StateFailed, "Signaled", "killed by signal 9 (killed)", 137, ""},
		{"command not found", []string{"no-such-program-anywhere"}, job.StateFailed, "CommandNotFound", "command not found: no-such-program-anywhere", 127, ""},
		{"no command", nil, job.StateFailed, "NoCommand", "the definition has no command, and the process executor needs one to run", 127, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, rec := setup(t)
			if err := e.Start(context.Background(), execution("r1", time.Minute, tt.command...)); err != nil {
				t.Fatal(err)
			}
			u := rec.Finish(t, 20*time.Second)
			if u.State != tt.state || u.Reason != tt.reason || u.Message != tt.message || u.ExitCode == nil || *u.ExitCode != tt.code {
				t.Errorf("final update %s %s %q exit %v; want %s %s %q exit %d", u.State, u.Reason, u.Message, u.ExitCode, tt.state, tt.reason, tt.message, tt.code)
			}
			if got := rec.Log("r1"); got != tt.log {
				t.Errorf("log = %q, want %q", got, tt.log)
			}
			if r := rec.Reasons("r1"); r[0] != "Starting" || r[1] != "ImageNotUsed" || r[2] != "ResourcesNotEnforced" {
				t.Errorf("first updates %v; want Starting, ImageNotUsed, ResourcesNotEnforced", r)
			}
			executetest.WaitIdle(t, e)
		})
	}
}

func TestStops(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		command []string
		stop    func(*Executor, context.CancelFunc)
		state   job.State
		reason  string
		message string
	}{
		{"deadline", []string{"sleep", "30"}, nil, job.StateFailed, "DeadlineExceeded", "exceeded its 1s deadline"},
		{"deadline kills a process that ignores SIGTERM", []string{"sh", "-c", "trap '' TERM; sleep 30"}, nil, job.StateFailed, "DeadlineExceeded", "exceeded its 1s deadline"},
		{"cancel", []string{"sleep", "30"}, func(e *Executor, _ context.CancelFunc) { e.Cancel(context.Background(), "r1", "ana@laptop") },
			job.StateCancelled, "Cancelled", "cancelled by ana@laptop"},
		{"server shutdown", []string{"sleep", "30"}, func(_ *Executor, cancel context.CancelFunc) { cancel() },
			job.StateFailed, "Interrupted", "the docket server stopped during the run"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, rec := setup(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go e.Run(ctx)
			deadline := time.Second
			if tt.stop != nil {
				deadline = time.Minute
			}
			if err := e.Start(context.Background(), execution("r1", deadline, tt.command...)); err != nil {
				t.Fatal(err)
			}
			if tt.stop != nil {
				tt.stop(e, cancel)
			}
			start := time.Now()
			u := rec.Finish(t, 20*time.Second)
			if u.State != tt.state || u.Reason != tt.reason || u.Message != tt.message {
				t.Errorf("final update %s %s %q; want %s %s %q", u.State, u.Reason, u.Message, tt.state, tt.reason, tt.message)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("stopping took %v", d)
			}
			executetest.WaitIdle(t, e)
		})
	}
	t.Run("cancel of an unknown run", func(t *testing.T) {
		t.Parallel()
		e, _ := setup(t)
		if err := e.Cancel(context.Background(), "absent", "x"); err != job.ErrNotFound {
			t.Errorf("err = %v, want ErrNotFound", err)
		}
	})
}

func TestBaseEnvKeepsServerSecretsOut(t *testing.T) {
	t.Setenv("DOCKET_TEST_SECRET", "hunter2")
	e, rec := setup(t)
	if err := e.Start(context.Background(), execution("r1", time.Minute, "env")); err != nil {
		t.Fatal(err)
	}
	rec.Finish(t, 20*time.Second)
	log := rec.Log("r1")
	if strings.Contains(log, "hunter2") || !strings.Contains(log, "MODE=test") || !strings.Contains(log, "PATH=") {
		t.Errorf("run env:\n%s", log)
	}
}

// BenchmarkRun measures one run end to end through the process executor, one at a time,
// with the same test job the container executor's BenchmarkRun runs.
func BenchmarkRun(b *testing.B) {
	bin := enginetest.TestJob(b)
	rec := executetest.New()
	e := New(Options{Reporter: rec, Logs: rec, WorkDir: b.TempDir(), KillGrace: time.Second})
	n := 0
	for b.Loop() {
		n++
		x := execution(fmt.Sprintf("r%d", n), time.Minute, bin, "exit", "0")
		if err := e.Start(context.Background(), x); err != nil {
			b.Fatal(err)
		}
		if u := rec.Finish(b, time.Minute); u.State != job.StateSucceeded {
			b.Fatalf("run %s %s: %s", u.State, u.Reason, u.Message)
		}
	}
}
