package dispatch

import (
	"context"
	"fmt"
	"time"

	"docket.dev/docket/internal/store"
)

// Instances is what liveness needs of the store.
type Instances interface {
	InstanceBeat(ctx context.Context, id string, now time.Time) error
	InstanceList(ctx context.Context) ([]store.Instance, error)
	InstanceForget(ctx context.Context, id string) error
}

// Peers judges, from the heartbeats in the store, which of the servers sharing it are
// gone: a server that has not beaten for a TTL.
type Peers struct {
	Store Instances
	// Self is this server's instance id (the dispatcher's Claimer); it is never dead.
	Self string
	TTL  time.Duration
	Now  func() time.Time
}

// Liveness keeps this server's heartbeat in the store and recovers the runs of servers
// whose heartbeat stopped: every TTL/3 it beats, and it takes a server that has not beaten
// for a TTL as dead.
type Liveness struct {
	*Peers
	Dispatcher *Dispatcher
}

// Start beats once and recovers what servers stopped before this one left: at start-up,
// every other instance that has not beaten within the TTL, and every claimer the store
// has no heartbeat of (a server from before heartbeats, or one forgotten).
func (l *Liveness) Start(ctx context.Context) error {
	if err := l.Store.InstanceBeat(ctx, l.Self, l.Now().UTC()); err != nil {
		return fmt.Errorf("record heartbeat: %w", err)
	}
	return l.recover(ctx)
}

// Run beats and recovers until ctx ends.
func (l *Liveness) Run(ctx context.Context) error {
	t := time.NewTicker(l.TTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := l.Store.InstanceBeat(ctx, l.Self, l.Now().UTC()); err != nil && ctx.Err() == nil {
			l.Dispatcher.opts.Logger.Error("record heartbeat", "err", err)
			continue
		}
		if err := l.recover(ctx); err != nil && ctx.Err() == nil {
			l.Dispatcher.opts.Logger.Error("recover runs of stopped servers", "err", err)
		}
	}
}

// Dead reports, from the store's heartbeats, which claimers are gone, and lists the
// instances that stopped beating.
func (p *Peers) Dead(ctx context.Context) (func(claimer string) bool, []string, error) {
	instances, err := p.Store.InstanceList(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("list instances: %w", err)
	}
	cutoff := p.Now().UTC().Add(-p.TTL)
	alive := map[string]bool{p.Self: true}
	var gone []string
	for _, in := range instances {
		if in.ID == p.Self {
			continue
		}
		if in.BeatAt.After(cutoff) {
			alive[in.ID] = true
		} else {
			gone = append(gone, in.ID)
		}
	}
	return func(claimer string) bool { return !alive[claimer] }, gone, nil
}

func (l *Liveness) recover(ctx context.Context) error {
	// Runs first, heartbeats second: a server beats before it claims, so every claimer in
	// the list has a heartbeat in the later read, and a server that has just started is
	// not taken for dead.
	runs, err := l.Dispatcher.unfinished(ctx)
	if err != nil {
		return err
	}
	dead, gone, err := l.Dead(ctx)
	if err != nil {
		return err
	}
	if err := l.Dispatcher.settle(ctx, runs, dead); err != nil {
		return err
	}
	// Their runs are settled: forget them, so the table holds the living.
	for _, id := range gone {
		if err := l.Store.InstanceForget(ctx, id); err != nil {
			return fmt.Errorf("forget instance %s: %w", id, err)
		}
	}
	return nil
}
