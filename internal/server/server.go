// Package server is Docket's composition root: it opens the store and builds the scheduler,
// dispatcher, executor, recorder and HTTP API, wired together, then runs them as
// components on one runner (leader-only ones on the server holding their lease) until the
// context ends.
package server

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"docket.dev/docket/internal/alert"
	"docket.dev/docket/internal/api"
	"docket.dev/docket/internal/auth"
	"docket.dev/docket/internal/awsbatch"
	"docket.dev/docket/internal/definition"
	"docket.dev/docket/internal/dispatch"
	"docket.dev/docket/internal/execute"
	"docket.dev/docket/internal/execute/container"
	"docket.dev/docket/internal/execute/kube"
	"docket.dev/docket/internal/execute/process"
	"docket.dev/docket/internal/imagecheck"
	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/lease"
	"docket.dev/docket/internal/metrics"
	"docket.dev/docket/internal/record"
	"docket.dev/docket/internal/retention"
	"docket.dev/docket/internal/schedule"
	"docket.dev/docket/internal/store"
	"docket.dev/docket/internal/store/postgres"
	"docket.dev/docket/internal/store/sqlite"
	"docket.dev/docket/internal/ui"
)

// Run starts a Docket server with cfg and blocks until ctx ends or a component fails. On the
// way out it stops the runs it holds (they are recorded as interrupted) and closes the store.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Retention.Validate(); err != nil {
		return err
	}
	// A run starts in a directory of its own: what it is told of the data directory
	// (docket on its PATH, $DOCKET_INPUTS) must not be relative to the server's.
	dir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return fmt.Errorf("data directory %s: %w", cfg.DataDir, err)
	}
	cfg.DataDir = dir
	s, err := build(ctx, cfg)
	if err != nil {
		return err
	}
	defer s.close()
	// Runs that servers now gone left unfinished are settled, and what they left running
	// that no run stands for is removed, before this server starts anything.
	if err := s.recover(ctx); err != nil {
		return fmt.Errorf("recover runs: %w", err)
	}
	if r, ok := s.exec.(reaper); ok {
		if _, err := r.Reap(ctx); err != nil {
			return fmt.Errorf("remove work nobody follows: %w", err)
		}
	}
	s.api.SetReady()
	cfg.Logger.Info("docket server started", "addr", s.ln.Addr().String(), "data_dir", cfg.DataDir, "executor", cfg.Executor, "instance", s.instance)
	if cfg.Executor == "process" && (cfg.TokensFile != "" || cfg.Tokens != "") {
		// Tokens tell people apart; the process executor's commands can read what would
		// let them act as anyone.
		cfg.Logger.Warn("the process executor runs each job's command as the server's own user: a job can read the data directory " +
			"(the key that signs runs' tokens) and the tokens file, and so act as any token; for a server that several people share, " +
			"use --executor container or kubernetes")
	}
	if cfg.Ready != nil {
		cfg.Ready(s.ln.Addr().String())
	}
	err = s.components.run(ctx)
	cfg.Logger.Info("docket server stopped")
	return err
}

// server is a Docket server, built and ready to run.
type server struct {
	st         store.Store
	dataDir    *dataDirLock // held while the server runs on a SQLite data directory
	ln         net.Listener
	instance   string
	exec       executor
	disp       *dispatch.Dispatcher
	owners     owners
	live       *dispatch.Liveness // nil when one server owns the store
	api        *api.API
	components runner
}

// reaper is an executor that can remove the work left behind for runs nobody follows any
// more (containers, Kubernetes Jobs, processes of a server that died).
type reaper interface {
	Reap(ctx context.Context) (int, error)
}

