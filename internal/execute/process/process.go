// Package process is the executor of the embedded default: it runs a job's command as a
// process on the server's host, watches it to the end, and reports each state change.
// The image is recorded but not pulled, and cpu and memory are not enforced; each run's
// events say so, so nobody mistakes a laptop run for an isolated one.
package process

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"docket.dev/docket/internal/execute"
	"docket.dev/docket/internal/job"
)

// Options configures an Executor.
type Options struct {
	Reporter execute.Reporter
	Logs     execute.LogOpener
	Logger   *slog.Logger
	// WorkDir holds one working directory per run, removed when the run ends.
	WorkDir string
	// KillGrace is how long a process has between SIGTERM and SIGKILL.
	KillGrace time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Executor runs jobs as local processes.
type Executor struct {
	opts Options
	rec  execute.Recorder
	now  func() time.Time
	runs execute.Set
}

// New returns an Executor.
func New(opts Options) *Executor {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.KillGrace <= 0 {
		opts.KillGrace = 10 * time.Second
	}
	return &Executor{opts: opts, now: opts.Now, rec: execute.Recorder{Reporter: opts.Reporter, Logger: opts.Logger, Now: opts.Now}}
}

// Running returns how many runs hold a process.
func (e *Executor) Running() int { return e.runs.Len() }

// Run blocks until ctx ends, then stops every process it holds (each run is recorded as
// interrupted) and waits for their records to be written.
func (e *Executor) Run(ctx context.Context) error {
	<-ctx.Done()
	e.runs.Shutdown(execute.Interrupted)
	return nil
}

// Cancel stops a run's process; the run is recorded as cancelled by by. It returns
// job.ErrNotFound when this executor holds no process for the run.
func (e *Executor) Cancel(_ context.Context, runID, by string) error {
	return e.runs.Cancel(runID, by)
}

// Start runs x's command. It returns once the process has started, or with an error when
// the run could not be marked as starting; failures to start are reported on the run.
func (e *Executor) Start(ctx context.Context, x job.Execution) error {
	id := x.Run.ID
	h, err := e.runs.Add(id)
	if err != nil {
		return err
	}
	release := func() { e.runs.Release(id) }

	// Pending is recorded before the process exists: after a crash, a pending run is
	// known to have maybe started and is never started again under the same attempt.
	if err := e.rec.Report(ctx, job.Update{RunID: id, State: job.StatePending, Reason: "Starting", Message: "starting a local process"}); err != nil {
		release()
		return fmt.Errorf("mark run %s pending: %w", id, err)
	}
	e.rec.Notice(ctx, id, "ImageNotUsed", fmt.Sprintf("the process executor runs the command on this host; image %s is recorded, not pulled", x.Image))
	e.rec.Notice(ctx, id, "ResourcesNotEnforced", fmt.Sprintf("the process executor does not enforce cpu %s or memory %s", x.CPU, x.Memory))

	cmd, dir, failure := e.command(x)
	if failure != nil {
		release()
		e.rec.Final(ctx, *failure)
		return nil
	}
	logw := e.opts.Logs.OpenLog(id)
	cmd.Stdout, cmd.Stderr = logw, logw
	if err := cmd.Start(); err != nil {
		logw.Close()
		os.RemoveAll(dir)
		release()
		code := 126
		e.rec.Final(ctx, job.Update{RunID: id, State: job.StateFailed, Reason: "StartFailed", Message: fmt.Sprintf("could not start %s: %v", x.Command[0], err), ExitCode: &code})
		return nil
	}
	started := e.now()
	host, _ := os.Hostname()
	e.rec.Report(ctx, job.Update{RunID: id, State: job.StateRunning, Time: started, Reason: "Started",
		Message: fmt.Sprintf("process %d started on %s with a %s deadline", cmd.Process.Pid, host, job.Duration(x.Deadline))})
	go func() {
		defer release()
		u := e.wait(cmd, h, x)
		logw.Close()
		os.RemoveAll(dir)
		e.rec.Final(ctx, u)
	}()
	return nil
}

// command prepares x's process, or returns the update that fails the run.
func (e *Executor) command(x job.Execution) (*exec.Cmd, string, *job.Update) {
	id := x.Run.ID
	fail := func(reason, msg string, code int) (*exec.Cmd, string, *job.Update) {
		return nil, "", &job.Update{RunID: id, State: job.StateFailed, Reason: reason, Message: msg, ExitCode: &code}
	}
	if len(x.Command) == 0 {
		return fail("NoCommand", "the definition has no command, and the process executor needs one to run", 127)
	}
	env := baseEnv()
	for k, v := range x.Env {
		env = append(env, k+"="+v)
	}
	path, err := lookPath(x.Command[0], x.Env["PATH"])
	if err != nil {
		return fail("CommandNotFound", fmt.Sprintf("command not found: %s", x.Command[0]), 127)
	}
	dir := filepath.Join(e.opts.WorkDir, id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fail("StartFailed", fmt.Sprintf("could not create the working directory: %v", err), 126)
	}
	cmd := exec.Command(path, x.Command[1:]...)
	cmd.Args[0] = x.Command[0]
	cmd.Dir, cmd.Env = dir, env
	// Its own process group, so a deadline or cancel stops the children too; and killed
	// if the server dies, so no process outlives the record of its run.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = e.opts.KillGrace
	return cmd, dir, nil
}

// wait waits for the process, enforcing the deadline and stop requests, and returns the
// run's final update.
func (e *Executor) wait(cmd *exec.Cmd, h *execute.Handle, x job.Execution) job.Update {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.NewTimer(x.Deadline)
	defer deadline.Stop()
	var why execute.Stop
	select {
	case err := <-done:
		return e.exited(x.Run.ID, err)
	case <-deadline.C:
		why = execute.Deadline(x.Deadline)
	case why = <-h.Stopped():
	}
	e.terminate(cmd, done)
	return job.Update{RunID: x.Run.ID, State: why.State, Time: e.now(), Reason: why.Reason, Message: why.Message}
}

// terminate sends SIGTERM to the process group, then SIGKILL after the grace.
func (e *Executor) terminate(cmd *exec.Cmd, done <-chan error) {
	pgid := -cmd.Process.Pid
	syscall.Kill(pgid, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(e.opts.KillGrace):
		syscall.Kill(pgid, syscall.SIGKILL)
		<-done
	}
	// Stray children that ignored SIGTERM go with the group.
	syscall.Kill(pgid, syscall.SIGKILL)
}

// exited turns a process's exit into the run's final update.
func (e *Executor) exited(id string, err error) job.Update {
	u := job.Update{RunID: id, Time: e.now()}
	var ee *exec.ExitError
	switch {
	case err == nil:
		code := 0
		u.State, u.Reason, u.Message, u.ExitCode = job.StateSucceeded, "Completed", "exited with code 0", &code
	case errors.As(err, &ee):
		ws, _ := ee.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			code := 128 + int(ws.Signal())
			u.State, u.Reason, u.ExitCode = job.StateFailed, "Signaled", &code
			u.Message = fmt.Sprintf("killed by signal %d (%s)", int(ws.Signal()), ws.Signal())
			return u
		}
		code := ee.ExitCode()
		u.State, u.Reason, u.Message, u.ExitCode = job.StateFailed, "ExitCode", fmt.Sprintf("exited with code %d", code), &code
	default:
		u.State, u.Reason, u.Message = job.StateFailed, "WaitFailed", fmt.Sprintf("lost track of the process: %v", err)
	}
	return u
}

// baseEnv is what every run inherits from the server: enough to find programs and write
// temporary files, nothing else (no server secrets).
func baseEnv() []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "USER", "LANG", "TZ", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// lookPath finds a program the way the run's shell would: with the run's PATH when it
// sets one, else the server's.
func lookPath(prog, runPath string) (string, error) {
	if runPath == "" || filepath.Base(prog) != prog {
		return exec.LookPath(prog)
	}
	for _, dir := range filepath.SplitList(runPath) {
		candidate := filepath.Join(dir, prog)
		if fi, err := os.Stat(candidate); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return candidate, nil
		}
	}
	return "", exec.ErrNotFound
}
