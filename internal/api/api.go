// Package api is Docket's HTTP face: the JSON API under /api/v1 that the CLI and the web UI
// use, and the health endpoints. It reads and writes through the store, validates input with
// package definition, and hands runs to the rest of the flow by storing them queued and
// waking the dispatcher.
package api

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"docket.dev/docket/internal/auth"
	"docket.dev/docket/internal/definition"
	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
)

// Canceller cancels runs (the recorder).
type Canceller interface {
	Cancel(ctx context.Context, runID, by string) (job.Run, error)
}

// Store is what the API needs of the store: definitions, events and reports, and of runs
// and logs what it reads and submits.
type Store interface {
	store.Definitions
	store.Events
	store.Reports
	RunCreateGroup(ctx context.Context, run job.Run, children []job.Run, events []job.Event) (job.Run, bool, error)
	RunGet(ctx context.Context, id string) (job.Run, error)
	RunList(ctx context.Context, f store.RunFilter) ([]job.Run, string, error)
	RunLatest(ctx context.Context, states ...job.State) (map[string]job.Run, error)
	RunRecent(ctx context.Context, jobs []string, n int) (map[string][]job.Run, error)
	LogRead(ctx context.Context, runID string, offset int64, limit int) ([]byte, error)
}

// Options configures the API.
type Options struct {
	Store     Store
	Canceller Canceller
	Logger    *slog.Logger
	Limits    definition.Limits
	// Queued is called after a run was queued, to wake the dispatcher.
	Queued func()
	// Now is the clock; default time.Now.
	Now func() time.Time
	// UI, when set, serves the web UI at / and /ui/.
	UI http.Handler
	// MetricsHandler serves /metrics when set.
	MetricsHandler http.Handler
	// Tokens are the API tokens the server accepts; nil lets every request through (a
	// server that listens on loopback only).
	Tokens *auth.Tokens
	// RateLimit is the requests per second each token may make (bursts of twice that);
	// default 50.
	RateLimit float64
	// Admission, when set, refuses definitions and submissions the executor cannot run
	// (the Kubernetes executor: requests no node can take, a namespace it does not use).
	Admission Admission
	// RunTokens, when set, checks the tokens runs report about themselves with.
	RunTokens *auth.RunTokens
	// Hosts are the names (besides IP addresses and localhost) this server is reached by.
	// A server without tokens answers only requests addressed to these (against DNS
	// rebinding); with tokens, the Host is checked only when some are given.
	Hosts []string
	// Images, when set, refuses definitions whose image the registry says does not
	// exist (executors that pull images).
	Images Images
	// AWS, when set, serves the AWS Batch face: /v1/ and the CloudWatch Logs calls
	// (POST /), past the same host and origin checks; it checks signatures itself.
	AWS http.Handler
}

// Images looks an image up in its registry: an error (a field error on image) when it
// does not exist, a warning when the registry could not be asked.
type Images interface {
	Check(ctx context.Context, image string) (warning string, err error)
}

// Admission says whether the executor can run a job with this spec; the error is a field
// error saying why not (for requests, the largest node's allocatable).
type Admission interface {
	Admit(ctx context.Context, spec job.Spec) error
}

// maxBody caps request bodies; a definition is a few hundred bytes.
const maxBody = 1 << 20

// API serves Docket's HTTP endpoints.
type API struct {
	opts        Options
	now         func() time.Time
	ready       atomic.Bool
	mux         *http.ServeMux
	limits      *limiters
	crossOrigin *http.CrossOriginProtection
	// logWriteTimeout is how long a log's reader may take to take one chunk.
	logWriteTimeout time.Duration
}

