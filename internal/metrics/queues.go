package metrics

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"docket.dev/docket/internal/job"
)

// QueueStore is what the queue collector reads.
type QueueStore interface {
	QueueList(ctx context.Context) ([]job.Queue, error)
	QueueStats(ctx context.Context, names ...string) (map[string]job.QueueStats, error)
}

// QueueCollector reports each queue's active and queued runs, its limits and whether it
// is disabled at each scrape; the default queue is queue="" (its limit is each server's
// --parallelism and it is never disabled, so it has no docket_queue_limit nor
// docket_queue_disabled).
type QueueCollector struct {
	store                  QueueStore
	logger                 *slog.Logger
	timeout                time.Duration
	running, queued, limit *prometheus.Desc
	disabled               *prometheus.Desc
}

// NewQueueCollector returns a collector reading st, giving each scrape up to timeout.
func NewQueueCollector(st QueueStore, logger *slog.Logger, timeout time.Duration) *QueueCollector {
	return &QueueCollector{
		store: st, logger: logger, timeout: timeout,
		running: prometheus.NewDesc("docket_queue_running",
			"Runs of each queue that are dispatched, pending or running (the default queue is queue=\"\").", []string{"queue"}, nil),
		queued: prometheus.NewDesc("docket_queue_queued",
			"Runs of each queue waiting to be claimed.", []string{"queue"}, nil),
		limit: prometheus.NewDesc("docket_queue_limit",
			"Each queue's limits: max_running (runs at once) and max_starts_per_second; 0 is no cap.", []string{"queue", "limit"}, nil),
		disabled: prometheus.NewDesc("docket_queue_disabled",
			"1 for a disabled queue, whose queued runs are not claimed; 0 for an enabled one.", []string{"queue"}, nil),
	}
}

// Describe sends the collector's descriptions.
func (c *QueueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.running
	ch <- c.queued
	ch <- c.limit
	ch <- c.disabled
}

// Collect reads the queues and sends the gauges; a store that fails is logged and the
// scrape goes on without them.
func (c *QueueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	queues, err := c.store.QueueList(ctx)
	if err != nil {
		c.logger.Warn("metrics: list queues", "err", err)
		return
	}
	stats, err := c.store.QueueStats(ctx)
	if err != nil {
		c.logger.Warn("metrics: count queues' runs", "err", err)
		return
	}
	names := []string{job.DefaultQueue}
	for _, q := range queues {
		names = append(names, q.Name)
		ch <- prometheus.MustNewConstMetric(c.limit, prometheus.GaugeValue, float64(q.MaxRunning), q.Name, "max_running")
		ch <- prometheus.MustNewConstMetric(c.limit, prometheus.GaugeValue, q.MaxStartsPerSecond, q.Name, "max_starts_per_second")
		disabled := 0.0
		if q.Disabled {
			disabled = 1
		}
		ch <- prometheus.MustNewConstMetric(c.disabled, prometheus.GaugeValue, disabled, q.Name)
	}
	for _, name := range names {
		ch <- prometheus.MustNewConstMetric(c.running, prometheus.GaugeValue, float64(stats[name].Running), name)
		ch <- prometheus.MustNewConstMetric(c.queued, prometheus.GaugeValue, float64(stats[name].Queued), name)
	}
}
