package container

import (
	"bytes"
	"context"
	"fmt"
	"hash/crc32"
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
//
// The skipped bytes must be the ones the stream brought: under load Podman's followed
// stream also drops lines from the middle of the output. When a stream's skipped bytes
// differ from what it brought, the log says so and then holds the container's whole
// output as the engine stored it, so nothing is lost. Later calls do nothing.
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
	// A line the stream left unfinished is read again whole, from the stored log.
	stdout := &lineWriter{out: f.w, skip: f.stdout.written, want: f.stdout.sum}
	stderr := &lineWriter{out: f.w, skip: f.stderr.written, want: f.stderr.sum}
	if err := f.readStored(ctx, stdout, stderr); err != nil {
		f.stdout.Flush()
		f.stderr.Flush()
		f.e.opts.Logger.Warn("read container logs", "run_id", f.runID, "err", err)
		if !ended {
			fmt.Fprintf(f.w, "[docket: the rest of the container's output could not be read: %v]\n", err)
		}
		return
	}
	if stdout.lost || stderr.lost {
		f.e.opts.Logger.Warn("container log stream lost output; keeping the stored log whole", "run_id", f.runID)
		fmt.Fprintf(f.w, "[docket: the container engine's live log stream lost part of the output; the whole output as the engine stored it follows]\n")
		stdout, stderr = &lineWriter{out: f.w}, &lineWriter{out: f.w}
		if err := f.readStored(ctx, stdout, stderr); err != nil {
			f.e.opts.Logger.Warn("read container logs", "run_id", f.runID, "err", err)
			fmt.Fprintf(f.w, "[docket: the container's stored output could not be read: %v]\n", err)
			return
		}
	}
	stdout.Flush()
	stderr.Flush()
}

// readStored copies the engine's stored log of the container into stdout and stderr; an
// error is returned only when the log could not be asked for (one that breaks off is
// logged, and what came of it is kept).
func (f *follower) readStored(ctx context.Context, stdout, stderr *lineWriter) error {
	rc, err := f.e.engine.ContainerLogs(ctx, f.cid, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return err
	}
	defer rc.Close()
	if _, err := stdcopy.StdCopy(stdout, stderr, rc); err != nil {
		f.e.opts.Logger.Warn("read container logs", "run_id", f.runID, "err", err)
	}
	return nil
}

// maxLine is the longest line a lineWriter holds back waiting for its newline.
const maxLine = 64 << 10

// lineWriter passes one stream's output on in whole lines, so that lines of stdout and
// stderr never break into each other in the run's log, and counts and sums what it passed
// on. The first skip bytes are dropped: they were passed on by an earlier reader, whose
// sum of them is want. Dropped bytes that do not add up to want mark the writer lost; from
// then on it passes nothing on, as what it has is no longer the rest of the stream.
type lineWriter struct {
	out     io.Writer
	skip    int64
	want    uint32
	buf     []byte
	written int64
	sum     uint32
	lost    bool
}

func (l *lineWriter) Write(p []byte) (int, error) {
	n := len(p)
	if l.lost {
		return n, nil
	}
	drop := min(l.skip, int64(len(p)))
	if drop > 0 {
		l.sum = crc32.Update(l.sum, crc32.IEEETable, p[:drop])
		l.skip -= drop
		if l.skip == 0 {
			l.lost = l.sum != l.want
			l.sum = 0
			if l.lost {
				return n, nil
			}
		}
	}
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
	l.sum = crc32.Update(l.sum, crc32.IEEETable, l.buf[:cut])
	l.buf = append(l.buf[:0], l.buf[cut:]...)
	return n, nil
}

// Flush passes on a last line that has no newline.
func (l *lineWriter) Flush() {
	if len(l.buf) > 0 && !l.lost {
		l.out.Write(l.buf)
		l.written += int64(len(l.buf))
		l.sum = crc32.Update(l.sum, crc32.IEEETable, l.buf)
		l.buf = l.buf[:0]
	}
}
