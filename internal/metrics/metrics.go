// Package metrics is Docket's Prometheus instrumentation. Counters and histograms are fed by
// the components as things happen on this server (the recorder's transitions, the
// scheduler's slots, the dispatcher's failures); gauges are read from the store at each
// scrape, so they agree on every server sharing a database and survive restarts.
package metrics

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
)

// Metrics are the counters and histograms Docket feeds as it works.
type Metrics struct {
	runsFinished   *prometheus.CounterVec
	runDuration    *prometheus.HistogramVec
	scheduleLag    prometheus.Histogram
	slotsSkipped   *prometheus.CounterVec
	dispatchErrors *prometheus.CounterVec
}

// New makes Docket's metrics and registers them with reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		runsFinished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "docket_runs_finished_total",
			Help: "Runs that ended, by job, final state (succeeded, failed, cancelled) and reason.",
		}, []string{"job", "state", "reason"}),
		runDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "docket_run_duration_seconds",
			Help:    "Time from a run's start to its end, by final state.",
			Buckets: []float64{1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 43200, 86400},
		}, []string{"state"}),
		scheduleLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "docket_schedule_lag_seconds",
			Help:    "Time from a scheduled slot to its first attempt running.",
			Buckets: []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600},
		}),
		slotsSkipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "docket_slots_skipped_total",
			Help: "Schedule slots recorded as skipped instead of run, by job and reason (Missed, Suspended, ConcurrencyForbid, Replaced).",
		}, []string{"job", "reason"}),
		dispatchErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "docket_dispatch_errors_total",
			Help: "Claimed runs the dispatcher could not start, by reason (StartFailed: failed at once; NotStarted: back in the queue).",
		}, []string{"reason"}),
	}
	reg.MustRegister(m.runsFinished, m.runDuration, m.scheduleLag, m.slotsSkipped, m.dispatchErrors)
	// The dispatch reasons exist from the start, so a rate over them is never absent.
	for _, reason := range []job.Reason{job.ReasonStartFailed, job.ReasonNotStarted} {
		m.dispatchErrors.WithLabelValues(string(reason))
	}
	return m
}

// Transitioned records a run as it stands after a state change.
func (m *Metrics) Transitioned(r job.Run) {
	switch {
	case r.State == job.StateRunning && r.Attempt == 1 && r.ScheduledTime != nil && r.StartedAt != nil:
		m.scheduleLag.Observe(max(0, r.StartedAt.Sub(*r.ScheduledTime).Seconds()))
	case r.State.Terminal() && r.State != job.StateSkipped:
		m.runsFinished.WithLabelValues(r.Job, string(r.State), string(r.Reason)).Inc()
		if r.StartedAt != nil && r.FinishedAt != nil {
			m.runDuration.WithLabelValues(string(r.State)).Observe(r.FinishedAt.Sub(*r.StartedAt).Seconds())
		}
	}
}

// SlotsRecorded records the runs the scheduler made for due slots.
func (m *Metrics) SlotsRecorded(runs []job.Run) {
	for _, r := range runs {
		if r.State == job.StateSkipped {
			m.slotsSkipped.WithLabelValues(r.Job, string(r.Reason)).Inc()
		}
	}
}

// DispatchFailed records a claimed run that did not start, with the run's reason.
func (m *Metrics) DispatchFailed(reason job.Reason) {
	m.dispatchErrors.WithLabelValues(string(reason)).Inc()
}

// Store is what the store collector reads.
type Store interface {
	RunCount(ctx context.Context, states ...job.State) (map[job.State]int, error)
	RunEnds(ctx context.Context) (map[string]store.JobEnds, error)
	ReportLatest(ctx context.Context) (map[string]job.Report, error)
}

// StoreCollector reports gauges read from the store at each scrape: runs waiting and
// running, and each job's last success.
type StoreCollector struct {
	store       Store
	logger      *slog.Logger
	timeout     time.Duration
	runs        *prometheus.Desc
	lastSuccess *prometheus.Desc
	lastFinish  *prometheus.Desc
	reported    *prometheus.Desc
}

// NewStoreCollector returns a collector reading st, giving each scrape up to timeout.
func NewStoreCollector(st Store, logger *slog.Logger, timeout time.Duration) *StoreCollector {
	return &StoreCollector{
		store:   st,
		logger:  logger,
		timeout: timeout,
		runs: prometheus.NewDesc("docket_runs",
			"Runs not yet finished, by state: queued is the queue's depth.", []string{"state"}, nil),
		lastSuccess: prometheus.NewDesc("docket_job_last_success_timestamp_seconds",
			"When each job's newest successful run finished, as a Unix time.", []string{"job"}, nil),
		lastFinish: prometheus.NewDesc("docket_job_last_finish_timestamp_seconds",
			"When each job's newest finished run ended, whatever its outcome, as a Unix time.", []string{"job", "state"}, nil),
		reported: prometheus.NewDesc("docket_run_reported",
			"The metrics a job's run reported last (docket report), by job and metric name.", []string{"job", "name"}, nil),
	}
}

// Describe sends the collector's descriptions.
func (c *StoreCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.runs
	ch <- c.lastSuccess
	ch <- c.lastFinish
	ch <- c.reported
}

// active are the states of runs not yet finished.
var active = []job.State{job.StateQueued, job.StateDispatched, job.StatePending, job.StateRunning}

// Collect reads the store and sends the gauges. A store that fails is logged and the
// scrape goes on without these gauges.
func (c *StoreCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	counts, err := c.store.RunCount(ctx, active...)
	if err != nil {
		c.logger.Warn("metrics: count runs", "err", err)
		return
	}
	for _, st := range active {
		ch <- prometheus.MustNewConstMetric(c.runs, prometheus.GaugeValue, float64(counts[st]), string(st))
	}
	ends, err := c.store.RunEnds(ctx)
	if err != nil {
		c.logger.Warn("metrics: last runs", "err", err)
		return
	}
	for name, e := range ends {
		ch <- prometheus.MustNewConstMetric(c.lastFinish, prometheus.GaugeValue, unix(e.Finished), name, string(e.State))
		if !e.Succeeded.IsZero() {
			ch <- prometheus.MustNewConstMetric(c.lastSuccess, prometheus.GaugeValue, unix(e.Succeeded), name)
		}
	}
	reports, err := c.store.ReportLatest(ctx)
	if err != nil {
		c.logger.Warn("metrics: reported metrics", "err", err)
		return
	}
	for name, r := range reports {
		// A run reports at most job.MaxReportMetrics names; one that reported more before
		// the limit was kept still gives its job no more series than that.
		for _, metric := range slices.Sorted(maps.Keys(r.Metrics))[:min(len(r.Metrics), job.MaxReportMetrics)] {
			ch <- prometheus.MustNewConstMetric(c.reported, prometheus.GaugeValue, r.Metrics[metric], name, metric)
		}
	}
}

func unix(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }
