// Package server is Docket's composition root: it opens the store and wires the scheduler,
// dispatcher, executor, recorder and HTTP API together, running each under one errgroup
// until the context ends.
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
	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"docket.dev/docket/internal/alert"
	"docket.dev/docket/internal/api"
	"docket.dev/docket/internal/auth"
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
	log := cfg.Logger
	if err := cfg.Retention.Validate(); err != nil {
		return err
	}
	tokens, tokensData, err := loadTokens(cfg)
	if err != nil {
		return err
	}
	dataDir, err := claimDataDir(cfg)
	if err != nil {
		return err
	}
	defer dataDir.Close()
	st, shared, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()

	instance := instanceID()
	live := &dispatch.Liveness{Store: st, Self: instance, TTL: cfg.InstanceTTL, Now: time.Now}
	// dead says whether the server that claimed a run is gone. One server owns a SQLite
	// file, so every other claimer is an earlier process; servers sharing PostgreSQL judge
	// each other by their heartbeats.
	dead := func(ctx context.Context) (func(claimer string) bool, error) {
		if !shared {
			return func(claimer string) bool { return claimer != instance }, nil
		}
		d, _, err := live.Dead(ctx)
		return d, err
	}
	// orphaned says whether a container left on the engine belongs to a run of this store
	// that nobody runs any more.
	orphaned := func(ctx context.Context, runID string) bool {
		r, err := st.RunGet(ctx, runID)
		if err != nil {
			return false
		}
		if r.State.Terminal() {
			return true
		}
		isDead, err := dead(ctx)
		return err == nil && isDead(r.ClaimedBy)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		metrics.NewStoreCollector(st, log, 10*time.Second))
	met := metrics.New(reg)
	var pusher *metrics.Pusher
	if cfg.Pushgateway != "" {
		pusher = metrics.NewPusher(cfg.Pushgateway, log)
	}
	var notifier *alert.Notifier
	if len(cfg.Webhooks) > 0 {
		notifier = alert.NewNotifier(cfg.Webhooks, log)
	}
	transitioned := func(r job.Run, retry *job.Run) {
		met.Transitioned(r)
		if pusher != nil {
			pusher.Transitioned(r)
		}
		if notifier != nil {
			notifier.RunEnded(r, retry)
		}
	}
	slotsRecorded := func(runs []job.Run) {
		met.SlotsRecorded(runs)
		if notifier != nil {
			notifier.SlotsRecorded(runs)
		}
	}
	runTokens, err := openRunTokens(ctx, st)
	if err != nil {
		return err
	}
	var apiURL string // known once the server listens, before any run starts
	var disp *dispatch.Dispatcher
	wake := func() { disp.Wake() }
	logs := &record.Logs{Store: st, Logger: log, Limit: cfg.LogLimit}
	rec := record.New(record.Options{Store: st, Logger: log, RetryBackoff: cfg.RetryBackoff, Queued: wake, Transitioned: transitioned})
	// abandoned says whether a run's unfinished Kubernetes Job is followed by nobody: its
	// run is not in this store, or is over (failed as interrupted, or cancelled while its
	// server was gone). An active run's Job is left alone even when its server is gone:
	// recovery follows it on.
	abandoned := func(ctx context.Context, runID string) bool {
		r, err := st.RunGet(ctx, runID)
		return errors.Is(err, job.ErrNotFound) || err == nil && r.State.Terminal()
	}
	exec, err := openExecutor(ctx, cfg, rec, logs, orphaned, abandoned)
	if err != nil {
		return err
	}
	rec.SetStopper(exec)
	disp = dispatch.New(dispatch.Options{
		Store:           st,
		Executor:        exec,
		Reporter:        rec,
		Logger:          log,
		Claimer:         instance,
		Parallelism:     cfg.Parallelism,
		Interval:        time.Second,
		DefaultDeadline: cfg.DefaultDeadline,
		Failed:          met.DispatchFailed,
		RunEnv: func(runID string) map[string]string {
			return map[string]string{"DOCKET_API": apiURL, "DOCKET_TOKEN": runTokens.For(runID)}
		},
	})
	live.Dispatcher = disp
	sched := schedule.New(schedule.Options{
		Store:     st,
		Canceller: rec,
		Logger:    log,
		Interval:  cfg.ScheduleInterval,
		Grace:     cfg.ScheduleGrace,
		Queued:    wake,
		Recorded:  slotsRecorded,
	})
	limits := definition.DefaultLimits()
	limits.DefaultDeadline, limits.MaxDeadline = cfg.DefaultDeadline, cfg.MaxDeadline
	httpAPI := api.New(api.Options{
		Store:          st,
		Canceller:      rec,
		Logger:         log,
		Limits:         limits,
		Queued:         wake,
		MetricsHandler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
		UI:             ui.Handler(),
		Tokens:         tokens,
		RateLimit:      cfg.RateLimit,
		Admission:      admission(exec),
		RunTokens:      runTokens,
		Images:         images(cfg),
	})

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	if err := dataDir.Listening(ln.Addr().String()); err != nil {
		ln.Close()
		return err
	}
	apiURL = cfg.APIURL
	if apiURL == "" {
		apiURL = reachable(ln.Addr())
	}
	if shared {
		err = live.Start(ctx)
	} else {
		isDead, _ := dead(ctx)
		err = disp.Recover(ctx, isDead)
	}
	if err != nil {
		ln.Close()
		return fmt.Errorf("recover runs: %w", err)
	}
	// Jobs whose runs were recovered but not followed on (their run is over or gone) are
	// deleted, so no work runs that no run stands for.
	if k, ok := exec.(*kube.Executor); ok {
		if _, err := k.Reap(ctx); err != nil {
			ln.Close()
			return fmt.Errorf("delete Jobs nobody follows: %w", err)
		}
	}
	httpAPI.SetReady()
	srv := &http.Server{Handler: httpAPI, ReadHeaderTimeout: 10 * time.Second}
	log.Info("docket server started", "addr", ln.Addr().String(), "data_dir", cfg.DataDir, "executor", cfg.Executor, "instance", instance)
	if cfg.Ready != nil {
		cfg.Ready(ln.Addr().String())
	}

	janitor := &retention.Janitor{Store: st, Policy: cfg.Retention, Interval: cfg.RetentionInterval, Logger: log}
	g, gctx := errgroup.WithContext(ctx)
	// leaderOnly runs a component on one server among those sharing the database: the
	// holder of the lease called name.
	leaderOnly := func(name string, component func(context.Context) error) {
		if !shared {
			g.Go(func() error { return component(gctx) })
			return
		}
		leader := &lease.Leader{Store: st, Name: name, Holder: instance, TTL: cfg.InstanceTTL, Logger: log}
		g.Go(func() error { return leader.Run(gctx, component) })
	}
	if cfg.Schedule {
		leaderOnly("scheduler", sched.Run)
	}
	leaderOnly("retention", janitor.Run)
	g.Go(func() error { return disp.Run(gctx) })
	if shared {
		g.Go(func() error { return live.Run(gctx) })
	}
	g.Go(func() error { return exec.Run(gctx) })
	if pusher != nil {
		g.Go(func() error { return pusher.Run(gctx) })
	}
	if notifier != nil {
		g.Go(func() error { return notifier.Run(gctx) })
		deadman := &alert.DeadMan{Store: st, Notifier: notifier, Interval: cfg.AlertInterval, Logger: log}
		leaderOnly("alerts", deadman.Run)
	}
	if cfg.TokensFile != "" {
		g.Go(func() error { return reloadTokens(gctx, cfg.TokensFile, tokensData, tokens, tokensCheckInterval, log) })
	}
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve http: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(shutdownCtx)
	})
	err = g.Wait()
	log.Info("docket server stopped")
	return err
}

