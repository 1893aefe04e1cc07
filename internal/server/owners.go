package server

import (
	"context"
	"errors"

	"docket.dev/docket/internal/dispatch"
	"docket.dev/docket/internal/job"
)

// owners tells whether a run's work still has a server that follows it, for recovery and
// for the executors' reapers.
type owners struct {
	st interface {
		RunGet(ctx context.Context, id string) (job.Run, error)
	}
	self string
	// peers judges the servers sharing the store by their heartbeats; nil when one
	// server owns the store.
	peers *dispatch.Peers
}

// dead says whether the server that claimed a run is gone. One server owns a SQLite file,
// so every other claimer is an earlier process; servers sharing PostgreSQL judge each
// other by their heartbeats.
func (o owners) dead(ctx context.Context) (func(claimer string) bool, error) {
	if o.peers == nil {
		return func(claimer string) bool { return claimer != o.self }, nil
	}
	d, _, err := o.peers.Dead(ctx)
	return d, err
}

// orphaned says whether a container left on the engine belongs to a run of this store
// that nobody runs any more: the run is over, or its server is gone.
func (o owners) orphaned(ctx context.Context, runID string) bool {
	r, err := o.st.RunGet(ctx, runID)
	if err != nil {
		return false
	}
	if r.State.Terminal() {
		return true
	}
	isDead, err := o.dead(ctx)
	return err == nil && isDead(r.ClaimedBy)
}

// abandoned says whether nobody follows a run any more: it is not in this store, or is
// over. The Kubernetes executor deletes such a run's Job only while the Job still works
// (the run failed as interrupted, or was cancelled, while its server was gone); one whose
// pod has ended waits for the retention. An active run's Job is left alone even when its
// server is gone: recovery follows it on.
func (o owners) abandoned(ctx context.Context, runID string) bool {
	r, err := o.st.RunGet(ctx, runID)
	return errors.Is(err, job.ErrNotFound) || err == nil && r.State.Terminal()
}