// build opens the store and the listener and makes every component, wired, without
// starting any.
func build(ctx context.Context, cfg Config) (_ *server, err error) {
	log := cfg.Logger
	tokens, tokensData, err := loadTokens(cfg)
	if err != nil {
		return nil, err
	}
	dataDir, err := claimDataDir(cfg)
	if err != nil {
		return nil, err
	}
	st, shared, err := openStore(ctx, cfg)
	if err != nil {
		dataDir.Close()
		return nil, err
	}
	s := &server{st: st, dataDir: dataDir, instance: instanceID()}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	// The listener comes first: runs are told where the API is (DOCKET_API).
	if s.ln, err = net.Listen("tcp", cfg.Addr); err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	if err := dataDir.Listening(s.ln.Addr().String()); err != nil {
		return nil, err
	}
	apiURL := cfg.APIURL
	if apiURL == "" {
		apiURL = reachable(s.ln.Addr())
	}
	runTokens, err := openRunTokens(ctx, st)
	if err != nil {
		return nil, err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		metrics.NewStoreCollector(st, log, 10*time.Second), metrics.NewQueueCollector(st, log, 10*time.Second))
	obs := newObservers(cfg, metrics.New(reg))
	wake := dispatch.NewWake()
	rec := record.New(record.Options{Store: st, Logger: log, RetryBackoff: cfg.RetryBackoff, Queued: wake.Ring, Transitioned: obs.transitioned})
	logs := &record.Logs{Store: st, Logger: log, Limit: cfg.LogLimit}
	s.owners = owners{st: st, self: s.instance}
	if shared {
		s.owners.peers = &dispatch.Peers{Store: st, Self: s.instance, TTL: cfg.InstanceTTL, Now: time.Now}
	}
	if s.exec, err = openExecutor(ctx, cfg, rec, logs, s.owners, wake, st); err != nil {
		return nil, err
	}
	runEnv := func(runID string) map[string]string {
		return map[string]string{"DOCKET_API": apiURL, "DOCKET_TOKEN": runTokens.For(runID)}
	}
	s.disp = dispatch.New(dispatch.Options{
		Store:           st,
		Executor:        s.exec,
		Reporter:        rec,
		Logger:          log,
		Claimer:         s.instance,
		Parallelism:     cfg.Parallelism,
		Interval:        time.Second,
		DefaultDeadline: cfg.DefaultDeadline,
		Failed:          obs.metrics.DispatchFailed,
		Wake:            wake,
		RunEnv:          runEnv,
	})
	limits := definition.DefaultLimits()
	limits.DefaultDeadline, limits.MaxDeadline, limits.MaxSteps = cfg.DefaultDeadline, cfg.MaxDeadline, cfg.MaxSteps
	s.api = api.New(api.Options{
		MaxInputFile:   cfg.MaxInputFile,
		MaxInputRun:    cfg.MaxRunInputs,
		MaxHeld:        cfg.MaxHeldUploads,
		Store:          st,
		Canceller:      s.disp,
		Logger:         log,
		Limits:         limits,
		Queued:         wake.Ring,
		MetricsHandler: metricsHandler(reg),
		UI:             ui.Handler(),
		Tokens:         tokens,
		RateLimit:      cfg.RateLimit,
		Admission:      admission(s.exec),
		RunTokens:      runTokens,
		Images:         images(cfg),
		Hosts:          publicHosts(cfg),
		Previewer:      previewer{exec: s.exec, defaultDeadline: cfg.DefaultDeadline, runEnv: runEnv, inputsDir: inputsDirs[cfg.Executor]},
		Tasks:          s.disp,
		AWS: awsbatch.New(awsbatch.Options{
			Store: st, Canceller: s.disp, Logger: log, Limits: limits, Admission: admission(s.exec),
			Tokens: tokens, RateLimit: cfg.RateLimit, Queued: wake.Ring, Executor: cfg.Executor,
		}),
	})

	c := &s.components
	if shared {
		s.live = &dispatch.Liveness{Peers: s.owners.peers, Dispatcher: s.disp}
		c.leases, c.holder, c.ttl, c.log = st, s.instance, cfg.InstanceTTL, log
		c.add(s.live)
	}
	c.add(s.disp, s.exec, httpServer{srv: newHTTPServer(s.api, defaultHTTPLimits), ln: s.ln})
	if cfg.Schedule {
		c.addLeader("scheduler", schedule.New(schedule.Options{
			Store: st, Canceller: s.disp, Logger: log, Interval: cfg.ScheduleInterval, Grace: cfg.ScheduleGrace,
			Queued: wake.Ring, Recorded: obs.slotsRecorded,
		}))
	}
	c.addLeader("retention", lease.Unfenced(&retention.Janitor{Store: st, Policy: cfg.Retention, Interval: cfg.RetentionInterval, Logger: log}))
	if obs.pusher != nil {
		c.add(obs.pusher)
	}
	if obs.notifier != nil {
		c.add(obs.notifier)
		c.addLeader("alerts", lease.Unfenced(&alert.DeadMan{Store: st, Notifier: obs.notifier, Interval: cfg.AlertInterval, Logger: log}))
	}
	if cfg.TokensFile != "" {
		c.add(componentFunc(func(ctx context.Context) error {
			return reloadTokens(ctx, cfg.TokensFile, tokensData, tokens, tokensCheckInterval, log)
		}))
	}
	return s, nil
}

