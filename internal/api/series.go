package api

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
)

// Bounds of a job's series: how many runs one request reads by default and at most, and
// how many metric names it charts.
const (
	defaultSeriesRuns = 100
	maxSeriesMetrics  = 20
)

// seriesView is what a job's charts draw: its runs, oldest first, and the names of the
// metrics they reported.
type seriesView struct {
	Job string `json:"job"`
	// Runs are the job's newest runs in the window (workflow and array runs among them,
	// their steps and tasks not), oldest first.
	Runs []seriesPoint `json:"runs"`
	// Metrics are the names charted: those asked for, or those most runs reported, at
	// most 20; MetricsOmitted counts the names reported but left out.
	Metrics        []string `json:"metrics"`
	MetricsOmitted int      `json:"metrics_omitted,omitempty"`
	// More says the window holds older runs than the limit let in.
	More bool `json:"more"`
}

// seriesPoint is one run of a job's series.
type seriesPoint struct {
	ID            string      `json:"id"`
	State         job.State   `json:"state"`
	Reason        job.Reason  `json:"reason,omitempty"`
	Kind          job.Kind    `json:"kind,omitempty"`
	Trigger       job.Trigger `json:"trigger"`
	Attempt       int         `json:"attempt"`
	CreatedAt     time.Time   `json:"created_at"`
	ScheduledTime *time.Time  `json:"scheduled_time,omitempty"`
	StartedAt     *time.Time  `json:"started_at,omitempty"`
	FinishedAt    *time.Time  `json:"finished_at,omitempty"`
	// DurationSeconds is from start to end (a group run's: its span over its children),
	// once the run has ended.
	DurationSeconds *float64 `json:"duration_seconds,omitempty"`
	// LagSeconds is from when the run was due (its slot for a scheduled first attempt,
	// else when it was queued to start) to its start.
	LagSeconds *float64 `json:"lag_seconds,omitempty"`
	// Metrics are the run's reported metrics among the series' names.
	Metrics map[string]float64 `json:"metrics,omitempty"`
}

// pointOf is a run as a point of its job's series.
func pointOf(p store.RunPoint) seriesPoint {
	r := p.Run
	pt := seriesPoint{ID: r.ID, State: r.State, Reason: r.Reason, Kind: r.Kind, Trigger: r.Trigger, Attempt: r.Attempt,
		CreatedAt: r.CreatedAt, ScheduledTime: r.ScheduledTime, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt}
	if r.StartedAt != nil && r.FinishedAt != nil {
		d := max(0, r.FinishedAt.Sub(*r.StartedAt).Seconds())
		pt.DurationSeconds = &d
	}
	if r.StartedAt != nil {
		due := r.NotBefore
		if r.ScheduledTime != nil && r.Attempt == 1 {
			due = *r.ScheduledTime
		}
		lag := max(0, r.StartedAt.Sub(due).Seconds())
		pt.LagSeconds = &lag
	}
	return pt
}

// jobSeries answers a job's series in one request: ?limit=N of its newest runs (100 by
// default), within ?since= and ?until= (RFC 3339) when given, with ?metric=NAME (again for
// more) choosing the metrics.
func (a *API) jobSeries(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	f, metrics, err := seriesQuery(r)
	if err != nil {
		writeError(w, r, a.opts.Logger, err)
		return
	}
	f.Job = name
	if _, err := a.opts.Store.DefinitionGet(r.Context(), name); err != nil {
		writeError(w, r, a.opts.Logger, jobErr(name, err))
		return
	}
	limit := f.Limit
	f.Limit++ // one more says whether there are more
	points, err := a.opts.Store.RunSeries(r.Context(), f)
	if err != nil {
		writeError(w, r, a.opts.Logger, err)
		return
	}
	v := seriesView{Job: name, Runs: make([]seriesPoint, 0, min(len(points), limit))}
	if len(points) > limit {
		points, v.More = points[:limit], true
	}
	if metrics == nil {
		metrics, v.MetricsOmitted = mostReported(points, maxSeriesMetrics)
	}
	v.Metrics = metrics
	for i := len(points) - 1; i >= 0; i-- {
		pt := pointOf(points[i])
		for _, m := range metrics {
			if x, ok := points[i].Metrics[m]; ok {
				if pt.Metrics == nil {
					pt.Metrics = map[string]float64{}
				}
				pt.Metrics[m] = x
			}
		}
		v.Runs = append(v.Runs, pt)
	}
	writeJSON(w, r, http.StatusOK, v)
}

// mostReported returns the names of the metrics that most of points reported (then by
// name), at most n, and how many more names there were.
func mostReported(points []store.RunPoint, n int) ([]string, int) {
	count := map[string]int{}
	for _, p := range points {
		for m := range p.Metrics {
			count[m]++
		}
	}
	names := make([]string, 0, len(count))
	for m := range count {
		names = append(names, m)
	}
	slices.SortFunc(names, func(x, y string) int { return cmp.Or(count[y]-count[x], cmp.Compare(x, y)) })
	if len(names) > n {
		return names[:n], len(names) - n
	}
	return names, 0
}

// seriesQuery reads a series request's parameters.
func seriesQuery(r *http.Request) (store.SeriesFilter, []string, error) {
	q := r.URL.Query()
	f := store.SeriesFilter{Limit: defaultSeriesRuns}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > store.MaxLimit-1 {
			return f, nil, invalid("limit", fmt.Sprintf("%q is not a number from 1 to %d", s, store.MaxLimit-1))
		}
		f.Limit = n
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		s := q.Get(p.name)
		if s == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return f, nil, invalid(p.name, fmt.Sprintf("%q is not an RFC 3339 time such as 2026-11-23T09:00:00Z", job.Truncate(s, 64)))
		}
		*p.dst = t.UTC()
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		return f, nil, invalid("until", "must be after since")
	}
	names := q["metric"]
	if len(names) > maxSeriesMetrics {
		return f, nil, invalid("metric", fmt.Sprintf("names %d metrics; a series charts at most %d", len(names), maxSeriesMetrics))
	}
	var metrics []string
	for _, m := range names {
		if !metricName.MatchString(m) {
			return f, nil, invalid("metric", fmt.Sprintf("%q is not a metric name: use letters, digits and '_', not starting with a digit, at most 100", job.Truncate(m, 100)))
		}
		if !slices.Contains(metrics, m) {
			metrics = append(metrics, m)
		}
	}
	return f, metrics, nil
}
