// Package lease runs leader-only components: of the servers sharing a database, the one
// holding a named lease runs the component, renewing the lease as it goes; when it stops
// renewing (it died, or lost the database), another takes the lease once it expires and
// starts the component there.
package lease

import (
	"context"
	"log/slog"
	"time"

	"docket.dev/docket/internal/store"
)

// Store is what a Leader needs of the store.
type Store interface {
	LeaseAcquire(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (store.Lease, error)
	LeaseRelease(ctx context.Context, name, holder string) error
}

// Component is what a Leader runs while its server holds the lease.
type Component interface {
	// Lead runs until ctx ends, which it does when the lease term is over. fence names
	// the term, for the writes the component makes under it: the store refuses them once
	// the term has ended.
	Lead(ctx context.Context, fence store.Fence) error
}

// ComponentFunc is a function that is a Component.
type ComponentFunc func(ctx context.Context, fence store.Fence) error

// Lead calls f.
func (f ComponentFunc) Lead(ctx context.Context, fence store.Fence) error { return f(ctx, fence) }

// Unfenced is a leader-only component whose writes need no fence (they are safe however
// many servers make them; one server making them saves work).
func Unfenced(c interface {
	Run(ctx context.Context) error
}) Component {
	return ComponentFunc(func(ctx context.Context, _ store.Fence) error { return c.Run(ctx) })
}

// Leader runs a component while it holds a lease.
type Leader struct {
	Store     Store
	Component Component
	Name      string
	Holder    string
	// TTL is how long a lease lasts without renewal; it is renewed every TTL/3.
	TTL    time.Duration
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// term is one stretch of leadership: the component running under one token.
type term struct {
	token  int64
	cancel context.CancelFunc
	done   chan struct{}
}

// Run runs the component whenever this server holds the lease, until ctx ends. The
// component's context ends when the lease is lost: when a renewal fails to reach the
// store before the lease would expire, or another holder has it. An error from the
// component is logged, and it is started again at the next renewal.
func (l *Leader) Run(ctx context.Context) error {
	now := l.Now
	if now == nil {
		now = time.Now
	}
	tick := time.NewTicker(l.TTL / 3)
	defer tick.Stop()
	// expiry ends a term that could not be renewed, a margin before the store lets
	// another server take the lease, so two terms never overlap.
	margin := l.TTL / 6
	expiry := time.NewTimer(l.TTL)
	expiry.Stop()
	defer expiry.Stop()
	var cur *term
	stop := func(why string) {
		if cur == nil {
			return
		}
		cur.cancel()
		<-cur.done
		l.Logger.Warn("leadership lost", "lease", l.Name, "token", cur.token, "why", why)
		cur = nil
	}
	start := func(token int64) {
		fence := store.Fence{Lease: l.Name, Holder: l.Holder, Token: token}
		cctx, cancel := context.WithCancel(ctx)
		cur = &term{token: token, cancel: cancel, done: make(chan struct{})}
		l.Logger.Info("leadership acquired", "lease", l.Name, "token", token)
		go func(t *term) {
			defer close(t.done)
			if err := l.Component.Lead(cctx, fence); err != nil && cctx.Err() == nil {
				l.Logger.Error("leader component stopped", "lease", l.Name, "err", err)
			}
		}(cur)
	}
	defer func() {
		stop("the server is stopping")
		// Let another server take over without waiting for the lease to expire.
		l.Store.LeaseRelease(context.WithoutCancel(ctx), l.Name, l.Holder)
	}()
	for {
		if cur != nil {
			select {
			case <-cur.done: // the component returned on its own; start it again below
				cur.cancel()
				cur = nil
			default:
			}
		}
		at := now()
		lease, err := l.Store.LeaseAcquire(ctx, l.Name, l.Holder, at, l.TTL)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			l.Logger.Error("renew lease", "lease", l.Name, "err", err)
		case lease.Holder != l.Holder:
			stop("another server holds the lease")
		default:
			if cur != nil && lease.Token != cur.token {
				// Lost and regained in between: the old term must not go on.
				stop("the lease changed hands")
			}
			// Counted from before the request, so the lease is never believed held
			// longer than the store holds it.
			expiry.Reset(at.Add(l.TTL - margin).Sub(now()))
			if cur == nil {
				start(lease.Token)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-expiry.C:
			stop("the lease could not be renewed before it expired")
		}
	}
}
