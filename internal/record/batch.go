package record

import (
	"context"
	"sync"
	"time"

	"docket.dev/docket/internal/job"
)

// BatchStore is a store that writes transitions of different runs in one transaction
// (store.Store's RunTransitions). A recorder over one groups the state changes that come
// in while a write is under way into the next write: many runs' changes cost one commit.
type BatchStore interface {
	RunTransitions(ctx context.Context, ts []job.Transition) ([]job.Run, error)
}

// batcher groups the transitions reported side by side (group commit): a transition that
// comes while none is being written is written at once; those that come meanwhile wait,
// and the next write takes them all.
type batcher struct {
	store BatchStore
	// A transition that comes within busyGap of the one before it finds the recorder
	// busy: more are likely on their way, so its write waits linger for them to join it.
	// A transition on a quiet recorder is written at once.
	busyGap, linger time.Duration

	mu      sync.Mutex
	queue   []*write
	writing bool
	last    time.Time // when the last transition came
}

// The batcher's busyGap and linger: on a server busy enough to record a state change every
// 2 ms or less, a change waits at most 200 us more to be written, and shares its commit
// with those that came meanwhile.
const (
	busyGap = 2 * time.Millisecond
	linger  = 200 * time.Microsecond
)

// write is one transition waiting for its batch to be written.
type write struct {
	ctx  context.Context
	t    job.Transition
	run  job.Run
	err  error
	done chan struct{}
}

// transition applies t, in one write with those reported beside it, and returns the run
// as it left it; its error is the one RunTransition would have given.
func (b *batcher) transition(ctx context.Context, t job.Transition, single func(context.Context, job.Transition) (job.Run, error)) (job.Run, error) {
	w := &write{ctx: ctx, t: t, done: make(chan struct{})}
	now := time.Now()
	b.mu.Lock()
	busy := now.Sub(b.last) < b.busyGap
	b.last = now
	b.queue = append(b.queue, w)
	lead := !b.writing
	b.writing = true
	b.mu.Unlock()
	if lead {
		if busy {
			time.Sleep(b.linger)
		}
		b.drain(single)
	}
	<-w.done
	return w.run, w.err
}

// drain writes what waits, then hands what came meanwhile to a goroutine of its own, so
// its caller, whose transition is written, goes on.
func (b *batcher) drain(single func(context.Context, job.Transition) (job.Run, error)) {
	b.mu.Lock()
	batch := b.queue
	b.queue = nil
	b.mu.Unlock()
	b.apply(batch, single)
	b.mu.Lock()
	more := len(b.queue) > 0
	b.writing = more
	b.mu.Unlock()
	if more {
		go b.drain(single)
	}
}

// apply writes a batch in one transaction; when that fails (one of them conflicts, the
// first's context ended, or, where rows are locked, two servers' batches took the same
// rows, a group run or a job's, in opposite orders and the database broke the deadlock),
// each is written on its own, so each gets its own outcome.
func (b *batcher) apply(batch []*write, single func(context.Context, job.Transition) (job.Run, error)) {
	defer func() {
		for _, w := range batch {
			close(w.done)
		}
	}()
	if len(batch) > 1 {
		ts := make([]job.Transition, len(batch))
		for i, w := range batch {
			ts[i] = w.t
		}
		if runs, err := b.store.RunTransitions(batch[0].ctx, ts); err == nil {
			for i, w := range batch {
				w.run = runs[i]
			}
			return
		}
	}
	for _, w := range batch {
		w.run, w.err = single(w.ctx, w.t)
	}
}
