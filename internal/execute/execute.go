// Package execute holds what every executor shares: the interfaces to the recorder and the
// log store, and the set of runs an executor holds, with the ways to stop them. The
// executors themselves live in the packages below it (process, container).
package execute

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
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

// Stop says why a run is being stopped and what it is recorded as.
type Stop struct {
	State   job.State
	Reason  job.Reason
	Message string
}

// Interrupted is the stop of every run an executor holds when the server shuts down.
var Interrupted = Stop{job.StateFailed, job.ReasonInterrupted, "the docket server stopped during the run"}

// Released is the stop of a run whose work goes on without its server (a Kubernetes Job):
// the executor lets go of it and records nothing, and the server that starts next follows
// the run on (dispatch's Adopter).
var Released = Stop{Reason: "Released", Message: "the docket server stopped; the run's work goes on"}

// Deadline is the stop of a run that outlived its deadline.
func Deadline(d time.Duration) Stop {
	return Stop{job.StateFailed, job.ReasonDeadlineExceeded, fmt.Sprintf("exceeded its %s deadline", job.Duration(d))}
}

// Handle is one run held by an executor. Its Stopped channel delivers the first stop asked
// for; later requests are dropped.
type Handle struct {
	stop chan Stop
	once sync.Once
}

// Stopped delivers the stop asked for the run.
func (h *Handle) Stopped() <-chan Stop { return h.stop }

func (h *Handle) request(s Stop) {
	h.once.Do(func() { h.stop <- s })
}

// Set is the runs an executor holds. The zero value is ready to use.
type Set struct {
	// Released, if set, is called each time a run is let go, once Len no longer counts
	// it: the executor has room for another (the dispatcher's wake).
	Released func()

	mu       sync.Mutex
	runs     map[string]*Handle
	stopping bool
	wg       sync.WaitGroup
}

// Add takes hold of a run. It fails once the set is shutting down or when the run is held
// already. The caller calls Release when it lets go.
func (s *Set) Add(runID string) (*Handle, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return nil, errors.New("the executor is shutting down")
	}
	if _, dup := s.runs[runID]; dup {
		return nil, fmt.Errorf("run %s is already running", runID)
	}
	if s.runs == nil {
		s.runs = map[string]*Handle{}
	}
	h := &Handle{stop: make(chan Stop, 1)}
	s.runs[runID] = h
	s.wg.Add(1)
	return h, nil
}

// Release lets go of a run taken with Add.
func (s *Set) Release(runID string) {
	s.mu.Lock()
	delete(s.runs, runID)
	s.mu.Unlock()
	if s.Released != nil {
		s.Released()
	}
	s.wg.Done()
}

// Len returns how many runs are held.
func (s *Set) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.runs)
}

// Holds reports whether the run is held.
func (s *Set) Holds(runID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.runs[runID]
	return ok
}

// Stop asks a held run to stop. It returns job.ErrNotFound when the run is not held.
func (s *Set) Stop(runID string, why Stop) error {
	s.mu.Lock()
	h, ok := s.runs[runID]
	s.mu.Unlock()
	if !ok {
		return job.ErrNotFound
	}
	h.request(why)
	return nil
}

// Cancel asks a held run to stop and be recorded as cancelled by by.
func (s *Set) Cancel(runID, by string) error {
	return s.Stop(runID, Stop{job.StateCancelled, job.ReasonCancelled, "cancelled by " + by})
}

