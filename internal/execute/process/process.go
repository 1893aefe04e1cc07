// Package process is the executor of the embedded default: it runs a job's command as a
// process on the server's host, under a keeper that holds every process of the run (see
// keeper.go), watches it to the end, and reports each state change.
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
	// Keeper is the program that runs as each run's keeper: the docket binary, which
	// runs Keep when given KeeperArg. Default: this process's own binary.
	Keeper string
	// IdleKeepers is how many keepers wait for the next run once theirs ended; default 8.
	IdleKeepers int
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Released, if set, is called each time the executor lets go of a run, so it has
	// room for another.
	Released func()
	// Blobs, when set, is where a run's input files are read from, to be copied into its
	// working directory before it starts.
	Blobs execute.BlobReader
	// BinDir, when set, gets a link named docket to the server's own binary, and runs get
	// it at the end of their PATH, so a job calls docket report as it is.
	BinDir string
	// StartWindow is how long a run's start waits to be recorded: a process that ends
	// within it has its start recorded with its end, in one write instead of two.
	// Default 50ms.
	StartWindow time.Duration
}

// Executor runs jobs as local processes.
type Executor struct {
	opts Options
	rec  execute.Updater
	now  func() time.Time
	runs execute.Set

	keepers *pool
	spares  *spares
	paths   pathCache
	path    string // the PATH a run gets unless it sets its own: the server's, and docket's
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
	if opts.Keeper == "" {
		opts.Keeper = "/proc/self/exe" // this binary, even when the file was replaced since
	}
	if opts.IdleKeepers <= 0 {
		opts.IdleKeepers = 8
	}
	if opts.StartWindow <= 0 {
		opts.StartWindow = 50 * time.Millisecond
	}
	return &Executor{
		opts:    opts,
		now:     opts.Now,
		rec:     execute.Updater{Reporter: opts.Reporter, Logger: opts.Logger, Now: opts.Now},
		runs:    execute.Set{Released: opts.Released},
		keepers: &pool{program: opts.Keeper, log: opts.Logger, grace: opts.KillGrace, max: opts.IdleKeepers, now: opts.Now},
		spares:  newSpares(opts.IdleKeepers),
		path:    runPath(os.Getenv("PATH"), linkSelf(opts.BinDir)),
	}
}

// linkSelf puts a link named docket to the server's own binary in dir, so that a run finds
// docket (docket report) on its PATH. It returns dir, or "" when there is none.
func linkSelf(dir string) string {
	self, err := os.Executable()
	if dir == "" || err != nil {
		return ""
	}
	link, next := filepath.Join(dir, "docket"), filepath.Join(dir, "docket.next")
	os.Remove(next)
	if os.MkdirAll(dir, 0o700) != nil || os.Symlink(self, next) != nil || os.Rename(next, link) != nil {
		return ""
	}
	return dir
}

// runPath is the server's PATH with docket's folder after it: a docket the user put on
// the PATH comes first.
func runPath(path, docket string) string {
	switch {
	case docket == "":
		return path
	case path == "":
		return docket
	}
	return path + string(filepath.ListSeparator) + docket
}

// Running returns how many runs hold a process.
func (e *Executor) Running() int { return e.runs.Len() }