// recover settles the runs of servers that are gone: with servers sharing the store, by
// their heartbeats (and goes on doing so while it runs); else every run another process
// claimed.
func (s *server) recover(ctx context.Context) error {
	if s.live != nil {
		return s.live.Start(ctx)
	}
	dead, err := s.owners.dead(ctx)
	if err != nil {
		return err
	}
	return s.disp.Recover(ctx, dead)
}

// close releases the listener, the store and the data directory.
func (s *server) close() {
	if s.ln != nil {
		s.ln.Close()
	}
	s.st.Close()
	s.dataDir.Close()
}

// executor is what the server needs of an executor.
type executor interface {
	dispatch.Executor
	Run(ctx context.Context) error
}

var _ dispatch.Sweeper = (*process.Executor)(nil)

// openExecutor makes the executor the configuration names.
func openExecutor(ctx context.Context, cfg Config, rec execute.Reporter, logs execute.LogOpener, o owners, wake dispatch.Wake, blobs execute.BlobReader) (executor, error) {
	switch cfg.Executor {
	case "process":
		return process.New(process.Options{
			Reporter:  rec,
			Logs:      logs,
			Logger:    cfg.Logger,
			WorkDir:   filepath.Join(cfg.DataDir, "work"),
			BinDir:    filepath.Join(cfg.DataDir, "bin"),
			KillGrace: cfg.KillGrace,
			Released:  wake.Ring,
			Blobs:     blobs,
			// A keeper for each run that may go on at once waits for the next.
			IdleKeepers: cfg.Parallelism,
		}), nil
	case "container":
		engine, err := container.Connect(ctx)
		if err != nil {
			return nil, err
		}
		return container.New(container.Options{
			Engine:    engine,
			Reporter:  rec,
			Logs:      logs,
			Logger:    cfg.Logger,
			KillGrace: cfg.KillGrace,
			Network:   cfg.ContainerNetwork,
			Orphaned:  o.orphaned,
			Released:  wake.Ring,
			Blobs:     blobs,
		}), nil
	case "kubernetes":
		client, err := kubeClient(cfg.Kube)
		if err != nil {
			return nil, err
		}
		k := cfg.Kube
		exec, err := kube.New(ctx, kube.Options{
			Client: client, Namespace: k.Namespace, Namespaces: k.Namespaces, TeamNamespaces: k.TeamNamespaces,
			Reporter: rec, Logs: logs, Logger: cfg.Logger,
			Pod: kube.PodDefaults{
				NodeSelector: k.NodeSelector, Tolerations: k.Tolerations,
				ServiceAccountName: k.ServiceAccountName, PriorityClassName: k.PriorityClassName,
				HelperImage: k.HelperImage,
			},
			PullGrace: k.PullGrace, PendingBudget: k.PendingBudget, Retention: k.Retention,
			Abandoned: o.abandoned, Released: wake.Ring, ArrayParallelism: cfg.Parallelism,
		})
		if err != nil {
			return nil, err
		}
		return exec, nil
	default:
		return nil, fmt.Errorf("executor %q is not available; use process, container or kubernetes", cfg.Executor)
	}
}

// images checks definitions' images in their registries for the Kubernetes executor,
// whose nodes pull from registries, unless turned off. (The container executor may run
// images that exist only on its engine.)
func images(cfg Config) api.Images {
	if cfg.Executor != "kubernetes" || !cfg.CheckImages {
		return nil
	}
	return &imagecheck.Checker{}
}

// admission is the executor's check of what it can run, when it has one; an executor
// without one cannot give GPUs, and refuses a definition that asks for them.
func admission(exec executor) api.Admission {
	if c, ok := exec.(api.Admission); ok {
		return c
	}
	return noGPU{}
}

