// Package process is the executor of the embedded default: it runs a job's command as a
// process on the server's host, watches it to the end, and reports each state change.
// The image is recorded but not pulled, and cpu and memory are not enforced; each run's
// events say so, so nobody mistakes a laptop run for an isolated one.
package process

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"docket.dev/docket/internal/job"
)

// Reporter records updates about runs.
type Reporter interface {
	Report(ctx context.Context, u job.Update) error
}

// LogOpener hands out the writer that keeps a run's output.
type LogOpener interface {
	OpenLog(runID string) io.WriteCloser
}

// Options configures an Executor.
type Options struct {
	Reporter Reporter
	Logs     LogOpener
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
	now  func() time.Time

	mu   sync.Mutex
	runs map[string]*proc
	// stopping is set once Run's context ends; no new process starts after it.
	stopping bool
	wg       sync.WaitGroup
}

// proc is one running process and the ways to stop it.
type proc struct {
	stop chan stopRequest
	once sync.Once
}

// stopRequest says why a process is being stopped.
type stopRequest struct {
	state   job.State
	reason  string
	message string
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
	return &Executor{opts: opts, now: opts.Now, runs: map[string]*proc{}}
}

// Running returns how many runs hold a process.
func (e *Executor) Running() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.runs)
}

// Run blocks until ctx ends, then stops every process it holds (each run is recorded as
// interrupted) and waits for their records to be written.
func (e *Executor) Run(ctx context.Context) error {
	<-ctx.Done()
	e.mu.Lock()
	e.stopping = true
	for _, p := range e.runs {
		p.request(stopRequest{job.StateFailed, "Interrupted", "the docket server stopped while the process was running"})
	}
	e.mu.Unlock()
	e.wg.Wait()
	return nil
}

// Cancel stops a run's process; the run is recorded as cancelled by by. It returns
// job.ErrNotFound when this executor holds no process for the run.
func (e *Executor) Cancel(_ context.Context, runID, by string) error {
	e.mu.Lock()
	p, ok := e.runs[runID]
	e.mu.Unlock()
	if !ok {
		return job.ErrNotFound
	}
	p.request(stopRequest{job.StateCancelled, "Cancelled", "cancelled by " + by})
	return nil
}

func (p *proc) request(r stopRequest) {
	p.once.Do(func() { p.stop <- r })
}

// Start runs x's command. It returns once the process has started, or with an error when
// the run could not be marked as starting; failures to start are reported on the run.
func (e *Executor) Start(ctx context.Context, x job.Execution) error {
	id := x.Run.ID
	e.mu.Lock()
	if e.stopping {
		e.mu.Unlock()
		return errors.New("the executor is shutting down")
	}
	if _, dup := e.runs[id]; dup {
		e.mu.Unlock()
		return fmt.Errorf("run %s is already running", id)
	}
	p := &proc{stop: make(chan stopRequest, 1)}
	e.runs[id] = p
	e.wg.Add(1)
	e.mu.Unlock()
	release := func() {
		e.mu.Lock()
		delete(e.runs, id)
		e.mu.Unlock()
		e.wg.Done()
	}

	// Pending is recorded before the process exists: after a crash, a pending run is
	// known to have maybe started and is never started again under the same attempt.
	if err := e.report(ctx, job.Update{RunID: id, State: job.StatePending, Reason: "Starting", Message: "starting a local process"}); err != nil {
		release()
		return fmt.Errorf("mark run %s pending: %w", id, err)
	}
	e.notice(ctx, id, "ImageNotUsed", fmt.Sprintf("the process executor runs the command on this host; image %s is recorded, not pulled", x.Image))
	e.notice(ctx, id, "ResourcesNotEnforced", fmt.Sprintf("the process executor does not enforce cpu %s or memory %s", x.CPU, x.Memory))

	cmd, dir, failure := e.command(x)
	if failure != nil {
		release()
		return e.report(ctx, *failure)
	}
	logw := e.opts.Logs.OpenLog(id)
	cmd.Stdout, cmd.Stderr = logw, logw
	if err := cmd.Start(); err != nil {
		logw.Close()
		os.RemoveAll(dir)
		release()
		code := 126
		return e.report(ctx, job.Update{RunID: id, State: job.StateFailed, Reason: "StartFailed", Message: fmt.Sprintf("could not start %s: %v", x.Command[0], err), ExitCode: &code})
	}
	started := e.now()
	host, _ := os.Hostname()
	e.report(ctx, job.Update{RunID: id, State: job.StateRunning, Time: started, Reason: "Started",
		Message: fmt.Sprintf("process %d started on %s with a %s deadline", cmd.Process.Pid, host, job.Duration(x.Deadline))})
	go func() {
		defer release()
		u := e.wait(cmd, p, x)
		logw.Close()
		os.RemoveAll(dir)
		// The run's context may be gone (shutdown); the record must still be written.
		if err := e.report(context.WithoutCancel(ctx), u); err != nil {
			e.opts.Logger.Error("record run end", "run_id", id, "state", u.State, "err", err)
		}
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
	if err := os.MkdirAll(dir, 0o755); err != nil {
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
func (e *Executor) wait(cmd *exec.Cmd, p *proc, x job.Execution) job.Update {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.NewTimer(x.Deadline)
	defer deadline.Stop()
	var why *stopRequest
	select {
	case err := <-done:
		return e.exited(x.Run.ID, err)
	case <-deadline.C:
		why = &stopRequest{job.StateFailed, "DeadlineExceeded", fmt.Sprintf("exceeded its %s deadline", job.Duration(x.Deadline))}
	case r := <-p.stop:
		why = &r
	}
	e.terminate(cmd, done)
	return job.Update{RunID: x.Run.ID, State: why.state, Time: e.now(), Reason: why.reason, Message: why.message}
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

func (e *Executor) report(ctx context.Context, u job.Update) error {
	if u.Time.IsZero() {
		u.Time = e.now()
	}
	u.Time = u.Time.UTC()
	return e.opts.Reporter.Report(ctx, u)
}

func (e *Executor) notice(ctx context.Context, id, reason, msg string) {
	if err := e.report(ctx, job.Update{RunID: id, Reason: reason, Message: msg}); err != nil {
		e.opts.Logger.Warn("record notice", "run_id", id, "reason", reason, "err", err)
	}
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
