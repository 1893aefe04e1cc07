package api

import (
	"errors"
	"fmt"
	"net/http"

	"docket.dev/docket/internal/definition"
	"docket.dev/docket/internal/job"
)

// queueView is a queue as the API shows it: its rule and what it holds now.
type queueView struct {
	job.Queue
	job.QueueStats
}

// queueApplied is the answer to a PUT of a queue: the queue as stored (or as it would
// be, on a dry run) and whether that changed it.
type queueApplied struct {
	Queue   job.Queue `json:"queue"`
	Changed bool      `json:"changed"`
	DryRun  bool      `json:"dry_run,omitempty"`
	// Change is created, changed or unchanged, on a dry run; Diff the fields a change
	// changes, as "field: old -> new".
	Change string   `json:"change,omitempty"`
	Diff   []string `json:"diff,omitempty"`
}

// queueList is the answer of GET /queues: the named queues by name, and the default
// queue's counts (its limit is each server's --parallelism).
type queueList struct {
	Queues  []queueView    `json:"queues"`
	Default job.QueueStats `json:"default_queue"`
}

func (a *API) putQueue(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	body, err := readBody(w, r)
	if err == nil {
		err = checkOneJSON(body)
	}
	if err == nil {
		err = notTeamScoped(r, "change queues")
	}
	if err != nil {
		writeError(w, r, a.opts.Logger, err)
		return
	}
	q, err := definition.DecodeQueue(body, name)
	if err != nil {
		writeError(w, r, a.opts.Logger, err)
		return
	}
	if dry, err := dryRun(r); err != nil || dry {
		if err == nil {
			err = a.dryRunQueue(w, r, q)
		}
		if err != nil {
			writeError(w, r, a.opts.Logger, err)
		}
		return
	}
	stored, changed, err := a.opts.Store.QueuePut(r.Context(), q, a.now().UTC())
	if err != nil {
		writeError(w, r, a.opts.Logger, err)
		return
	}
	a.opts.Logger.Info("queue applied", "queue", stored.Name, "changed", changed)
	status := http.StatusOK
	if changed {
		status = http.StatusCreated
		a.opts.Queued() // a raised limit, a new priority or enabling may let runs start now
	}
	writeJSON(w, r, status, queueApplied{Queue: stored, Changed: changed})
}

func (a *API) getQueue(w http.ResponseWriter, r *http.Request) {
	q, err := a.opts.Store.QueueGet(r.Context(), r.PathValue("name"))
	if err != nil {
		writeError(w, r, a.opts.Logger, queueErr(r.PathValue("name"), err))
		return
	}
	stats, err := a.opts.Store.QueueStats(r.Context(), q.Name)
	if err != nil {
		writeError(w, r, a.opts.Logger, err)
		return
	}
	writeJSON(w, r, http.StatusOK, queueView{Queue: q, QueueStats: stats[q.Name]})
}

func (a *API) listQueues(w http.ResponseWriter, r *http.Request) {
	qs, err := a.opts.Store.QueueList(r.Context())
	if err != nil {
		writeError(w, r, a.opts.Logger, err)
		return
	}
	stats, err := a.opts.Store.QueueStats(r.Context())
	if err != nil {
		writeError(w, r, a.opts.Logger, err)
		return
	}
	out := queueList{Queues: make([]queueView, len(qs)), Default: stats[job.DefaultQueue]}
	for i, q := range qs {
		out.Queues[i] = queueView{Queue: q, QueueStats: stats[q.Name]}
	}
	writeJSON(w, r, http.StatusOK, out)
}

func (a *API) deleteQueue(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := notTeamScoped(r, "delete queues"); err != nil {
		writeError(w, r, a.opts.Logger, err)
		return
	}
	if err := a.opts.Store.QueueDelete(r.Context(), name); err != nil {
		writeError(w, r, a.opts.Logger, queueErr(name, err))
		return
	}
	a.opts.Logger.Info("queue deleted", "queue", name)
	w.WriteHeader(http.StatusNoContent)
}

// dryRunQueue answers what putting q would do, storing nothing.
func (a *API) dryRunQueue(w http.ResponseWriter, r *http.Request, q job.Queue) error {
	cur, err := a.opts.Store.QueueGet(r.Context(), q.Name)
	change := "created"
	switch {
	case err == nil && cur.MaxRunning == q.MaxRunning && cur.MaxStartsPerSecond == q.MaxStartsPerSecond && cur.Priority == q.Priority && cur.Disabled == q.Disabled:
		change, q = "unchanged", cur
	case err == nil:
		change, q.CreatedAt, q.UpdatedAt = "changed", cur.CreatedAt, a.now().UTC()
	case !errors.Is(err, job.ErrNotFound):
		return err
	}
	out := queueApplied{Queue: q, Changed: change != "unchanged", DryRun: true, Change: change}
	if change == "changed" {
		for _, f := range []struct {
			name     string
			was, now any
		}{{"max_running", cur.MaxRunning, q.MaxRunning}, {"max_starts_per_second", cur.MaxStartsPerSecond, q.MaxStartsPerSecond},
			{"priority", cur.Priority, q.Priority}, {"disabled", cur.Disabled, q.Disabled}} {
			if f.was != f.now {
				out.Diff = append(out.Diff, fmt.Sprintf("%s: %v -> %v", f.name, f.was, f.now))
			}
		}
	}
	writeJSON(w, r, http.StatusOK, out)
	return nil
}

// notTeamScoped refuses a token limited to some teams' jobs: a queue is shared by all.
func notTeamScoped(r *http.Request, what string) error {
	if !teamScoped(r.Context()) {
		return nil
	}
	return &statusError{status: http.StatusForbidden, code: "forbidden",
		msg: fmt.Sprintf("token %q is limited to some teams' jobs; it may not %s, which all teams share", actor(r.Context()), what)}
}

// queueErr names the queue in a not-found error.
func queueErr(name string, err error) error {
	if errors.Is(err, job.ErrNotFound) {
		return &statusError{status: http.StatusNotFound, code: "not_found", msg: fmt.Sprintf("queue %q not found", name)}
	}
	return err
}
