package cli

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"docket.dev/docket/internal/alert"
	"docket.dev/docket/internal/auth"
	"docket.dev/docket/internal/definition"
	"docket.dev/docket/internal/server"
)

func serverCmd(e *env) *cobra.Command {
	cfg := server.DefaultConfig()
	var (
		logLevel, logFormat           string
		jsonHooks, slackHooks         []string
		jsonHookFiles, slackHookFiles []string
		tolerations, teamNamespaces   []string
	)
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the Docket server: API, scheduler, dispatcher and executor",
		Long: `Run the Docket server. With no flags it keeps its state in SQLite under ./.docket
and runs jobs as local processes, listening on 127.0.0.1:8080.

With --executor container every run is a container on a Docker or Podman engine: the one
DOCKER_HOST names, else the first that answers of Docker's socket
(/var/run/docker.sock), rootful Podman's (/run/podman/podman.sock) and rootless Podman's
($XDG_RUNTIME_DIR/podman/podman.sock). The image is pulled when missing, cpu and memory
are enforced as limits, and the definition's command replaces the image's entrypoint.

With --executor kubernetes every run is a batch/v1 Job in --namespace: requests and the
memory limit from the definition, the deadline as activeDeadlineSeconds, a run that cannot
pull its image (--pull-grace) or find a node (--pending-budget) failed with the reason, and
finished Jobs deleted after --job-retention. --node-selector, --toleration,
--service-account and --priority-class place every run's pod; a definition's kubernetes
block adds to them (namespace, node_selector, tolerations, service_account,
priority_class).`,
		Example: `  docket server
  docket server --addr 0.0.0.0:8080 --data-dir /var/lib/docket --tokens-file /etc/docket/tokens.yaml
  docket server --parallelism 2 --default-deadline 30m
  docket server --retain-runs 30d --retain-logs 7d --retain-per-job 50
  docket server --database-url postgres://docket:secret@db.internal:5432/docket
  docket server --executor container
  DOCKER_HOST=tcp://build-host:2375 docket server --executor container
  docket server --executor kubernetes --namespace batch --node-selector pool=batch
  docket server --executor kubernetes --namespace batch --other-namespaces ml,etl --toleration pool=batch:NoSchedule`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return usageError{fmt.Errorf("--log-level %q: use debug, info, warn or error", logLevel)}
			}
			opts := &slog.HandlerOptions{Level: level}
			switch logFormat {
			case "text":
				cfg.Logger = slog.New(slog.NewTextHandler(e.stderr, opts))
			case "json":
				cfg.Logger = slog.New(slog.NewJSONHandler(e.stderr, opts))
			default:
				return usageError{fmt.Errorf("--log-format %q: use text or json", logFormat)}
			}
			if cfg.Executor != "process" && cfg.Executor != "container" && cfg.Executor != "kubernetes" {
				return usageError{fmt.Errorf("--executor %q: use process, container or kubernetes", cfg.Executor)}
			}
			if err := checkServerFlags(cfg); err != nil {
				return usageError{err}
			}
			hooks, err := webhooks(
				webhookSource{flag: "--webhook", fileFlag: "--webhook-file", envName: "DOCKET_WEBHOOK", format: alert.JSON, urls: jsonHooks, files: jsonHookFiles},
				webhookSource{flag: "--slack-webhook", fileFlag: "--slack-webhook-file", envName: "DOCKET_SLACK_WEBHOOK", format: alert.Slack, urls: slackHooks, files: slackHookFiles})
			if err != nil {
				return usageError{err}
			}
			cfg.Webhooks = hooks
			// A Kubernetes run holds no resources of the server while its pod runs.
			if cfg.Executor == "kubernetes" && !cmd.Flags().Changed("parallelism") {
				cfg.Parallelism = 1000
			}
			for _, raw := range tolerations {
				tol, err := definition.ParseToleration(raw)
				if err != nil {
					return usageError{fmt.Errorf("--toleration: %w", err)}
				}
				cfg.Kube.Tolerations = append(cfg.Kube.Tolerations, tol)
			}
			if cfg.Kube.TeamNamespaces, err = parseTeamNamespaces(teamNamespaces, cfg); err != nil {
				return usageError{err}
			}
			cfg.Tokens = os.Getenv("DOCKET_TOKENS")
			if cfg.Tokens != "" && cfg.TokensFile != "" {
				return usageError{errors.New("both --tokens-file and DOCKET_TOKENS are set; give the tokens one way")}
			}
			dir := cfg.DataDir
			if abs, err := filepath.Abs(dir); err == nil {
				dir = abs // as the server uses it
			}
			cfg.Ready = func(addr string) {
				fmt.Fprintf(e.stderr, "docket server listening on http://%s (data in %s)\n", addr, dir)
			}
			return server.Run(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Addr, "addr", cfg.Addr, "HTTP listen address")
	f.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "directory for the SQLite database and the runs' working directories")
	f.StringVar(&cfg.DatabaseURL, "database-url", "", "store URL: sqlite://PATH (default DATA_DIR/docket.db) or postgres://USER:PASSWORD@HOST:PORT/DB")
	f.StringVar(&cfg.Executor, "executor", cfg.Executor, "how runs execute: process, container (Docker or Podman: DOCKER_HOST, else their usual sockets) or kubernetes")
	f.StringVar(&cfg.ContainerNetwork, "container-network", "", "network of the container executor's containers: none, host, bridge or a network name (default: the engine's)")
	f.BoolVar(&cfg.CheckImages, "check-images", cfg.CheckImages, "kubernetes executor: refuse a definition whose image its registry says does not exist (an unreachable registry only warns)")
	f.StringVar(&cfg.Kube.Kubeconfig, "kubeconfig", "", "kubernetes executor: kubeconfig file (default: the pod's service account in a cluster, else KUBECONFIG or ~/.kube/config)")
	f.StringVar(&cfg.Kube.Namespace, "namespace", cfg.Kube.Namespace, "kubernetes executor: namespace of the runs' Jobs")
	f.StringSliceVar(&cfg.Kube.Namespaces, "other-namespaces", nil, "kubernetes executor: namespaces a definition may choose instead (kubernetes.namespace), e.g. ml,etl")
	f.StringArrayVar(&teamNamespaces, "team-namespace", nil, "kubernetes executor: TEAM=NAMESPACE[,NAMESPACE]: jobs labelled team: TEAM run only there, and no other job does (its service accounts are the team's); repeatable")
	f.Float32Var(&cfg.Kube.QPS, "kube-qps", cfg.Kube.QPS, "kubernetes executor: API requests per second")
	f.IntVar(&cfg.Kube.Burst, "kube-burst", cfg.Kube.Burst, "kubernetes executor: API request burst")
	f.DurationVar(&cfg.Kube.PullGrace, "pull-grace", cfg.Kube.PullGrace, "kubernetes executor: how long a pod may fail to pull its image before the run fails")
	f.DurationVar(&cfg.Kube.PendingBudget, "pending-budget", cfg.Kube.PendingBudget, "kubernetes executor: how long a pod may be unschedulable before the run fails")
	f.DurationVar(&cfg.Kube.Retention, "job-retention", cfg.Kube.Retention, "kubernetes executor: how long finished Jobs stay (docket.dev/keep=true holds one)")
	f.StringToStringVar(&cfg.Kube.NodeSelector, "node-selector", nil, "kubernetes executor: node labels every run's pod requires, e.g. pool=batch")
	f.StringArrayVar(&tolerations, "toleration", nil, "kubernetes executor: a taint every run's pod tolerates, KEY=VALUE:EFFECT, KEY:EFFECT or KEY; repeatable")
	f.StringVar(&cfg.Kube.ServiceAccountName, "service-account", "", "kubernetes executor: service account of the runs' pods")
	f.StringVar(&cfg.Kube.PriorityClassName, "priority-class", "", "kubernetes executor: priority class of the runs' pods")
	f.StringVar(&cfg.Kube.HelperImage, "helper-image", "docket", "kubernetes executor: Docket's own image (as deploy/kubernetes names it), run as an init container that fetches a run's input files")
	f.IntVar(&cfg.Parallelism, "parallelism", cfg.Parallelism, "most runs executing at once on this server (with --executor kubernetes: 1000 unless given)")
	f.DurationVar(&cfg.DefaultDeadline, "default-deadline", cfg.DefaultDeadline, "deadline of jobs that set none")
	f.DurationVar(&cfg.MaxDeadline, "max-deadline", cfg.MaxDeadline, "longest deadline a job may set")
	f.IntVar(&cfg.MaxSteps, "max-steps", cfg.MaxSteps, fmt.Sprintf("most steps a workflow may have (each of its runs makes one run per step at once; at most %d)", definition.StepsCeiling))
	f.DurationVar(&cfg.RetryBackoff, "retry-backoff", cfg.RetryBackoff, "wait before the first retry; doubles per attempt up to 10m")
	f.DurationVar(&cfg.KillGrace, "kill-grace", cfg.KillGrace, "time between SIGTERM and SIGKILL when a run is stopped")
	f.DurationVar(&cfg.ScheduleInterval, "schedule-interval", cfg.ScheduleInterval, "how often the scheduler looks for due slots")
	f.DurationVar(&cfg.ScheduleGrace, "schedule-grace", cfg.ScheduleGrace, "how late a slot may be found and still run as on time")
	f.DurationVar(&cfg.InstanceTTL, "instance-ttl", cfg.InstanceTTL, "with PostgreSQL: how long a server may miss heartbeats before the others recover its runs, and the scheduler lease's term")
	f.StringVar(&cfg.APIURL, "api-url", "", "where runs reach the API to report (DOCKET_API in every run; default: this server's listening address); set it when jobs run elsewhere, e.g. http://docket.docket.svc:8080")
	f.StringArrayVar(&cfg.PublicHosts, "public-host", nil, "a name this server is reached by (besides IP addresses, localhost and --api-url's host); without tokens it answers only requests addressed to those; repeatable")
	f.StringVar(&cfg.TokensFile, "tokens-file", "", "API tokens the server accepts (docket token new); required unless --addr is a loopback address")
	f.BoolVar(&cfg.InsecureNoAuth, "insecure-no-auth", false, "serve an open API on a non-loopback address (anyone who can connect may change jobs)")
	f.Float64Var(&cfg.RateLimit, "rate-limit", cfg.RateLimit, "requests per second each API token may make")
	f.Int64Var(&cfg.LogLimit, "log-limit", cfg.LogLimit, "bytes kept of one run's log")
	f.Int64Var(&cfg.MaxInputFile, "max-input-file", cfg.MaxInputFile, "bytes an uploaded input file may have")
	f.Int64Var(&cfg.MaxRunInputs, "max-run-inputs", cfg.MaxRunInputs, "bytes all the input files of one run may have")
	f.Int64Var(&cfg.MaxHeldUploads, "max-held-uploads", cfg.MaxHeldUploads, "bytes of uploaded files no run names yet (uploads in progress included) one token may hold; raise it for arrays whose files add up to more")
	f.Var(days{&cfg.Retention.Runs}, "retain-runs", "how long finished runs are kept, with their events and logs (e.g. 90d, 36h; 0 keeps them forever)")
	f.Var(days{&cfg.Retention.Logs}, "retain-logs", "how long finished runs' logs are kept (0: as long as the run)")
	f.IntVar(&cfg.Retention.Keep, "retain-per-job", cfg.Retention.Keep, "newest finished runs of each job kept however old")
	f.DurationVar(&cfg.RetentionInterval, "retention-interval", cfg.RetentionInterval, "how often old runs and logs are deleted")
	f.StringVar(&cfg.Pushgateway, "pushgateway", "", "URL of a Prometheus Pushgateway to push each finished run's outcome to (e.g. http://pushgateway:9091)")
	f.StringArrayVar(&jsonHooks, "webhook", nil, "URL that receives alerts as JSON (failed runs, skipped slots, jobs without a recent success); repeatable; also DOCKET_WEBHOOK")
	f.StringArrayVar(&jsonHookFiles, "webhook-file", nil, "file holding --webhook URLs, one a line (a mounted secret); repeatable")
	f.StringArrayVar(&slackHooks, "slack-webhook", nil, "Slack (or compatible) incoming-webhook URL that receives alerts as messages; repeatable; its URL is a secret: prefer --slack-webhook-file or DOCKET_SLACK_WEBHOOK, which ps does not show")
	f.StringArrayVar(&slackHookFiles, "slack-webhook-file", nil, "file holding --slack-webhook URLs, one a line (a mounted secret); repeatable")
	f.DurationVar(&cfg.AlertInterval, "alert-interval", cfg.AlertInterval, "how often jobs are checked against their expect_success_within")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&logFormat, "log-format", "text", "text or json")
	return cmd
}

