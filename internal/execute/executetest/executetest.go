// Package executetest records what an executor reports, the way the recorder and the log
// store would, for the executors' tests.
package executetest

import (
	"bytes"
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"docket.dev/docket/internal/job"
)

// Recorder collects updates and logs. It fails a test that reports a run's end before
// closing its log, since the real recorder would then miss output.
type Recorder struct {
	mu      sync.Mutex
	updates []job.Update
	logs    map[string]*logBuf
	done    chan job.Update
	err     error
}

// New returns a Recorder.
func New() *Recorder {
	return &Recorder{logs: map[string]*logBuf{}, done: make(chan job.Update, 100)}
}

type logBuf struct {
	rec    *Recorder
	buf    bytes.Buffer
	closed bool
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.rec.mu.Lock()
	defer l.rec.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuf) Close() error {
	l.rec.mu.Lock()
	defer l.rec.mu.Unlock()
	l.closed = true
	return nil
}

// OpenLog returns a writer that adds to a run's log, as the log store's does.
func (r *Recorder) OpenLog(runID string) io.WriteCloser {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := &logBuf{rec: r}
	if old := r.logs[runID]; old != nil {
		l.buf.Write(old.buf.Bytes())
	}
	r.logs[runID] = l
	return l
}

// Report records an update; a start that goes with it is recorded first, as its own
// update, as the store records it.
func (r *Recorder) Report(_ context.Context, u job.Update) error {
	r.mu.Lock()
	if u.Start != nil {
		r.updates = append(r.updates, *u.Start)
		u.Start = nil
	}
	r.updates = append(r.updates, u)
	if l := r.logs[u.RunID]; u.State.Terminal() && l != nil && !l.closed && r.err == nil {
		r.err = &logOpenError{u.RunID}
	}
	r.mu.Unlock()
	if u.State.Terminal() {
		r.done <- u
	}
	return nil
}

type logOpenError struct{ runID string }

func (e *logOpenError) Error() string {
	return "run " + e.runID + ": terminal state reported before the log was closed"
}

// Finish waits for the next terminal update.
func (r *Recorder) Finish(t testing.TB, within time.Duration) job.Update {
	t.Helper()
	select {
	case u := <-r.done:
		r.mu.Lock()
		err := r.err
		r.mu.Unlock()
		if err != nil {
			t.Error(err)
		}
		return u
	case <-time.After(within):
		all := r.Updates("")
		t.Fatalf("no terminal update within %v; the last updates: %+v", within, all[max(0, len(all)-3):])
		return job.Update{}
	}
}

// Log returns what a run wrote to its log.
func (r *Recorder) Log(runID string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if l := r.logs[runID]; l != nil {
		return l.buf.String()
	}
	return ""
}

// Updates returns a run's updates in order ("" for every run's).
func (r *Recorder) Updates(runID string) []job.Update {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []job.Update
	for _, u := range r.updates {
		if runID == "" || u.RunID == runID {
			out = append(out, u)
		}
	}
	return out
}

// Reasons returns the reasons of a run's updates in order, each followed by its notes'
// reasons, as the store records them.
func (r *Recorder) Reasons(runID string) []string {
	var out []string
	for _, u := range r.Updates(runID) {
		out = append(out, string(u.Reason))
		for _, n := range u.Notes {
			out = append(out, string(n.Reason))
		}
	}
	return out
}

// WaitIdle waits until the executor holds no runs.
func WaitIdle(t testing.TB, e interface{ Running() int }) {
	t.Helper()
	for start := time.Now(); e.Running() != 0; time.Sleep(10 * time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("executor still holds %d runs", e.Running())
		}
	}
}
