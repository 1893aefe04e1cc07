package container

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"
)

// follower copies a container's stdout and stderr into the run's log while it runs.
type follower struct {
	e        *Executor
	runID    string
	cid      string
	w        io.WriteCloser
	stdout   *lineWriter
	stderr   *lineWriter
	cancel   context.CancelFunc
	done     chan struct{}
	finished bool
}

// follow starts copying the container's output into the run's log.
func (e *Executor) follow(ctx context.Context, runID, cid string) *follower {
	ctx, cancel := context.WithCancel(ctx)
	w := e.opts.Logs.OpenLog(runID)
	f := &follower{e: e, runID: runID, cid: cid, w: w, stdout: &lineWriter{out: w}, stderr: &lineWriter{out: w},
		cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(f.done)
		rc, err := e.engine.ContainerLogs(ctx, cid, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Follow: true})
		if err != nil {
			if ctx.Err() == nil {
				e.opts.Logger.Warn("follow container logs", "run_id", runID, "err", err)
			}
			return
		}
		defer rc.Close()
		if _, err := stdcopy.StdCopy(f.stdout, f.stderr, rc); err != nil && ctx.Err() == nil {
			e.opts.Logger.Warn("copy container logs", "run_id", runID, "err", err)
		}
	}()
	return f
}

// finish completes and closes the run's log once the container has ended: it lets the
// stream end by itself for LogSettle, else closes it; then it reads the engine's stored
// log to its end, skipping the bytes of each stream already kept. The stored log is read
// even when the stream ended by itself, as an engine may end a followed stream before it
// has delivered all the output of a container that exited (Podman does, under load).
// Later calls do nothing.
func (f *follower) finish(ctx context.Context) {
	if f.finished {
		return
	}
	f.finished = true
	defer f.w.Close()
	defer f.cancel()
	ended := true
	select {
	case <-f.done:
	case <-time.After(f.e.opts.LogSettle):
		f.e.opts.Logger.Debug("container log stream still open after the exit; reading the rest", "run_id", f.runID)
		ended = false
		f.cancel()
		<-f.done
	}
	rc, err := f.e.engine.ContainerLogs(ctx, f.cid, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		f.stdout.Flush()
		f.stderr.Flush()
		f.e.opts.Logger.Warn("read container logs", "run_id", f.runID, "err", err)
		if !ended {
			fmt.Fprintf(f.w, "[docket: the rest of the container's output could not be read: %v]\n", err)
		}
		return
	}
	defer rc.Close()
	// A line the stream left unfinished is read again whole, from the stored log.
	stdout := &lineWriter{out: f.w, skip: f.stdout.written}
	stderr := &lineWriter{out: f.w, skip: f.stderr.written}
	if _, err := stdcopy.StdCopy(stdout, stderr, rc); err != nil {
		f.e.opts.Logger.Warn("read container logs", "run_id", f.runID, "err", err)
	}
	stdout.Flush()
	stderr.Flush()
}

// maxLine is the longest line a lineWriter holds back waiting for its newline.
const maxLine = 64 << 10

// lineWriter passes one stream's output on in whole lines, so that lines of stdout and
// stderr never break into each other in the run's log, and counts what it passed on.
// The first skip bytes are dropped: they were passed on by an earlier reader.
type lineWriter struct {
	out     io.Writer
	skip    int64
	buf     []byte
	written int64
}

func (l *lineWriter) Write(p []byte) (int, error) {
	n := len(p)
	drop := min(l.skip, int64(len(p)))
	l.skip -= drop
	l.buf = append(l.buf, p[drop:]...)
	cut := bytes.LastIndexByte(l.buf, '\n') + 1
	if cut == 0 && len(l.buf) >= maxLine {
		cut = len(l.buf)
	}
	if cut == 0 {
		return n, nil
	}
	if _, err := l.out.Write(l.buf[:cut]); err != nil {
		return 0, err
	}
	l.written += int64(cut)
	l.buf = append(l.buf[:0], l.buf[cut:]...)
	return n, nil
}

// Flush passes on a last line that has no newline.
func (l *lineWriter) Flush() {
	if len(l.buf) > 0 {
		l.out.Write(l.buf)
		l.written += int64(len(l.buf))
		l.buf = l.buf[:0]
	}
}
