package awsbatch

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"docket.dev/docket/internal/job"
)

// maxDependencies bounds dependsOn (AWS stops at 20; Docket needs no such cap, but a
// bound).
const maxDependencies = 1000

// maxWaits bounds what an array's dependencies make: each child waits for each of them
// (and an N_TO_N one is looked up for each child), so the bound is on their product.
const maxWaits = 100000

// deps are a submission's dependencies as Docket's runs wait for them (job.Run.WaitsFor).
type deps struct {
	// whole are the runs the job (each child of an array) waits for.
	whole []string
	// nToN are array runs whose task i task i of this array waits for.
	nToN []string
	// sequential makes task i of this array wait for task i-1.
	sequential bool
}

// dependencies reads dependsOn: plain dependencies on any job (the job, or each child of
// an array, waits for it to succeed), N_TO_N on an array of the same size (child i waits
// for child i), SEQUENTIAL on the array itself (child i waits for child i-1).
func (h *Handler) dependencies(ctx context.Context, in []dependency, tasks int, workflow bool) (deps, error) {
	var d deps
	if len(in) == 0 {
		return d, nil
	}
	if len(in) > maxDependencies {
		return d, clientErr("dependsOn: %d dependencies; at most %d", len(in), maxDependencies)
	}
	if workflow {
		return d, clientErr("dependsOn: the job definition is a Docket workflow, whose steps have their own needs; submit a plain job or an array to depend on other jobs")
	}
	seen := map[string]bool{}
	for i, dep := range in {
		field := fmt.Sprintf("dependsOn[%d]", i)
		switch dep.Type {
		case "", "N_TO_N", "SEQUENTIAL":
		default:
			return d, clientErr("%s.type: %q is not N_TO_N or SEQUENTIAL", field, job.Truncate(dep.Type, 40))
		}
		if dep.Type != "" && tasks == 0 {
			return d, clientErr("%s.type: %s dependencies are for array jobs (arrayProperties)", field, dep.Type)
		}
		if dep.Type == "SEQUENTIAL" {
			d.sequential = true
			if dep.JobID == "" {
				continue
			}
		}
		if dep.JobID == "" {
			return d, clientErr("%s.jobId: is required", field)
		}
		j, err := h.lookup(ctx, dep.JobID)
		if errors.Is(err, job.ErrNotFound) {
			return d, clientErr("%s.jobId: %q is not a job this server knows", field, job.Truncate(dep.JobID, 200))
		}
		if err != nil {
			return d, err
		}
		id := j.first().ID
		if seen[id+dep.Type] {
			continue
		}
		seen[id+dep.Type] = true
		if dep.Type == "N_TO_N" {
			f := j.first()
			if f.Kind != job.KindArray || f.Group == nil || f.Group.Size != tasks {
				return d, clientErr("%s: an N_TO_N dependency needs an array job of the same size (%d); %s is not one", field, tasks, job.Truncate(dep.JobID, 200))
			}
			d.nToN = append(d.nToN, id)
			continue
		}
		d.whole = append(d.whole, id)
	}
	each := len(d.whole) + len(d.nToN)
	if d.sequential {
		each++
	}
	if each*max(tasks, 1) > maxWaits {
		return d, clientErr("dependsOn: %d dependencies for each of %d tasks; an array's tasks may wait for at most %d in all", each, tasks, maxWaits)
	}
	return d, nil
}

// apply makes run (or, for an array, each of its children) wait for what it depends on.
func (d deps) apply(ctx context.Context, h *Handler, run *job.Run, children []job.Run) error {
	if len(d.whole) == 0 && len(d.nToN) == 0 && !d.sequential {
		return nil
	}
	if len(children) == 0 {
		run.State, run.WaitsFor = job.StateWaiting, d.whole
		run.Reason, run.Message = job.ReasonWaiting, waitingFor(d.whole)
		return nil
	}
	for i := range children {
		c := &children[i]
		waits := append([]string(nil), d.whole...)
		for _, parent := range d.nToN {
			task, err := h.opts.Store.RunTask(ctx, parent, i)
			if err != nil {
				return fmt.Errorf("task %d of array %s: %w", i, parent, err)
			}
			waits = append(waits, task.ID)
		}
		if d.sequential && i > 0 {
			waits = append(waits, children[i-1].ID)
		}
		if len(waits) > 0 {
			c.State, c.WaitsFor = job.StateWaiting, waits
			c.Reason, c.Message = job.ReasonWaiting, fmt.Sprintf("task %d of array run %s: %s", i, run.ID, waitingFor(waits))
		}
	}
	return nil
}

// waitingFor says what a run waits for, in a bounded sentence.
func waitingFor(ids []string) string {
	if len(ids) > 3 {
		return fmt.Sprintf("waiting for %d runs to succeed (%s, ...)", len(ids), strings.Join(ids[:3], ", "))
	}
	return "waiting for " + strings.Join(ids, ", ") + " to succeed"
}
