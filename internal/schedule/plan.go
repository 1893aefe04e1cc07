package schedule

import (
	"fmt"
	"time"

	"docket.dev/docket/internal/definition"
	"docket.dev/docket/internal/group"
	"docket.dev/docket/internal/job"
)

// maxSlotsPerPass caps how many slots one pass records for one job. A job that missed more
// (an @every 1s job after a day of downtime) has its oldest slots dropped from the record, and
// the pass says how many in Plan.Dropped.
const maxSlotsPerPass = 1000

// Plan is what one scheduler pass decides for one job: the runs to store for its due slots
// (queued or skipped), their first events, and the active runs to cancel (concurrency:
// replace). Applying it moves the job's cursor to Through.
type Plan struct {
	Runs    []job.Run
	Events  []job.Event
	Cancel  []string
	Through time.Time
	// Dropped counts slots too old to record (more than maxSlotsPerPass were due).
	Dropped bool
}

// PlanSlots decides what to do with the slots of def that came due in
// (def.ScheduledThrough, now]. slots are those fire times, oldest first (see
// cron.Schedule.Between). active lists the job's runs that are queued or active. A slot
// found more than grace after its time counts as missed, and the catch-up policy decides
// whether it runs; a slot found within grace is on time and runs, unless the job is
// suspended or the concurrency policy forbids it.
func PlanSlots(def job.Definition, slots []time.Time, dropped bool, active []job.Run, now time.Time, grace time.Duration) Plan {
	p := Plan{Through: now, Dropped: dropped}
	if len(slots) == 0 {
		return p
	}
	loc := def.Location()
	run := make([]bool, len(slots))
	skip := make([]reason, len(slots))
	latest := len(slots) - 1
	for i, slot := range slots {
		onTime := now.Sub(slot) <= grace
		switch {
		case def.Suspended:
			skip[i] = reason{job.ReasonSuspended, "the job is suspended"}
		case onTime:
			run[i] = true
		case def.Catchup == job.CatchupNone:
			skip[i] = reason{job.ReasonMissed, "the slot was missed while the scheduler was not running, and catchup is none"}
		case def.Catchup == job.CatchupAll && latest-i >= job.MaxCatchup:
			skip[i] = reason{job.ReasonMissed, fmt.Sprintf("the slot was missed, and catchup all runs only the latest %d missed slots", job.MaxCatchup)}
		case def.Catchup == job.CatchupAll || i == latest:
			run[i] = true
		default:
			skip[i] = reason{job.ReasonMissed, fmt.Sprintf("the slot was missed, and catchup latest runs only the slot at %s", formatSlot(slots[latest], loc))}
		}
	}
	applyConcurrency(def, loc, slots, run, skip, active, &p)

	for i, slot := range slots {
		r := job.NewRun(def.Name, def.Revision, job.TriggerSchedule, now)
		r.ScheduledTime, r.Exclusive = &slot, def.Concurrency == job.ConcurrencyForbid
		r.Queue, r.Params = def.Queue, definition.Defaults(def.Params)
		var children []job.Run
		var childEvents []job.Event
		if run[i] {
			r.State = job.StateQueued
			r.Reason = job.ReasonScheduled
			r.Message = "queued for the slot at " + formatSlot(slot, loc)
			// A workflow's or an array's slot is a group run, made with its children.
			children, childEvents = group.Expand(&r, def.Spec, def.Tasks, nil)
		} else {
			finished := now
			r.State, r.Reason, r.Message, r.FinishedAt = job.StateSkipped, skip[i].reason, skip[i].message, &finished
		}
		p.Runs = append(append(p.Runs, r), children...)
		p.Events = append(append(p.Events, r.FirstEvent()), childEvents...)
	}
	return p
}

// reason is why a slot was skipped.
type reason struct {
	reason  job.Reason
	message string
}

// applyConcurrency turns slots that would run into skipped ones where the job's concurrency
// policy says so, and lists the runs to cancel for concurrency: replace.
func applyConcurrency(def job.Definition, loc *time.Location, slots []time.Time, run []bool, skip []reason, active []job.Run, p *Plan) {
	switch def.Concurrency {
	case job.ConcurrencyForbid:
		// Queued runs of a forbid job wait their turn; a slot that fires while one is still
		// queued or active is skipped rather than piling up behind it.
		if len(active) == 0 {
			return
		}
		msg := fmt.Sprintf("run %s was still %s, and concurrency is forbid", active[0].ID, active[0].State)
		for i := range run {
			if run[i] {
				run[i], skip[i] = false, reason{job.ReasonConcurrencyForbid, msg}
			}
		}
	case job.ConcurrencyReplace:
		last := -1
		for i := range run {
			if run[i] {
				last = i
			}
		}
		if last < 0 {
			return
		}
		for i := range run[:last] {
			if run[i] {
				run[i], skip[i] = false, reason{job.ReasonReplaced, "replaced by the slot at " + formatSlot(slots[last], loc) + ", and concurrency is replace"}
			}
		}
		for _, r := range active {
			p.Cancel = append(p.Cancel, r.ID)
		}
	}
}

// formatSlot renders a slot in the job's zone with its UTC offset, as a person reads it.
func formatSlot(t time.Time, loc *time.Location) string {
	return t.In(loc).Format("2006-01-02 15:04:05 -07:00 MST")
}
