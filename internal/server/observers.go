package server

import (
	"docket.dev/docket/internal/alert"
	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/metrics"
)

// observers are told of runs' changes: the metrics, and the Pushgateway and webhooks
// when configured.
type observers struct {
	metrics  *metrics.Metrics
	pusher   *metrics.Pusher
	notifier *alert.Notifier
}

func newObservers(cfg Config, met *metrics.Metrics) observers {
	o := observers{metrics: met}
	if cfg.Pushgateway != "" {
		o.pusher = metrics.NewPusher(cfg.Pushgateway, cfg.Logger)
	}
	if len(cfg.Webhooks) > 0 {
		o.notifier = alert.NewNotifier(cfg.Webhooks, cfg.Logger)
	}
	return o
}

// transitioned is told each run as it stands after a state change, with its retry.
func (o observers) transitioned(r job.Run, retry *job.Run) {
	o.metrics.Transitioned(r)
	if o.pusher != nil {
		o.pusher.Transitioned(r)
	}
	if o.notifier != nil {
		o.notifier.RunEnded(r, retry)
	}
}

// slotsRecorded is told the runs the scheduler made for a job's due slots.
func (o observers) slotsRecorded(runs []job.Run) {
	o.metrics.SlotsRecorded(runs)
	if o.notifier != nil {
		o.notifier.SlotsRecorded(runs)
	}
}
