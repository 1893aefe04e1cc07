package server

import (
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"

	"docket.dev/docket/internal/alert"
	"docket.dev/docket/internal/api"
	"docket.dev/docket/internal/definition"
	"docket.dev/docket/internal/retention"
)

// Config is everything `docket server` can be told. The zero value is not useful; start from
// DefaultConfig, which is the embedded default: SQLite under ./.docket and local processes.
type Config struct {
	// Addr is the HTTP listen address.
	Addr string
	// DataDir holds the SQLite database and the runs' scratch directories.
	DataDir string
	// DatabaseURL selects the store: "sqlite://PATH" (default: DataDir/docket.db) or
	// "postgres://..." (pgx connection URL).
	DatabaseURL string
	// Executor runs the jobs: "process" (default), "container" or "kubernetes".
	Executor string
	// CheckImages asks the registry whether a definition's image exists when it is
	// applied (Kubernetes executor).
	CheckImages bool
	// Kube configures the Kubernetes executor.
	Kube KubeConfig
	// ContainerNetwork is the network mode of the container executor's containers ("" for
	// the engine's default).
	ContainerNetwork string
	// Parallelism caps how many runs this server executes at once.
	Parallelism int
	// DefaultDeadline applies to definitions that set none; MaxDeadline bounds them.
	DefaultDeadline time.Duration
	MaxDeadline     time.Duration
	// MaxSteps is the most steps a workflow may have.
	MaxSteps int
	// RetryBackoff is the wait before the first retry; it doubles per attempt, up to 10m.
	RetryBackoff time.Duration
	// KillGrace is the time between SIGTERM and SIGKILL when a run is stopped.
	KillGrace time.Duration
	// ScheduleInterval is how often the scheduler looks for due slots; ScheduleGrace is how
	// late a slot may be found and still count as on time rather than missed.
	ScheduleInterval time.Duration
	ScheduleGrace    time.Duration
	// Schedule turns the scheduler on; without it the server runs only what is submitted
	// (docket run --local).
	Schedule bool
	// InstanceTTL is how long a server sharing PostgreSQL may go without a heartbeat
	// before the others take it for dead and recover its runs; it is also the term of the
	// scheduler's leader lease.
	InstanceTTL time.Duration
	// TokensFile lists the API tokens the server accepts (see docket token). Without it
	// the API is open, which the server allows only on a loopback address, unless
	// InsecureNoAuth.
	TokensFile     string
	InsecureNoAuth bool
	// Tokens is a tokens file's contents given directly (docket server reads it from
	// DOCKET_TOKENS, e.g. a Kubernetes Secret as an environment variable); it is used when
	// TokensFile is empty, and is not reloaded.
	Tokens string
	// RateLimit is the requests per second one token may make.
	RateLimit float64
	// PublicHosts are names the server is reached by, besides IP addresses and localhost
	// (and APIURL's host). A server without tokens answers only requests addressed to
	// these, so that a web page cannot reach it by rebinding its own name to this
	// machine's address; with tokens, the Host is checked only when some are given.
	PublicHosts []string
	// APIURL is where runs reach the API to report (DOCKET_API); "" derives it from the
	// listening address.
	APIURL string
	// LogLimit caps the bytes kept of one run's log.
	LogLimit int64
	// MaxInputFile and MaxRunInputs cap an uploaded input file and all the input files of
	// one run.
	MaxInputFile, MaxRunInputs int64
	// MaxHeldUploads caps the bytes of uploaded files no run names yet that one token may
	// hold, uploads in progress included.
	MaxHeldUploads int64
	// Retention is how long finished runs and their logs are kept; RetentionInterval is
	// how often it is applied.
	Retention         retention.Policy
	RetentionInterval time.Duration
	// Pushgateway, if set, is the URL of a Prometheus Pushgateway that receives each
	// finished run's outcome.
	Pushgateway string
	// Webhooks receive alerts (failed runs, skipped slots, jobs without a success within
	// their window); AlertInterval is how often that window is checked.
	Webhooks      []alert.Webhook
	AlertInterval time.Duration
	// Logger receives the server's structured logs.
	Logger *slog.Logger
	// Ready, if set, is called with the listening address once the server accepts requests.
	Ready func(addr string)
}

// KubeConfig is how the Kubernetes executor reaches the cluster and shapes its Jobs.
type KubeConfig struct {
	// HelperImage is Docket's own image, run as an init container to fetch a run's input
	// files into its pod.
	HelperImage string
	// Kubeconfig is a kubeconfig file; "" uses the in-cluster service account when the
	// server runs in a pod, else KUBECONFIG or ~/.kube/config.
	Kubeconfig string
	// Namespace holds the Jobs of runs whose definition names no namespace; Namespaces
	// are the others a definition may name.
	Namespace  string
	Namespaces []string
	// TeamNamespaces are the namespaces of teams that have their own: see
	// kube.Options.TeamNamespaces.
	TeamNamespaces map[string][]string
	// QPS and Burst are the client's request rate (client-go's 5/10 is too low for batch).
	QPS   float32
	Burst int
	// PullGrace, PendingBudget and Retention: see kube.Options.
	PullGrace, PendingBudget, Retention time.Duration
	// Pod placement defaults for every run.
	NodeSelector       map[string]string
	Tolerations        []corev1.Toleration
	ServiceAccountName string
	PriorityClassName  string
}

// DefaultConfig returns the embedded default configuration.
func DefaultConfig() Config {
	return Config{
		Addr:        "127.0.0.1:8080",
		DataDir:     ".docket",
		Executor:    "process",
		CheckImages: true,
		Kube: KubeConfig{
			Namespace: "default", QPS: 200, Burst: 400,
			PullGrace: 2 * time.Minute, PendingBudget: 10 * time.Minute, Retention: time.Hour,
		},
		Parallelism:      8,
		DefaultDeadline:  time.Hour,
		MaxDeadline:      24 * time.Hour,
		MaxSteps:         definition.DefaultMaxSteps,
		RetryBackoff:     10 * time.Second,
		KillGrace:        10 * time.Second,
		ScheduleInterval: time.Second,
		ScheduleGrace:    time.Minute,
		Schedule:         true,
		InstanceTTL:      15 * time.Second,
		RateLimit:        50,
		LogLimit:         10 << 20,
		MaxInputFile:     256 << 20,
		MaxRunInputs:     256 << 20,
		MaxHeldUploads:   api.DefaultMaxHeld,
		Retention: retention.Policy{
			Runs: 90 * 24 * time.Hour,
			Logs: 30 * 24 * time.Hour,
			Keep: 20,
		},
		RetentionInterval: 10 * time.Minute,
		AlertInterval:     time.Minute,
		Logger:            slog.Default(),
	}
}
