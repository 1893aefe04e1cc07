package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"

	"docket.dev/docket/internal/job"
)

// Pusher sends each finished run's outcome to a Prometheus Pushgateway, grouped by the
// Docket job's name (the gateway's job label), so the gateway holds the last run of every
// job: the batch-job pattern the gateway is made for. Pushes happen in the background; one
// that fails is logged and dropped, and the job's next run pushes again.
type Pusher struct {
	url    string
	logger *slog.Logger
	client *http.Client
	runs   chan job.Run
}

// NewPusher returns a Pusher for the gateway at url. Run must be running for pushes to go.
func NewPusher(url string, logger *slog.Logger) *Pusher {
	return &Pusher{url: url, logger: logger, client: &http.Client{Timeout: 10 * time.Second}, runs: make(chan job.Run, 1024)}
}

// Transitioned queues a push when r has ended. It never blocks: when the gateway falls
// behind by a full queue, the push is dropped and logged.
func (p *Pusher) Transitioned(r job.Run) {
	if !r.State.Terminal() || r.State == job.StateSkipped {
		return
	}
	select {
	case p.runs <- r:
	default:
		p.logger.Warn("pushgateway: queue full; dropping the push", "job", r.Job, "run_id", r.ID)
	}
}

// Run pushes queued runs until ctx ends.
func (p *Pusher) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case r := <-p.runs:
			if err := p.push(ctx, r); err != nil && ctx.Err() == nil {
				p.logger.Warn("pushgateway: push failed", "url", p.url, "job", r.Job, "run_id", r.ID, "err", err)
			}
		}
	}
}

// push replaces the job's group on the gateway with r's outcome.
func (p *Pusher) push(ctx context.Context, r job.Run) error {
	labels := prometheus.Labels{"state": string(r.State), "reason": string(r.Reason), "run_id": r.ID}
	gauge := func(name, help string, v float64) prometheus.Collector {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: labels})
		g.Set(v)
		return g
	}
	succeeded := 0.0
	if r.State == job.StateSucceeded {
		succeeded = 1
	}
	pusher := push.New(p.url, r.Job).Client(p.client).
		Collector(gauge("docket_last_run_succeeded", "1 if the job's last run succeeded, else 0.", succeeded))
	if r.FinishedAt != nil {
		pusher.Collector(gauge("docket_last_run_finish_timestamp_seconds", "When the job's last run ended, as a Unix time.", unix(*r.FinishedAt)))
	}
	if r.StartedAt != nil && r.FinishedAt != nil {
		pusher.Collector(gauge("docket_last_run_duration_seconds", "How long the job's last run ran.", r.FinishedAt.Sub(*r.StartedAt).Seconds()))
	}
	if r.ExitCode != nil {
		pusher.Collector(gauge("docket_last_run_exit_code", "The exit code of the job's last run.", float64(*r.ExitCode)))
	}
	return pusher.PushContext(ctx)
}