// Run removes what runs of an earlier server left in the work directory and ends keepers
// that waited too long for a run until ctx ends; then it stops every process it holds
// (each run is recorded as interrupted) and waits for their records to be written.
func (e *Executor) Run(ctx context.Context) error {
	if err := e.sweepStale(); err != nil {
		e.opts.Logger.Warn("clean the work directory", "err", err)
	}
	t := time.NewTicker(keeperIdle / 2)
	defer t.Stop()
	for ctx.Err() == nil {
		select {
		case <-t.C:
			e.keepers.prune()
		case <-ctx.Done():
		}
	}
	e.runs.Shutdown(execute.Interrupted)
	e.keepers.close()
	e.spares.drop()
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
	if err := e.rec.Report(ctx, job.Update{RunID: id, State: job.StatePending, Reason: job.ReasonStarting, Message: "starting a local process", Notes: append([]job.Note{
		{Reason: job.ReasonImageNotUsed, Message: fmt.Sprintf("the process executor runs the command on this host; image %s is recorded, not pulled", x.Image)},
		{Reason: job.ReasonResourcesNotEnforced, Message: fmt.Sprintf("the process executor does not enforce cpu %s or memory %s", x.CPU, x.Memory)},
	}, x.Notes...)}); err != nil {
		release()
		return fmt.Errorf("mark run %s pending: %w", id, err)
	}

	s, failure := e.command(x)
	if failure != nil {
		e.forget(id) // the working directory, if it was made
		release()
		e.rec.Final(ctx, *failure)
		return nil
	}
	logw := e.opts.Logs.OpenLog(id)
	r, err := e.startCommand(s, logw)
	if err != nil {
		logw.Close()
		e.forget(id)
		release()
		code := 126
		e.rec.Final(ctx, job.Update{RunID: id, State: job.StateFailed, Reason: job.ReasonStartFailed, Message: fmt.Sprintf("could not start %s: %v", x.Command[0], err), ExitCode: &code})
		return nil
	}
	if err := e.record(id, r.k); err != nil {
		e.opts.Logger.Warn("record a run's keeper; after a crash it ends the run on its own", "run_id", id, "err", err)
	}
	host, _ := os.Hostname()
	start := e.reportStart(ctx, job.Update{RunID: id, State: job.StateRunning, Time: e.now(), Reason: job.ReasonStarted,
		Message: fmt.Sprintf("process %d started on %s with a %s deadline", r.pid, host, job.Duration(x.Deadline))})
	go func() {
		defer release()
		u, reusable := e.wait(r, h, x)
		// Every process of the run is gone, so its output ends at once.
		<-r.output
		logw.Close()
		e.done(id, r.k)
		e.keepers.put(r.k, reusable)
		u.Start = start.withEnd()
		e.rec.Final(ctx, u)
	}()
	return nil
}

// lateStart is a run's start, recorded after Options.StartWindow unless the run's end
// takes it first. Pending, recorded before the process exists, is what keeps a run from
// starting twice; running says the process started, and until it is recorded the run
// reads as pending (a server that dies meanwhile recovers it as it recovers a running
// one).
type lateStart struct {
	u        job.Update
	timer    *time.Timer
	recorded chan struct{} // closed once the timer recorded the start (or failed to)
}

// reportStart records u, a run's start, after Options.StartWindow.
func (e *Executor) reportStart(ctx context.Context, u job.Update) *lateStart {
	s := &lateStart{u: u, recorded: make(chan struct{})}
	s.timer = time.AfterFunc(e.opts.StartWindow, func() {
		defer close(s.recorded)
		if err := e.rec.Report(ctx, u); err != nil {
			e.opts.Logger.Warn("record a run's start", "run_id", u.RunID, "err", err)
		}
	})
	return s
}

// withEnd returns the start for the run's end to record with it, when it was not
// recorded yet; otherwise nil, once the start's own record is written, so the end is
// recorded after it.
func (s *lateStart) withEnd() *job.Update {
	if s.timer.Stop() {
		return &s.u
	}
	<-s.recorded
	return nil
}

// startCommand starts s under a keeper; a keeper that cannot start it is not used again.
func (e *Executor) startCommand(s spec, logw io.Writer) (*started, error) {
	k, err := e.keepers.get()
	if err != nil {
		return nil, err
	}
	r, err := k.start(s, logw)
	if err != nil {
		e.keepers.put(k, false)
		if r != nil {
			<-r.output
		}
		return nil, err
	}
	return r, nil
}

// command prepares what x's keeper runs, or returns the update that fails the run.
func (e *Executor) command(x job.Execution) (spec, *job.Update) {
	id := x.Run.ID
	fail := func(reason job.Reason, msg string, code int) (spec, *job.Update) {
		return spec{}, &job.Update{RunID: id, State: job.StateFailed, Reason: reason, Message: msg, ExitCode: &code}
	}
	if len(x.Command) == 0 {
		return fail(job.ReasonNoCommand, "the definition has no command, and the process executor needs one to run", 127)
	}
	env := baseEnv(e.path)
	for k, v := range x.Env {
		env = append(env, k+"="+v)
	}
	runPath := x.Env["PATH"]
	if runPath == "" {
		runPath = e.path
	}
	path, err := e.paths.lookPath(x.Command[0], runPath)
	if err != nil {
		return fail(job.ReasonCommandNotFound, fmt.Sprintf("command not found: %s", x.Command[0]), 127)
	}
	dir := e.workDir(id)
	if err := e.makeWorkDir(dir); err != nil {
		return fail(job.ReasonStartFailed, fmt.Sprintf("could not create the working directory: %v", err), 126)
	}
	if len(x.Inputs) > 0 {
		env = append(env, "DOCKET_INPUTS="+dir) // as every executor sets it: when there are inputs
		if e.opts.Blobs == nil {
			return fail(job.ReasonInputsUnavailable, "this server's process executor has no store to read input files from", 126)
		}
		if f, err := execute.PlaceInputs(context.Background(), e.opts.Blobs, dir, x.Inputs); err != nil {
			u := execute.InputsUnavailable(id, f, err)
			return spec{}, &u
		}
	}
	return spec{Path: path, Args: x.Command, Dir: dir, Env: env}, nil
}

