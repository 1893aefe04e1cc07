package job

import "slices"

// TriggerOn says which ends of an upstream job's run fire a trigger.
type TriggerOn string

// The ends a trigger may wait for.
const (
	// OnSucceeded fires when the upstream run succeeded (the default).
	OnSucceeded TriggerOn = "succeeded"
	// OnFailed fires when the upstream run failed for good (no retry to come).
	OnFailed TriggerOn = "failed"
	// OnFinished fires however the upstream run ended: succeeded, failed or cancelled.
	OnFinished TriggerOn = "finished"
)

// After is one entry of a definition's after: run the job when a run of Job ends as On
// says.
type After struct {
	Job string    `json:"job"`
	On  TriggerOn `json:"on,omitempty"`
}

// Fires says whether a run of the upstream job that ended in state fires the entry.
func (a After) Fires(state State) bool {
	switch a.On {
	case OnFailed:
		return state == StateFailed
	case OnFinished:
		return state == StateSucceeded || state == StateFailed || state == StateCancelled
	}
	return state == StateSucceeded
}

// AfterReady says whether a job that runs after entries fires, given the upstream jobs
// with a qualifying end not yet used by a firing: once every entry has one.
func AfterReady(entries []After, waiting []string) bool {
	for _, e := range entries {
		if !slices.Contains(waiting, e.Job) {
			return false
		}
	}
	return len(entries) > 0
}
