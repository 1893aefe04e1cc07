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
	"sync"
	"sync/atomic"
	"time"

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
	store.Queues
	store.Events
	store.Reports
	RunCreateGroup(ctx context.Context, run job.Run, children []job.Run, events []job.Event) (job.Run, bool, error)
	RunResume(ctx context.Context, id string, plan store.ResumePlan) (job.Run, error)
	RunGet(ctx context.Context, id string) (job.Run, error)
	RunTask(ctx context.Context, parent string, index int) (job.Run, error)
	RunAttempts(ctx context.Context, id string) ([]job.Run, error)
	RunList(ctx context.Context, f store.RunFilter) ([]job.Run, string, error)
	RunLatest(ctx context.Context, states ...job.State) (map[string]job.Run, error)
	RunRecent(ctx context.Context, jobs []string, n int) (map[string][]job.Run, error)
	RunSeries(ctx context.Context, f store.SeriesFilter) ([]store.RunPoint, error)
	LogRead(ctx context.Context, runID string, offset int64, limit int) ([]byte, error)
	store.Results
	store.Blobs
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
	// MaxInputFile and MaxInputRun cap an input file and all the input files of a run;
	// 0: DefaultMaxInputs.
	MaxInputFile, MaxInputRun int64
	// MaxHeld caps the bytes of uploaded files no run names yet that one token may hold,
	// uploads in progress included; 0: DefaultMaxHeld.
	MaxHeld int64
	// Images, when set, refuses definitions whose image the registry says does not
	// exist (executors that pull images).
	Images Images
	// AWS, when set, serves the AWS Batch face: /v1/ and the CloudWatch Logs calls
	// (POST /), past the same host and origin checks; it checks signatures itself.
	AWS http.Handler
	// Previewer, when set, shows what a dry-run submission would run (the rendered
	// command, the env, the Kubernetes Job).
	Previewer Previewer
	// Tasks, when set, resolves a task run for a pod of an array's Indexed Job that asks
	// what to run (the dispatcher).
	Tasks TaskResolver
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
	mux         *routeMux
	limits      *auth.Limiters
	crossOrigin *http.CrossOriginProtection
	openAPICache
	storeCheck storeCheck
	follows    followLimit
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
	a := &API{opts: opts, now: opts.Now, mux: &routeMux{ServeMux: http.NewServeMux()}, crossOrigin: http.NewCrossOriginProtection(), logWriteTimeout: time.Minute,
		limits: auth.NewLimiters(opts.RateLimit)}
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
	for _, e := range a.endpoints() {
		a.mux.HandleFunc(e.method+" "+e.path, a.handler(e))
	}
	// The web UI's pages, and a JSON 404 for the rest of /api/: no part of the API.
	if a.opts.UI != nil {
		a.mux.Handle("GET /{$}", a.opts.UI)
		a.mux.Handle("GET /ui/", a.opts.UI)
	}
	// The AWS Batch face (/v1/<operation>) and its CloudWatch Logs endpoint (POST /, JSON
	// 1.1 with X-Amz-Target) speak AWS's protocol, not this API's: no rows of the table.
	if a.opts.AWS != nil {
		a.mux.Handle("/v1/", a.opts.AWS)
		a.mux.Handle("/{$}", a.opts.AWS) // GET / is the UI
	}
	a.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, a.opts.Logger, &statusError{status: http.StatusNotFound, code: "not_found", msg: "no such endpoint: " + r.Method + " " + r.URL.Path})
	})
}

// routeMux is the API's ServeMux, keeping the patterns registered on it, so a test can
// check that every route served is described.
type routeMux struct {
	*http.ServeMux
	patterns []string
}

// Handle registers h for pattern.
func (m *routeMux) Handle(pattern string, h http.Handler) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.Handle(pattern, h)
}

// HandleFunc registers h for pattern.
func (m *routeMux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(h))
}

func (a *API) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, r, http.StatusOK, statusView{Status: "ok"})
}

func (a *API) readyz(w http.ResponseWriter, r *http.Request) {
	if !a.ready.Load() {
		writeJSON(w, r, http.StatusServiceUnavailable, statusView{Status: "starting"})
		return
	}
	if err := a.storeCheck.answer(r.Context(), a.opts.Store, a.opts.Now()); err != nil {
		writeJSON(w, r, http.StatusServiceUnavailable, statusView{Status: "store unavailable"})
		return
	}
	writeJSON(w, r, http.StatusOK, statusView{Status: "ready"})
}

// storeCheck is readyz's read of the store: one job's row, read at most once a second,
// so that probes, which need no token, cost the store little however many come.
type storeCheck struct {
	mu  sync.Mutex
	at  time.Time
	err error
}

// storeCheckFor is how long a check's answer stands.
const storeCheckFor = time.Second

func (c *storeCheck) answer(ctx context.Context, s Store, now time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.at.IsZero() || now.Sub(c.at) >= storeCheckFor || now.Before(c.at) {
		// The answer is every prober's: one that went away does not make it an error.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_, _, c.err = s.DefinitionPage(ctx, store.DefinitionFilter{Limit: 1})
		c.at = now
	}
	return c.err
}
