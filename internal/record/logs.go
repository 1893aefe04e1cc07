package record

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
)

// LogStore appends to runs' logs.
type LogStore interface {
	LogAppend(ctx context.Context, runID string, data []byte) error
	LogSize(ctx context.Context, runID string) (int64, error)
}

// Logs hands out writers that keep runs' output in the store, batched so that a chatty
// process does not become a write per line.
type Logs struct {
	Store  LogStore
	Logger *slog.Logger
	// Limit caps the bytes kept of one run's log, whatever wrote them (a pod that replaced
	// a disrupted one, a server that took the run over); past it a notice is kept instead.
	Limit int64
	// FlushEvery bounds how long output waits in memory; default 250ms.
	FlushEvery time.Duration
}

// flushSize is how much buffered output triggers a write without waiting for the timer.
const flushSize = 64 << 10

// OpenLog returns the writer for one run's log, which adds to what the run's log holds.
// Close flushes what is left.
func (l *Logs) OpenLog(runID string) io.WriteCloser {
	every := l.FlushEvery
	if every <= 0 {
		every = 250 * time.Millisecond
	}
	w := &logWriter{logs: l, runID: runID, done: make(chan struct{}), stopped: make(chan struct{}), sized: l.Limit <= 0}
	go w.loop(every)
	return w
}

// size is how much of a run's log is stored already; a store that cannot say counts as
// none, so the log is kept rather than lost.
func (l *Logs) size(runID string) int64 {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := l.Store.LogSize(ctx, runID)
	if err != nil {
		l.Logger.Error("size of run log", "run_id", runID, "err", err)
		return 0
	}
	return n
}

// logWriter buffers one run's output and flushes it from a timer, on size, and on Close.
type logWriter struct {
	logs    *Logs
	runID   string
	mu      sync.Mutex
	buf     []byte
	kept    int64
	sized   bool // kept includes what the store held when the writer was opened
	capped  bool
	closed  bool
	done    chan struct{}
	stopped chan struct{}
}

// Write keeps p, up to the log limit. It never fails, so a full log does not break the
// process writing it.
func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	if !w.sized {
		// What the run's log holds already counts against the limit; asked at the first
		// output, so a run that prints nothing costs no read.
		w.kept = w.logs.size(w.runID)
		w.capped = w.kept >= w.logs.Limit
		w.sized = true
	}
	if w.capped || w.closed {
		return n, nil
	}
	if room := w.logs.Limit - w.kept - int64(len(w.buf)); w.logs.Limit > 0 && int64(len(p)) > room {
		p = p[:max(room, 0)]
		w.buf = append(w.buf, p...)
		w.buf = append(w.buf, fmt.Sprintf("\n[docket: log truncated: runs keep at most %d bytes of output]\n", w.logs.Limit)...)
		w.capped = true
	} else {
		w.buf = append(w.buf, p...)
	}
	if len(w.buf) >= flushSize {
		w.flushLocked()
	}
	return n, nil
}

// Close flushes the rest and stops the timer.
func (w *logWriter) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.mu.Unlock()
	close(w.done)
	<-w.stopped
	w.mu.Lock()
	defer w.mu.Unlock()
	w.flushLocked()
	return nil
}

func (w *logWriter) loop(every time.Duration) {
	defer close(w.stopped)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-w.done:
			return
		case <-t.C:
			w.mu.Lock()
			w.flushLocked()
			w.mu.Unlock()
		}
	}
}

// flushLocked writes the buffer to the store. A store that refuses loses that piece of the
// log, which is logged; the run itself goes on.
func (w *logWriter) flushLocked() {
	if len(w.buf) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.logs.Store.LogAppend(ctx, w.runID, w.buf); err != nil {
		w.logs.Logger.Error("append run log", "run_id", w.runID, "bytes", len(w.buf), "err", err)
	}
	w.kept += int64(len(w.buf))
	w.buf = w.buf[:0]
}
