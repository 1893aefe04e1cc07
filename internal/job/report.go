package job

import (
	"encoding/json"
	"time"
)

// Report is what a run says about itself while it runs, through the API with its run token
// (docket report, or curl): metrics such as records read, a small result document, and a
// checkpoint that a retry of the run can read back to resume.
type Report struct {
	RunID string `json:"run_id"`
	// Job is the run's job; filled in when reports are read by job.
	Job string `json:"job,omitempty"`
	// Metrics are numbers by name; a later report of a name replaces its value.
	Metrics map[string]float64 `json:"metrics,omitempty"`
	// Result and Checkpoint are JSON documents; a later one replaces the earlier.
	Result     json.RawMessage `json:"result,omitempty"`
	Checkpoint json.RawMessage `json:"checkpoint,omitempty"`
	// UpdatedAt is when the run last reported; zero when it never did.
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// MaxResultBytes is the largest result a run may report: what a later step's command
// may be given of it, through {{ .Steps.STEP.Result }}, is bounded by it.
const MaxResultBytes = 64 << 10

// MaxReportMetrics is how many metrics one run may report, over all its reports: each is a
// series on /metrics for as long as the run is its job's latest.
const MaxReportMetrics = 100

// Merge returns r with a later report's parts laid over it. It refuses a later report
// whose new metric names would take the run past MaxReportMetrics; names reported before
// may always be reported again.
func (r Report) Merge(later Report) (Report, error) {
	out := r
	if len(later.Metrics) > 0 {
		out.Metrics = make(map[string]float64, len(r.Metrics)+len(later.Metrics))
		for k, v := range r.Metrics {
			out.Metrics[k] = v
		}
		for k, v := range later.Metrics {
			out.Metrics[k] = v
		}
		if n := len(out.Metrics); n > MaxReportMetrics && n > len(r.Metrics) {
			return r, Invalid("metrics", "run %s reported %d metric names before, and %d new ones would make %d; a run reports at most %d: report the same names again, or fewer",
				r.RunID, len(r.Metrics), n-len(r.Metrics), n, MaxReportMetrics)
		}
	}
	if len(later.Result) > 0 {
		out.Result = later.Result
	}
	if len(later.Checkpoint) > 0 {
		out.Checkpoint = later.Checkpoint
	}
	out.UpdatedAt = later.UpdatedAt
	return out, nil
}