// parseTeamNamespaces reads --team-namespace TEAM=NS[,NS...] values: each namespace one
// the server runs Jobs in (--namespace, --other-namespaces), and no namespace two teams'.
func parseTeamNamespaces(raw []string, cfg server.Config) (map[string][]string, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	if cfg.Executor != "kubernetes" {
		return nil, fmt.Errorf("--team-namespace is for --executor kubernetes, not %s", cfg.Executor)
	}
	teams, owner := map[string][]string{}, map[string]string{}
	for _, v := range raw {
		team, list, ok := strings.Cut(v, "=")
		if !ok || list == "" {
			return nil, fmt.Errorf("--team-namespace %q: give TEAM=NAMESPACE[,NAMESPACE], like ds=ml", v)
		}
		if err := auth.CheckTeam(team); err != nil {
			return nil, fmt.Errorf("--team-namespace %q: team %w", v, err)
		}
		for _, ns := range strings.Split(list, ",") {
			if ns != cfg.Kube.Namespace && !slices.Contains(cfg.Kube.Namespaces, ns) {
				return nil, fmt.Errorf("--team-namespace %q: %q is not --namespace (%s) or one of --other-namespaces", v, ns, cfg.Kube.Namespace)
			}
			if other, taken := owner[ns]; taken && other != team {
				return nil, fmt.Errorf("--team-namespace %q: namespace %s is team %s's already", v, ns, other)
			}
			owner[ns] = team
			if !slices.Contains(teams[team], ns) {
				teams[team] = append(teams[team], ns)
			}
		}
	}
	return teams, nil
}