// New returns the API with its routes.
func New(opts Options) *API {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Queued == nil {
		opts.Queued = func() {}
	}
	if opts.RateLimit <= 0 {
		opts.RateLimit = 50
	}
	hosts := make([]string, 0, len(opts.Hosts))
	for _, h := range opts.Hosts {
		if name, _, err := net.SplitHostPort(h); err == nil {
			h = name
		}
		hosts = append(hosts, h)
	}
	opts.Hosts = hosts
	a := &API{opts: opts, now: opts.Now, mux: http.NewServeMux(), crossOrigin: http.NewCrossOriginProtection(), logWriteTimeout: time.Minute,
		limits: &limiters{every: rate.Limit(opts.RateLimit), burst: int(2 * opts.RateLimit), byKey: map[string]*rate.Limiter{}}}
	a.routes()
	return a
}

// SetReady marks the server ready (start-up recovery is done).
func (a *API) SetReady() { a.ready.Store(true) }

// ServeHTTP serves a request.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if a.front(w, r) {
		a.mux.ServeHTTP(w, r)
	}
}

func (a *API) routes() {
	m := a.mux
	m.HandleFunc("PUT /api/v1/jobs/{name}", a.guard(auth.Editor, a.putJob))
	m.HandleFunc("GET /api/v1/jobs", a.guard(auth.Viewer, a.listJobs))
	m.HandleFunc("GET /api/v1/jobs/{name}", a.guard(auth.Viewer, a.getJob))
	m.HandleFunc("DELETE /api/v1/jobs/{name}", a.guard(auth.Admin, a.deleteJob))
	m.HandleFunc("POST /api/v1/jobs/{name}/suspend", a.guard(auth.Editor, a.suspendJob(true)))
	m.HandleFunc("POST /api/v1/jobs/{name}/resume", a.guard(auth.Editor, a.suspendJob(false)))
	m.HandleFunc("POST /api/v1/jobs/{name}/runs", a.guard(auth.Editor, a.submitRun))
	m.HandleFunc("GET /api/v1/runs", a.guard(auth.Viewer, a.listRuns))
	m.HandleFunc("GET /api/v1/runs/{id}", a.guard(auth.Viewer, a.getRun))
	m.HandleFunc("GET /api/v1/runs/{id}/events", a.guard(auth.Viewer, a.runEvents))
	m.HandleFunc("GET /api/v1/runs/{id}/logs", a.guard(auth.Viewer, a.runLogs))
	m.HandleFunc("POST /api/v1/runs/{id}/cancel", a.guard(auth.Editor, a.cancelRun))
	m.HandleFunc("POST /api/v1/runs/{id}/report", a.runGuard(auth.Editor, a.postReport))
	m.HandleFunc("GET /api/v1/runs/{id}/report", a.runGuard(auth.Viewer, a.getReport))
	m.HandleFunc("GET /api/v1/runs/{id}/checkpoint", a.runGuard(auth.Viewer, a.getCheckpoint))
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, r, http.StatusOK, map[string]string{"status": "ok"})
	})
	m.HandleFunc("GET /readyz", a.readyz)
	if a.opts.MetricsHandler != nil {
		m.Handle("GET /metrics", a.opts.MetricsHandler)
	}
	m.HandleFunc("GET /api/v1/whoami", a.guard(auth.Viewer, a.whoami))
	if a.opts.UI != nil {
		m.Handle("GET /{$}", a.opts.UI)
		m.Handle("GET /ui/", a.opts.UI)
	}
	if a.opts.AWS != nil {
		m.Handle("/v1/", a.opts.AWS)
		m.Handle("/{$}", a.opts.AWS) // GET / is the UI
	}
	m.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, a.opts.Logger, &statusError{status: http.StatusNotFound, code: "not_found", msg: "no such endpoint: " + r.Method + " " + r.URL.Path})
	})
}

func (a *API) readyz(w http.ResponseWriter, r *http.Request) {
	if !a.ready.Load() {
		writeJSON(w, r, http.StatusServiceUnavailable, map[string]string{"status": "starting"})
		return
	}
	if _, err := a.opts.Store.DefinitionList(r.Context()); err != nil {
		writeJSON(w, r, http.StatusServiceUnavailable, map[string]string{"status": "store unavailable"})
		return
	}
	writeJSON(w, r, http.StatusOK, map[string]string{"status": "ready"})
}
