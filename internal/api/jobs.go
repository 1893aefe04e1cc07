package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"docket.dev/docket/internal/cron"
	"docket.dev/docket/internal/definition"
	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
)

// jobView is a job as the API shows it.
type jobView struct {
	job.Definition
	// ScheduleText says when the schedule fires, in words ("at 03:00 on weekdays").
	ScheduleText string      `json:"schedule_text,omitempty"`
	NextRuns     []time.Time `json:"next_runs,omitempty"`
	LastRun      *job.Run    `json:"last_run,omitempty"`
	// RecentRuns are the job's newest runs, newest first, when a listing asks for them.
	RecentRuns []runSummary `json:"recent_runs,omitempty"`
	Changed    *bool        `json:"changed,omitempty"`
	// Warnings are what applying found doubtful but did not refuse (an image whose
	// registry could not be asked).
	Warnings []string `json:"warnings,omitempty"`
	// DryRun answers a PUT ?dry_run=true: what applying would do (Change: created,
	// changed or unchanged; Diff: the fields that change, "field: old -> new"), nothing
	// stored.
	DryRun bool     `json:"dry_run,omitempty"`
	Change string   `json:"change,omitempty"`
	Diff   []string `json:"diff,omitempty"`
}

// viewOf is a job as the API shows it, with its next n fire times.
func viewOf(def job.Definition, now time.Time, n int) jobView {
	v := jobView{Definition: def, NextRuns: nextRuns(def, now, n)}
	if s, err := cron.Parse(def.Schedule); err == nil && def.Schedule != "" {
		v.ScheduleText = s.Describe() + " (" + def.Location().String() + ")"
	}
	return v
}

// nextRuns lists the next n fire times of a job after now, in the job's zone.
func nextRuns(def job.Definition, now time.Time, n int) []time.Time {
	if def.Schedule == "" || def.Suspended {
		return nil
	}
	sched, err := cron.Parse(def.Schedule)
	if err != nil {
		return nil
	}
	loc := def.Location()
	var out []time.Time
	for t := now; len(out) < n; {
		t = sched.Next(t, loc)
		if t.IsZero() {
			break
		}
		out = append(out, t.In(loc))
	}
	return out
}

func (a *API) putJob(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	dry, err := dryRun(r)
	if err != nil {
		writeError(w, r, a.opts.Logger, err)
		return
	}
	body, err := readBody(w, r)
	if err == nil {
		err = checkOneJSON(body)
	}
	if err != nil {
		writeError(w, r, a.opts.Logger, err)
		return
	}
	spec, err := definition.Decode(body)
	if err != nil {
		writeError(w, r, a.opts.Logger, err)
		return
	}
	if spec.Name == "" {
		spec.Name = name
	}
	if spec.Name != name {
		writeError(w, r, a.opts.Logger, invalid("name", fmt.Sprintf("the definition is named %q but the URL names %q", spec.Name, name)))
		return
	}
	spec, err = definition.Normalize(spec, a.opts.Limits)
	if err != nil {
		writeError(w, r, a.opts.Logger, err)
		return
	}
	// A team's token may neither take another team's job nor give its own away.
	if err := errors.Join(a.mayChangeJob(r.Context(), name, 0), mayChange(r.Context(), name, spec.Labels)); err != nil {
		writeError(w, r, a.opts.Logger, err)
		return
	}
	if err := a.admit(r.Context(), spec); err != nil {
		writeError(w, r, a.opts.Logger, err)
		return
	}
	var assumedJobs []string
	if dry {
		if assumedJobs, err = assumed(r, "assume_jobs", "job", definition.ValidJobName); err != nil {
			writeError(w, r, a.opts.Logger, err)
			return
		}
	}
	if err := a.checkTriggers(r.Context(), spec, assumedJobs); err != nil {
		writeError(w, r, a.opts.Logger, err)
		return
	}
	warnings, err := a.checkSteps(r.Context(), spec)
	if err != nil {
		writeError(w, r, a.opts.Logger, err)
		return
	}
	if a.opts.Images != nil {
		warning, err := a.opts.Images.Check(r.Context(), spec.Image)
		if err != nil {
			writeError(w, r, a.opts.Logger, err)
			return
		}
		if warning != "" {
			warnings = append(warnings, warning)
		}
	}
	now := a.now().UTC()
	if dry {
		queues, err := assumed(r, "assume_queues", "queue", definition.ValidQueueName)
		if err != nil {
			writeError(w, r, a.opts.Logger, err)
			return
		}
		v, err := a.dryRunJob(r.Context(), spec, now, queues)
		if err != nil {
			writeError(w, r, a.opts.Logger, err)
			return
		}
		v.Warnings = warnings
		writeJSON(w, r, http.StatusOK, v)
		return
	}
	def, changed, err := a.opts.Store.DefinitionPut(r.Context(), spec, now)
	if err != nil {
		writeError(w, r, a.opts.Logger, err)
		return
	}
	a.opts.Logger.Info("job applied", "job", def.Name, "revision", def.Revision, "changed", changed)
	status := http.StatusOK
	if changed {
		status = http.StatusCreated
	}
	v := viewOf(def, now, 5)
	v.Changed, v.Warnings = &changed, warnings
	writeJSON(w, r, status, v)
}