// wait waits for the run's processes to end, enforcing the deadline and stop requests,
// and returns the run's final update, and whether its keeper may take another run.
func (e *Executor) wait(r *started, h *execute.Handle, x job.Execution) (job.Update, bool) {
	deadline := time.NewTimer(x.Deadline)
	defer deadline.Stop()
	var why execute.Stop
	for waiting := true; waiting; {
		select {
		case m, ok := <-r.k.messages:
			switch {
			case !ok:
				return e.exited(x.Run.ID, 0, errors.New("its keeper ended without the command's status")), false
			case m.Status != nil:
				return e.exited(x.Run.ID, syscall.WaitStatus(*m.Status), nil), true
			}
			r.k.warn(m)
		case <-deadline.C:
			why, waiting = execute.Deadline(x.Deadline), false
		case why = <-h.Stopped():
			waiting = false
		}
	}
	reusable := r.stop(e.opts.KillGrace)
	return job.Update{RunID: x.Run.ID, State: why.State, Time: e.now(), Reason: why.Reason, Message: why.Message}, reusable
}

// exited turns the command's wait status into the run's final update.
func (e *Executor) exited(id string, ws syscall.WaitStatus, lost error) job.Update {
	u := job.Update{RunID: id, Time: e.now()}
	switch {
	case lost != nil:
		u.State, u.Reason, u.Message = job.StateFailed, "WaitFailed", fmt.Sprintf("lost track of the process: %v", lost)
	case ws.Signaled():
		code := 128 + int(ws.Signal())
		u.State, u.Reason, u.ExitCode = job.StateFailed, job.ReasonSignaled, &code
		u.Message = fmt.Sprintf("killed by signal %d (%s)", int(ws.Signal()), ws.Signal())
	case ws.ExitStatus() == 0:
		code := 0
		u.State, u.Reason, u.Message, u.ExitCode = job.StateSucceeded, job.ReasonCompleted, "exited with code 0", &code
	default:
		code := ws.ExitStatus()
		u.State, u.Reason, u.Message, u.ExitCode = job.StateFailed, "ExitCode", fmt.Sprintf("exited with code %d", code), &code
	}
	return u
}

// baseEnv is what every run inherits from the server: enough to find programs (path, with
// docket on it) and write temporary files, nothing else (no server secrets).
func baseEnv(path string) []string {
	var env []string
	if path != "" {
		env = append(env, "PATH="+path)
	}
	for _, k := range []string{"HOME", "USER", "LANG", "TZ", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// pathCache remembers where programs were found on a PATH for a second: a server running
// many short runs of one command looks in the PATH's folders once a second, and otherwise
// checks only that the program it found is still there. A program installed meanwhile in
// an earlier folder is found at most a second late.
type pathCache struct {
	mu    sync.Mutex
	found map[[2]string]foundPath
}

type foundPath struct {
	path string
	at   time.Time
}

// pathCacheTTL is how long a program's place is trusted; pathCacheSize bounds the cache.
const (
	pathCacheTTL  = time.Second
	pathCacheSize = 256
)

// lookPath is lookPath, through the cache. Only found programs are remembered.
func (c *pathCache) lookPath(prog, runPath string) (string, error) {
	key, now := [2]string{prog, runPath}, time.Now()
	c.mu.Lock()
	f, ok := c.found[key]
	c.mu.Unlock()
	if ok && now.Sub(f.at) < pathCacheTTL && executable(f.path) {
		return f.path, nil
	}
	path, err := lookPath(prog, runPath)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	if c.found == nil || len(c.found) >= pathCacheSize {
		c.found = map[[2]string]foundPath{}
	}
	c.found[key] = foundPath{path, now}
	c.mu.Unlock()
	return path, nil
}

// lookPath finds a program the way the run's shell would: on the run's PATH (its own, or
// the one it gets from the server).
func lookPath(prog, runPath string) (string, error) {
	if runPath == "" || filepath.Base(prog) != prog {
		return exec.LookPath(prog)
	}
	for _, dir := range filepath.SplitList(runPath) {
		if candidate := filepath.Join(dir, prog); executable(candidate) {
			return candidate, nil
		}
	}
	return "", exec.ErrNotFound
}

// executable says whether path is a file someone may execute.
func executable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}