// checkServerFlags refuses values a server cannot run with, naming the flag, before it
// starts: a zero interval (its ticker would panic), a negative wait, a default deadline
// no job may have, limits of zero or below.
func checkServerFlags(cfg server.Config) error {
	for _, d := range []struct {
		flag   string
		v      time.Duration
		zeroOK bool
	}{
		{"--schedule-interval", cfg.ScheduleInterval, false},
		{"--retention-interval", cfg.RetentionInterval, false},
		{"--alert-interval", cfg.AlertInterval, false},
		{"--default-deadline", cfg.DefaultDeadline, false},
		{"--max-deadline", cfg.MaxDeadline, false},
		{"--pull-grace", cfg.Kube.PullGrace, false},
		{"--pending-budget", cfg.Kube.PendingBudget, false},
		{"--retry-backoff", cfg.RetryBackoff, true},
		{"--kill-grace", cfg.KillGrace, true},
		{"--schedule-grace", cfg.ScheduleGrace, true},
		{"--job-retention", cfg.Kube.Retention, true},
	} {
		switch {
		case d.v < 0:
			return fmt.Errorf("%s %s: must not be negative", d.flag, d.v)
		case d.v == 0 && !d.zeroOK:
			return fmt.Errorf("%s %s: must be more than 0", d.flag, d.v)
		}
	}
	switch {
	case cfg.InstanceTTL < 3*time.Millisecond:
		return fmt.Errorf("--instance-ttl %s: at least 3ms", cfg.InstanceTTL)
	case cfg.Parallelism < 1:
		return fmt.Errorf("--parallelism %d: at least 1", cfg.Parallelism)
	case cfg.DefaultDeadline < time.Second:
		return fmt.Errorf("--default-deadline %s: a deadline is at least 1s", cfg.DefaultDeadline)
	case cfg.DefaultDeadline > cfg.MaxDeadline:
		return fmt.Errorf("--default-deadline %s is longer than --max-deadline %s, so no job without a deadline could be applied", cfg.DefaultDeadline, cfg.MaxDeadline)
	case cfg.MaxSteps < 1 || cfg.MaxSteps > definition.StepsCeiling:
		return fmt.Errorf("--max-steps %d: use 1 to %d", cfg.MaxSteps, definition.StepsCeiling)
	case cfg.LogLimit < 1:
		return fmt.Errorf("--log-limit %d: at least 1 byte", cfg.LogLimit)
	case cfg.MaxInputFile < 1:
		return fmt.Errorf("--max-input-file %d: at least 1 byte", cfg.MaxInputFile)
	case cfg.MaxRunInputs < 1:
		return fmt.Errorf("--max-run-inputs %d: at least 1 byte", cfg.MaxRunInputs)
	case cfg.MaxHeldUploads < cfg.MaxInputFile:
		return fmt.Errorf("--max-held-uploads %d is less than --max-input-file %d, so the largest file could not be sent", cfg.MaxHeldUploads, cfg.MaxInputFile)
	case !(cfg.RateLimit > 0):
		return fmt.Errorf("--rate-limit %g: more than 0 requests a second", cfg.RateLimit)
	case cfg.Retention.Keep < 0:
		return fmt.Errorf("--retain-per-job %d: must not be negative", cfg.Retention.Keep)
	}
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		return fmt.Errorf("--addr %q: give HOST:PORT, like 127.0.0.1:8080 or :8080", cfg.Addr)
	}
	switch {
	case cfg.APIURL != "" && !httpURL(cfg.APIURL):
		return fmt.Errorf("--api-url %q: give the URL runs reach this server at, like http://docket.docket.svc:8080", cfg.APIURL)
	case cfg.Pushgateway != "" && !httpURL(cfg.Pushgateway):
		return fmt.Errorf("--pushgateway %q: give the gateway's URL, like http://pushgateway:9091", cfg.Pushgateway)
	}
	return nil
}

// httpURL says whether s is an http or https URL with a host.
func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}