// maxRecent caps how many recent runs of each job a listing may ask for.
const maxRecent = 50

// runSummary is a run as a job's strip of recent runs shows it.
type runSummary struct {
	ID        string     `json:"id"`
	State     job.State  `json:"state"`
	CreatedAt time.Time  `json:"created_at"`
	Reason    job.Reason `json:"reason,omitempty"`
}

// listJobs lists a page of the jobs by name (?limit=N, store.MaxLimit unless asked,
// after ?cursor=C), of those whose name holds ?name=; with ?recent=N each job has its
// newest N runs, so a page of jobs with their histories is one request. No answer holds
// more than a page: one of every job on a server with tens of thousands is many MB.
func (a *API) listJobs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := store.DefinitionFilter{Name: q.Get("name"), Cursor: q.Get("cursor"), Limit: store.MaxLimit}
	var recent int
	for _, p := range []struct {
		name     string
		dst      *int
		min, max int
	}{{"limit", &f.Limit, 1, store.MaxLimit}, {"recent", &recent, 0, maxRecent}} {
		s := q.Get(p.name)
		if s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < p.min || n > p.max {
			writeError(w, r, a.opts.Logger, invalid(p.name, fmt.Sprintf("%q is not a number from %d to %d", s, p.min, p.max)))
			return
		}
		*p.dst = n
	}
	defs, next, err := a.opts.Store.DefinitionPage(r.Context(), f)
	if err != nil {
		writeError(w, r, a.opts.Logger, err)
		return
	}
	names := make([]string, len(defs))
	for i, d := range defs {
		names[i] = d.Name
	}
	// A job's last run is its newest recent one.
	runs, err := a.opts.Store.RunRecent(r.Context(), names, max(recent, 1))
	if err != nil {
		writeError(w, r, a.opts.Logger, err)
		return
	}
	now := a.now()
	views := make([]jobView, 0, len(defs))
	for _, d := range defs {
		v := viewOf(d, now, 1)
		if rs := runs[d.Name]; len(rs) > 0 {
			v.LastRun = &rs[0]
			if recent > 0 {
				v.RecentRuns = make([]runSummary, len(rs))
				for i, r := range rs {
					v.RecentRuns[i] = runSummary{ID: r.ID, State: r.State, CreatedAt: r.CreatedAt, Reason: r.Reason}
				}
			}
		}
		views = append(views, v)
	}
	writeJSON(w, r, http.StatusOK, jobList{Jobs: views, NextCursor: next})
}

// lastRun returns a job's newest run that is no workflow's step or array's task, or nil
// before its first.
func (a *API) lastRun(ctx context.Context, name string) (*job.Run, error) {
	runs, _, err := a.opts.Store.RunList(ctx, store.RunFilter{Job: name, TopLevel: true, Limit: 1})
	if err != nil || len(runs) == 0 {
		return nil, err
	}
	return &runs[0], nil
}

