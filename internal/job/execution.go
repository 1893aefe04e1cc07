package job

import "time"

// Execution is a run made ready for an executor: the dispatcher has resolved the revision,
// rendered the command's templates, merged the env contract with the definition's env and
// the run's overrides, and settled the deadline. Executors run exactly this.
type Execution struct {
	Run     Run
	Image   string
	Command []string
	// Env is complete: DOCKET_RUN_ID, DOCKET_JOB, DOCKET_SCHEDULED_TIME, DOCKET_ATTEMPT, the
	// definition's env and the run's overrides.
	Env         map[string]string
	CPU         string
	Memory      string
	GPU         int
	Deadline    time.Duration
	Labels      map[string]string
	Annotations map[string]string
	// Kubernetes places the pod when the Kubernetes executor runs it; nil: the server's
	// defaults.
	Kubernetes *Kubernetes
	// Inputs are the files placed in the run's working directory before its command
	// starts ($DOCKET_INPUTS).
	Inputs []File
	// Retries is how many times a failed attempt is tried again.
	Retries int
	// Array, for a task of an array run, is that array: the Kubernetes executor runs all
	// of an array's tasks as one Indexed Job.
	Array *TaskArray
	// Notes are notices about what the run was resolved into (a substitution of a step's
	// result that rendered as ""): the executor records them with the run's pending state,
	// so a run that goes back to the queue unstarted has none, and one started again after
	// that has them once.
	Notes []Note
}

// TaskArray is what a task's execution knows of its array run.
type TaskArray struct {
	RunID       string
	Size        int
	Parallelism int // 0: no cap of the array's own
	MaxFailed   *int
	// Env is what a pod of the array asks the server with for its task: DOCKET_API and
	// the array run's own DOCKET_TOKEN.
	Env map[string]string
}

// Update is what an executor or watcher reports about a run. With State set it asks for a
// transition to that state; with State empty it is a notice, recorded as an event that
// leaves the state as it is.
type Update struct {
	RunID string
	// From, when set, makes the transition apply only while the run is in From (a queued
	// run cancelled before a dispatcher claims it).
	From     State
	State    State
	Time     time.Time
	Reason   Reason
	Message  string
	ExitCode *int
	// Notes go with the state change, recorded in the same transaction after it.
	Notes []Note
	// Start, when set, is the run's start, not recorded yet (a process that ended
	// before its start was recorded): it is recorded first, with its own time, reason and
	// message, in the same transaction as this update.
	Start *Update
}
