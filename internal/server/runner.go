package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"

	"docket.dev/docket/internal/lease"
	"docket.dev/docket/internal/store"
)

// component is a long-running part of the server: Run blocks until ctx ends (or it fails).
type component interface {
	Run(ctx context.Context) error
}

// componentFunc is a function that is a component.
type componentFunc func(ctx context.Context) error

func (f componentFunc) Run(ctx context.Context) error { return f(ctx) }

// runner runs the server's components, each in its own goroutine, until ctx ends or one
// of them fails, which stops the others.
type runner struct {
	components []component
	// leases, when set, is the store of the leases that pick which server runs each
	// leader-only component; nil when one server owns the store and runs them all.
	leases lease.Store
	holder string
	ttl    time.Duration
	log    *slog.Logger
}

// add registers components that every server runs.
func (r *runner) add(cs ...component) { r.components = append(r.components, cs...) }

// addLeader registers a component that one server among those sharing the store runs:
// the holder of the lease called name, whose term fences the component's writes.
func (r *runner) addLeader(name string, c lease.Component) {
	if r.leases == nil {
		r.add(componentFunc(func(ctx context.Context) error { return c.Lead(ctx, store.Fence{}) }))
		return
	}
	r.add(&lease.Leader{Store: r.leases, Component: c, Name: name, Holder: r.holder, TTL: r.ttl, Logger: r.log})
}

// run runs every component until ctx ends or one fails.
func (r *runner) run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, c := range r.components {
		g.Go(func() error { return c.Run(ctx) })
	}
	return g.Wait()
}

// httpServer serves the API on a listener until ctx ends, then shuts down gracefully.
type httpServer struct {
	srv *http.Server
	ln  net.Listener
}

func (h httpServer) Run(ctx context.Context) error {
	served := make(chan error, 1)
	go func() { served <- h.srv.Serve(h.ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve http: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := h.srv.Shutdown(shutdownCtx)
	if serveErr := <-served; !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	return err
}