func (a *API) getJob(w http.ResponseWriter, r *http.Request) {
	def, err := a.opts.Store.DefinitionGet(r.Context(), r.PathValue("name"))
	if err != nil {
		writeError(w, r, a.opts.Logger, jobErr(r.PathValue("name"), err))
		return
	}
	last, err := a.lastRun(r.Context(), def.Name)
	if err != nil {
		writeError(w, r, a.opts.Logger, err)
		return
	}
	v := viewOf(def, a.now(), 5)
	v.LastRun = last
	writeJSON(w, r, http.StatusOK, v)
}

func (a *API) deleteJob(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := a.mayChangeJob(r.Context(), name, 0); err != nil {
		writeError(w, r, a.opts.Logger, err)
		return
	}
	if err := a.opts.Store.DefinitionDelete(r.Context(), name, a.now().UTC()); err != nil {
		writeError(w, r, a.opts.Logger, jobErr(name, err))
		return
	}
	a.opts.Logger.Info("job deleted", "job", name)
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) suspendJob(suspend bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if err := a.mayChangeJob(r.Context(), name, 0); err != nil {
			writeError(w, r, a.opts.Logger, err)
			return
		}
		def, err := a.opts.Store.DefinitionSuspend(r.Context(), name, suspend, a.now().UTC())
		if err != nil {
			writeError(w, r, a.opts.Logger, jobErr(name, err))
			return
		}
		a.opts.Logger.Info("job suspended", "job", name, "suspended", suspend)
		writeJSON(w, r, http.StatusOK, viewOf(def, a.now(), 5))
	}
}

// maxAssumed bounds ?assume_queues= and ?assume_jobs=.
const maxAssumed = 100

// assumed reads ?assume_queues=a,b or ?assume_jobs=a,b: the queues, or jobs, a dry run
// counts as existing (those a file being applied sets before the job).
func assumed(r *http.Request, param, what string, valid func(string) bool) ([]string, error) {
	s := r.URL.Query().Get(param)
	if s == "" {
		return nil, nil
	}
	names := strings.Split(s, ",")
	if len(names) > maxAssumed {
		return nil, invalid(param, fmt.Sprintf("names %d %ss; at most %d", len(names), what, maxAssumed))
	}
	for _, n := range names {
		if !valid(n) {
			return nil, invalid(param, fmt.Sprintf("%.80q is not a %s name", n, what))
		}
	}
	return names, nil
}

// dryRunJob says what applying spec would do, storing nothing: the store's own refusals
// (a queue that does not exist) are checked here, the rest were checked by the caller.
func (a *API) dryRunJob(ctx context.Context, spec job.Spec, now time.Time, assumed []string) (jobView, error) {
	for _, q := range spec.Queues() {
		if slices.Contains(assumed, q) {
			continue
		}
		if _, err := a.opts.Store.QueueGet(ctx, q); errors.Is(err, job.ErrNotFound) {
			return jobView{}, job.Invalid(spec.QueueField(q), "queue %q does not exist; create it first (docket queues set %s --max-running N)", q, q)
		} else if err != nil {
			return jobView{}, err
		}
	}
	cur, err := a.opts.Store.DefinitionGet(ctx, spec.Name)
	switch {
	case errors.Is(err, job.ErrNotFound):
		v := viewOf(job.Definition{Spec: spec, Revision: 1, CreatedAt: now, UpdatedAt: now}, now, 3)
		v.DryRun, v.Change = true, "created"
		return v, nil
	case err != nil:
		return jobView{}, err
	}
	diff, err := specDiff(cur.Spec, spec)
	if err != nil {
		return jobView{}, err
	}
	next := cur
	next.Spec, next.UpdatedAt = spec, now
	change := "unchanged"
	if len(diff) > 0 {
		change, next.Revision = "changed", cur.Revision+1
	}
	v := viewOf(next, now, 3)
	v.DryRun, v.Change, v.Diff = true, change, diff
	return v, nil
}

// admit asks the executor whether it can run a job with this spec, when it can tell.
func (a *API) admit(ctx context.Context, spec job.Spec) error {
	if a.opts.Admission == nil {
		return nil
	}
	return a.opts.Admission.Admit(ctx, spec)
}

// jobErr names the job in a not-found error.
func jobErr(name string, err error) error {
	if errors.Is(err, job.ErrNotFound) {
		return &statusError{status: http.StatusNotFound, code: "not_found", msg: fmt.Sprintf("job %q not found", name)}
	}
	return err
}