// executor is what the server needs of an executor.
type executor interface {
	dispatch.Executor
	Run(ctx context.Context) error
}

var _ dispatch.Sweeper = (*process.Executor)(nil)

// openExecutor makes the executor the configuration names. The container executor first
// removes the containers that a crashed server left behind for this store's runs, so a
// run recovered as interrupted is not still running, and goes on removing orphans.
func openExecutor(ctx context.Context, cfg Config, rec execute.Reporter, logs execute.LogOpener, orphaned, abandoned func(context.Context, string) bool) (executor, error) {
	switch cfg.Executor {
	case "process":
		return process.New(process.Options{
			Reporter:  rec,
			Logs:      logs,
			Logger:    cfg.Logger,
			WorkDir:   filepath.Join(cfg.DataDir, "work"),
			KillGrace: cfg.KillGrace,
			// A keeper for each run that may go on at once waits for the next.
			IdleKeepers: cfg.Parallelism,
		}), nil
	case "container":
		engine, err := container.Connect(ctx)
		if err != nil {
			return nil, err
		}
		exec := container.New(container.Options{
			Engine:    engine,
			Reporter:  rec,
			Logs:      logs,
			Logger:    cfg.Logger,
			KillGrace: cfg.KillGrace,
			Network:   cfg.ContainerNetwork,
			Orphaned:  orphaned,
		})
		if _, err := exec.Reap(ctx); err != nil {
			return nil, err
		}
		return exec, nil
	case "kubernetes":
		client, err := kubeClient(cfg.Kube)
		if err != nil {
			return nil, err
		}
		k := cfg.Kube
		exec, err := kube.New(ctx, kube.Options{
			Client: client, Namespace: k.Namespace, Namespaces: k.Namespaces, Reporter: rec, Logs: logs, Logger: cfg.Logger,
			Pod: kube.PodDefaults{
				NodeSelector: k.NodeSelector, Tolerations: k.Tolerations,
				ServiceAccountName: k.ServiceAccountName, PriorityClassName: k.PriorityClassName,
			},
			PullGrace: k.PullGrace, PendingBudget: k.PendingBudget, Retention: k.Retention,
			Abandoned: abandoned,
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

// admission is the executor's check of what it can run, when it has one.
func admission(exec executor) api.Admission {
	if c, ok := exec.(api.Admission); ok {
		return c
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
func openRunTokens(ctx context.Context, st store.Store) (*auth.RunTokens, error) {
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