// noGPU refuses specs that ask for GPUs: the process and container executors run on the
// server's machine and give none.
type noGPU struct{}

func (noGPU) Admit(_ context.Context, spec job.Spec) error {
	if spec.GPU > 0 {
		return job.Invalid("gpu", "asks for %d GPUs, but this server's executor cannot give GPUs; the Kubernetes executor can (nvidia.com/gpu)", spec.GPU)
	}
	return nil
}

// kubeClient connects to the cluster: the kubeconfig given, else the pod's service
// account when the server runs in a cluster, else KUBECONFIG or ~/.kube/config.
func kubeClient(k KubeConfig) (kubernetes.Interface, error) {
	var (
		rc  *rest.Config
		err error
	)
	switch {
	case k.Kubeconfig != "":
		rc, err = clientcmd.BuildConfigFromFlags("", k.Kubeconfig)
	case os.Getenv("KUBERNETES_SERVICE_HOST") != "":
		rc, err = rest.InClusterConfig()
	default:
		rc, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(clientcmd.NewDefaultClientConfigLoadingRules(), nil).ClientConfig()
	}
	if err != nil {
		return nil, fmt.Errorf("kubernetes client configuration: %w", err)
	}
	rc.QPS, rc.Burst = k.QPS, k.Burst
	rc.UserAgent = "docket"
	return kubernetes.NewForConfig(rc)
}

// openStore opens the store the configuration names, and says whether several servers may
// share it (PostgreSQL) or one owns it (SQLite).
func openStore(ctx context.Context, cfg Config) (store.Store, bool, error) {
	url := cfg.DatabaseURL
	if url == "" {
		url = "sqlite://" + filepath.Join(cfg.DataDir, "docket.db")
	}
	switch {
	case strings.HasPrefix(url, "sqlite://"):
		path := strings.TrimPrefix(url, "sqlite://")
		if path == "" {
			return nil, false, errors.New("database url sqlite:// names no file; use sqlite://PATH")
		}
		if err := os.MkdirAll(cfg.DataDir, dataDirMode); err != nil {
			return nil, false, fmt.Errorf("create data dir: %w", err)
		}
		if err := checkWritable(path); err != nil {
			return nil, false, err
		}
		st, err := sqlite.Open(ctx, path)
		if err != nil {
			return nil, false, fmt.Errorf("open sqlite store %s: %w", path, err)
		}
		return st, false, nil
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		st, err := postgres.Open(ctx, url)
		if err != nil {
			return nil, false, fmt.Errorf("open postgres store: %w", err)
		}
		return st, true, nil
	default:
		return nil, false, fmt.Errorf("database url %q: use sqlite://PATH or postgres://USER@HOST:PORT/DB", url)
	}
}

// instanceID names this server process in the runs it claims.
func instanceID() string {
	host, _ := os.Hostname()
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// openRunTokens returns the signer of run tokens, with the key every server sharing the
// store uses: the first server to start makes it.
func openRunTokens(ctx context.Context, st interface {
	SettingInit(ctx context.Context, name, value string) (string, error)
}) (*auth.RunTokens, error) {
	fresh := make([]byte, 32)
	if _, err := rand.Read(fresh); err != nil {
		return nil, err
	}
	key, err := st.SettingInit(ctx, "run-token-key", base64.StdEncoding.EncodeToString(fresh))
	if err != nil {
		return nil, fmt.Errorf("read the run token key: %w", err)
	}
	raw, err := base64.StdEncoding.DecodeString(key)
	if err != nil || len(raw) < 32 {
		return nil, fmt.Errorf("the stored run token key is not 32 bytes of base64")
	}
	return auth.NewRunTokens(raw), nil
}

// reachable is the URL of a listening address that a process on this machine can use: a
// wildcard address becomes the loopback one.
func reachable(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return "http://" + addr.String()
	}
	ip := tcp.IP
	if ip == nil || ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	return "http://" + net.JoinHostPort(ip.String(), strconv.Itoa(tcp.Port))
}

// metricsHandler serves reg's metrics on /metrics, paced: it needs no token, and an answer
// on a server with many jobs takes milliseconds to tens of them to make (metrics.Paced).
func metricsHandler(reg *prometheus.Registry) http.Handler {
	return metrics.NewPaced(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
}
