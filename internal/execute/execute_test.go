package execute

import (
	"errors"
	"strings"
	"testing"
	"time"

	"docket.dev/docket/internal/job"
)

func TestSet(t *testing.T) {
	t.Parallel()
	var s Set
	h, err := s.Add("r1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add("r1"); err == nil {
		t.Error("a run held twice must be refused")
	}
	if err := s.Stop("absent", Interrupted); !errors.Is(err, job.ErrNotFound) {
		t.Errorf("Stop of a run not held = %v; want ErrNotFound", err)
	}
	// The first stop asked for wins; later ones are dropped without blocking.
	if err := s.Cancel("r1", "ana"); err != nil {
		t.Fatal(err)
	}
	s.Stop("r1", Deadline(time.Minute))
	if got := <-h.Stopped(); got.State != job.StateCancelled || got.Message != "cancelled by ana" {
		t.Errorf("stop = %+v; want the cancel", got)
	}
	if s.Len() != 1 {
		t.Errorf("Len = %d; want 1", s.Len())
	}

	h2, _ := s.Add("r2")
	shut := make(chan struct{})
	go func() {
		s.Shutdown(Interrupted)
		close(shut)
	}()
	if got := <-h2.Stopped(); got != Interrupted {
		t.Errorf("shutdown stop = %+v", got)
	}
	select {
	case <-shut:
		t.Fatal("Shutdown returned while runs were held")
	case <-time.After(50 * time.Millisecond):
	}
	s.Release("r1")
	s.Release("r2")
	<-shut
	if _, err := s.Add("r3"); err == nil {
		t.Error("a set that shut down must refuse new runs")
	}
}

func TestExited(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		code   int
		oom    bool
		memory string
		state  job.State
		reason job.Reason
		prefix string
	}{
		{"success", 0, false, "64Mi", job.StateSucceeded, "Completed", "exited with code 0"},
		{"exit code", 3, false, "64Mi", job.StateFailed, "ExitCode", "exited with code 3"},
		{"engine reports OOM", 137, true, "64Mi", job.StateFailed, "OOMKilled", "killed by the kernel for using more than its memory limit of 64Mi"},
		{"OOM inferred from SIGKILL under a limit", 137, false, "64Mi", job.StateFailed, "OOMKilled", "killed by the kernel"},
		{"SIGKILL without a limit", 137, false, "", job.StateFailed, "Signaled", "killed by signal 9 (exit code 137)"},
		{"SIGSEGV", 139, false, "64Mi", job.StateFailed, "Signaled", "killed by signal 11"},
		{"high exit code", 200, false, "64Mi", job.StateFailed, "ExitCode", "exited with code 200"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := Exited("r", tt.code, tt.oom, tt.memory)
			if u.State != tt.state || u.Reason != tt.reason || !strings.HasPrefix(u.Message, tt.prefix) || u.ExitCode == nil || *u.ExitCode != tt.code {
				t.Errorf("got %s %s %q exit %v; want %s %s %q... exit %d", u.State, u.Reason, u.Message, u.ExitCode, tt.state, tt.reason, tt.prefix, tt.code)
			}
		})
	}
}

func TestCouldNotStart(t *testing.T) {
	t.Parallel()
	x := job.Execution{Run: job.Run{ID: "r1"}, Image: "python:3.12", Command: []string{"trainer", "--fast"}}
	for _, tt := range []struct {
		name    string
		x       job.Execution
		msg     string
		reason  job.Reason
		code    int
		message string
	}{
		{"containerd", x, `failed to create containerd task: ... exec: "trainer": executable file not found in $PATH: unknown`,
			"CommandNotFound", 127, "command not found in image python:3.12: trainer"},
		{"podman", x, `crun: executable file ` + "`trainer`" + ` not found in $PATH: No such file or directory`,
			"CommandNotFound", 127, "command not found in image python:3.12: trainer"},
		{"a path", x, `exec: "/opt/trainer": stat /opt/trainer: no such file or directory`,
			"CommandNotFound", 127, "command not found in image python:3.12: trainer"},
		{"permission", x, `exec: "trainer": permission denied`,
			"StartFailed", 126, `could not start the container: exec: "trainer": permission denied`},
		{"the image's entrypoint", job.Execution{Run: job.Run{ID: "r1"}, Image: "python:3.12"}, `exec: "python3": executable file not found in $PATH`,
			"StartFailed", 126, `could not start the container: exec: "python3": executable file not found in $PATH`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			u := CouldNotStart(tt.x, tt.msg)
			if u.RunID != "r1" || u.State != job.StateFailed || u.Reason != tt.reason || u.ExitCode == nil || *u.ExitCode != tt.code || u.Message != tt.message {
				t.Errorf("got %+v (exit %v), want failed %s %d %q", u, u.ExitCode, tt.reason, tt.code, tt.message)
			}
		})
	}
}