// Shutdown refuses new runs, asks every held run to stop with why, and waits until all
// are released.
func (s *Set) Shutdown(why Stop) {
	s.mu.Lock()
	s.stopping = true
	for _, h := range s.runs {
		h.request(why)
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// Updater passes an executor's updates on to the recorder (the Reporter), stamped with the
// executor's clock, and keeps trying to record a run's end while the store is unreachable.
type Updater struct {
	Reporter Reporter
	Logger   *slog.Logger
	Now      func() time.Time
}

// Report records u, stamped with the current time when it carries none.
func (up Updater) Report(ctx context.Context, u job.Update) error {
	if u.Time.IsZero() {
		u.Time = up.Now()
	}
	u.Time = u.Time.UTC()
	return up.Reporter.Report(ctx, u)
}

// FinalPatience is how long Final keeps trying to record a run's end while the store is
// unreachable (a database restart, a failover).
const FinalPatience = time.Minute

// Final records a run's last update. The run's context may be gone (shutdown); the record
// must still be written, so it is reported without cancellation, and retried with backoff
// for up to FinalPatience while the store fails. A conflict (the run is no longer active)
// is not retried. What still fails is logged.
func (up Updater) Final(ctx context.Context, u job.Update) {
	ctx = context.WithoutCancel(ctx)
	if u.Time.IsZero() {
		u.Time = up.Now()
	}
	wait, giveUp := 100*time.Millisecond, time.Now().Add(FinalPatience)
	for {
		err := up.Report(ctx, u)
		if err == nil {
			return
		}
		if errors.Is(err, job.ErrConflict) || errors.Is(err, job.ErrNotFound) || time.Now().After(giveUp) {
			up.Logger.Error("record run end", "run_id", u.RunID, "state", u.State, "err", err)
			return
		}
		up.Logger.Warn("record run end; retrying", "run_id", u.RunID, "state", u.State, "err", err, "retry_in", wait)
		time.Sleep(wait)
		wait = min(2*wait, 5*time.Second)
	}
}

// Notice records an event that leaves the run's state as it is; failures are logged.
func (up Updater) Notice(ctx context.Context, runID string, reason job.Reason, msg string) {
	if err := up.Report(ctx, job.Update{RunID: runID, Reason: reason, Message: msg}); err != nil {
		up.Logger.Warn("record notice", "run_id", runID, "reason", reason, "err", err)
	}
}

// CouldNotStart is the final update of a container the runtime could not start; msg is
// the runtime's error. A program the image lacks is reported as the process executor
// reports it: CommandNotFound, exit code 127, not retried. Anything else is StartFailed
// with exit code 126, as a shell reports a program it cannot execute.
func CouldNotStart(x job.Execution, msg string) job.Update {
	if len(x.Command) > 0 && (strings.Contains(msg, "executable file") && strings.Contains(msg, "not found") ||
		strings.Contains(msg, "no such file or directory")) {
		code := 127
		return job.Update{RunID: x.Run.ID, State: job.StateFailed, Reason: job.ReasonCommandNotFound, ExitCode: &code,
			Message: fmt.Sprintf("command not found in image %s: %s", x.Image, x.Command[0])}
	}
	code := 126
	return job.Update{RunID: x.Run.ID, State: job.StateFailed, Reason: job.ReasonStartFailed, ExitCode: &code,
		Message: fmt.Sprintf("could not start the container: %s", msg)}
}

// Exited maps a container's exit that the executor did not cause to the run's final
// update. Podman never sets OOMKilled, so an exit by SIGKILL (137) under a memory limit is
// taken as the kernel's OOM killer: nothing else kills a container that Docket did not stop.
func Exited(id string, code int, oomKilled bool, memory string) job.Update {
	u := job.Update{RunID: id, ExitCode: &code}
	switch {
	case code == 0:
		u.State, u.Reason, u.Message = job.StateSucceeded, job.ReasonCompleted, "exited with code 0"
	case oomKilled || code == 137 && memory != "":
		u.State, u.Reason = job.StateFailed, job.ReasonOOMKilled
		u.Message = fmt.Sprintf("killed by the kernel for using more than its memory limit of %s (exit code 137)", memory)
	case code > 128 && code <= 128+31:
		u.State, u.Reason = job.StateFailed, job.ReasonSignaled
		u.Message = fmt.Sprintf("killed by signal %d (exit code %d)", code-128, code)
	default:
		u.State, u.Reason, u.Message = job.StateFailed, "ExitCode", fmt.Sprintf("exited with code %d", code)
	}
	return u
}
