package job

import (
	"strconv"
	"time"
)

// Trigger says what created a run.
type Trigger string

// The run triggers.
const (
	// TriggerSchedule runs were created by the scheduler for a cron slot.
	TriggerSchedule Trigger = "schedule"
	// TriggerManual runs were started by a person, through the CLI or the web UI.
	TriggerManual Trigger = "manual"
	// TriggerAPI runs were submitted through the HTTP API by a program.
	TriggerAPI Trigger = "api"
	// TriggerRetry runs are a later attempt of a failed run.
	TriggerRetry Trigger = "retry"
	// TriggerGroup runs are the children of a group run (a workflow's steps, an array's
	// tasks), made with it.
	TriggerGroup Trigger = "group"
	// TriggerAfter runs were started because runs of the jobs they run after ended.
	TriggerAfter Trigger = "after"
)

// Kind says what a run does. A group run (a workflow or an array) runs nothing itself and
// is never dispatched: its children, ordinary runs, do the work, and its state follows
// theirs.
type Kind string

// The kinds of runs.
const (
	// KindRun is a run that executes the job's command.
	KindRun Kind = ""
	// KindWorkflow is a group run whose children are the job's steps.
	KindWorkflow Kind = "workflow"
	// KindArray is a group run whose children are tasks of the job, one per index.
	KindArray Kind = "array"
)

// Group is what a group run keeps about its children: how many there are (steps or
// tasks), how many have ended for good (with no retry to come) and how, and the limits it
// puts on them.
type Group struct {
	Size      int `json:"size"`
	Ended     int `json:"ended"`
	Succeeded int `json:"succeeded"`
	Failed    int `json:"failed"`
	// Parallelism caps the children running at once; 0: no cap of the group's own.
	Parallelism int `json:"parallelism,omitempty"`
	// MaxFailed, for an array, is how many failed tasks it tolerates: past it the rest are
	// cancelled and the array fails. Nil: every task runs, and the array fails if any did.
	MaxFailed *int `json:"max_failed,omitempty"`
}

// Run is one execution attempt of a job definition. The runs table is Docket's queue: a run
// is created queued and moves through the states until it is terminal.
type Run struct {
	ID       string  `json:"id"`
	Job      string  `json:"job"`
	Revision int     `json:"revision"`
	State    State   `json:"state"`
	Trigger  Trigger `json:"trigger"`
	// ScheduledTime is the cron slot the run is for; nil for on-demand runs. A retry keeps
	// the slot of the run it retries.
	ScheduledTime *time.Time `json:"scheduled_time,omitempty"`
	// Attempt counts from 1; a retry's attempt is one more than the run it retries.
	Attempt int `json:"attempt"`
	// RetryOf is the id of the failed run this run retries.
	RetryOf string `json:"retry_of,omitempty"`
	// Env holds per-run overrides of the definition's env.
	Env map[string]string `json:"env,omitempty"`
	// IdempotencyKey makes a repeated submission return the first run instead of a new one.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	// Exclusive runs never overlap with another active run of the same job
	// (concurrency: forbid).
	Exclusive bool `json:"exclusive,omitempty"`
	// NotBefore holds a run in the queue until that time (retry backoff).
	NotBefore   time.Time  `json:"not_before"`
	CreatedAt   time.Time  `json:"created_at"`
	StartedAt   *time.Time `json:"started_at,omitempty"`
	FinishedAt  *time.Time `json:"finished_at,omitempty"`
	ExitCode    *int       `json:"exit_code,omitempty"`
	Reason      Reason     `json:"reason,omitempty"`
	Message     string     `json:"message,omitempty"`
	Executor    string     `json:"executor,omitempty"`
	ClaimedBy   string     `json:"claimed_by,omitempty"`
	CancelledBy string     `json:"cancel_requested_by,omitempty"`

	// Kind is KindRun for a run that executes, or the kind of a group run.
	Kind Kind `json:"kind,omitempty"`
	// Group is what a group run keeps of its children; nil for other runs.
	Group *Group `json:"group,omitempty"`
	// Parent is the group run this run is a child of.
	Parent string `json:"parent_id,omitempty"`
	// Step names the step a workflow's child runs; TaskIndex the task (from 0) of an
	// array's child, and Input its input (a line, or the path of its file).
	Step      string `json:"step,omitempty"`
	TaskIndex *int   `json:"task_index,omitempty"`
	Input     string `json:"input,omitempty"`
	// Needs are the steps a workflow's child waits for. With Always it runs once they
	// have ended, however they ended; without, only once they all succeeded.
	Needs  []string `json:"needs,omitempty"`
	Always bool     `json:"always,omitempty"`
	// ResumedFrom is the group run a resumed group run takes up again; ReusedFrom is the
	// earlier child whose success a child of the resumed run carries over.
	ResumedFrom string `json:"resumed_from,omitempty"`
	ReusedFrom  string `json:"reused_from,omitempty"`
	// WaitsFor are the runs (first attempts; a job of several attempts counts as its
	// newest) this run waits for, in state waiting, before it is queued: dependencies
	// between separate submissions. It is skipped once one of them has ended otherwise
	// than succeeded.
	WaitsFor []string `json:"waits_for,omitempty"`
	// Overrides are what the submission changed of the revision for this run (and its
	// attempts and children); nil for a run of the revision as it is.
	Overrides *Overrides `json:"overrides,omitempty"`

	// Queue is the queue the run is admitted through (DefaultQueue: none named).
	Queue string `json:"queue,omitempty"`
	// Priority orders the run within its queue's priority, highest first (0 to
	// MaxPriority).
	Priority int `json:"priority,omitempty"`
	// Params are the values of the definition's params the run runs with, defaults
	// included.
	Params map[string]string `json:"params,omitempty"`
	// WaitingFor says, for a run that is not moving, what it waits for; computed when the
	// run is read, never stored.
	WaitingFor string `json:"waiting_for,omitempty"`
	// NoInputs is set by the claim that took the run when it has no input files to place:
	// none of its own, and no earlier attempt or group run whose files it would get.
	// False when not known; never stored.
	NoInputs bool `json:"-"`
}

// Overrides are a submission's changes to what its run executes, laid over the revision's
// spec when the run is resolved: the AWS Batch face's containerOverrides, retryStrategy,
// timeout and jobName. Empty fields change nothing.
type Overrides struct {
	// Name is the name the submitter gave the run (AWS's jobName); the job is still Job.
	Name    string   `json:"name,omitempty"`
	Command []string `json:"command,omitempty"`
	CPU     string   `json:"cpu,omitempty"`
	Memory  string   `json:"memory,omitempty"`
	GPU     *int     `json:"gpu,omitempty"`
	// Deadline is per attempt, as the spec's.
	Deadline Duration `json:"deadline,omitempty"`
	// Retries, when set, replaces the spec's retries, and RetryOn its retry rules.
	Retries *int        `json:"retries,omitempty"`
	RetryOn []RetryRule `json:"retry_on,omitempty"`
}

// Apply returns spec with the overrides laid over it.
func (o *Overrides) Apply(spec Spec) Spec {
	if o == nil {
		return spec
	}
	if o.Command != nil {
		spec.Command = o.Command
	}
	if o.CPU != "" {
		spec.CPU = o.CPU
	}
	if o.Memory != "" {
		spec.Memory = o.Memory
	}
	if o.GPU != nil {
		spec.GPU = *o.GPU
	}
	if o.Deadline != 0 {
		spec.Deadline = o.Deadline
	}
	if o.Retries != nil {
		spec.Retries = *o.Retries
	}
	if o.RetryOn != nil {
		spec.RetryOn = o.RetryOn
	}
	return spec
}

// Key is what a child stands for in its group, the same over its attempts: its step, or
// its task index; "" for a run that is no child.
func (r Run) Key() string {
	switch {
	case r.Step != "":
		return r.Step
	case r.TaskIndex != nil:
		return strconv.Itoa(*r.TaskIndex)
	}
	return ""
}

// Event records one thing that happened to a run: a state transition, or a notice such as
// "the image was not pulled" that leaves the state as it was.
type Event struct {
	ID      int64     `json:"id"`
	RunID   string    `json:"run_id"`
	Time    time.Time `json:"time"`
	State   State     `json:"state"`
	Reason  Reason    `json:"reason"`
	Message string    `json:"message"`
}

// Transition is a guarded state change of one run: it applies only while the run is still
// in From, so two actors racing on the same run cannot both win. An empty From is any
// state the run may move to To from (Preceding): a change that does not depend on which.
type Transition struct {
	RunID string
	From  State
	To    State
	Time  time.Time
	// Reason is a short CamelCase word (Started, ExitCode, DeadlineExceeded); Message is the
	// sentence a person reads.
	Reason  Reason
	Message string
	// ExitCode is recorded when the executor knows it.
	ExitCode *int
	// ClaimedBy is set when a dispatcher takes the run.
	ClaimedBy string
	// Then is created in the same transaction, for example the retry of a failed run.
	Then *Run
	// Notes are recorded after the transition's event, in the same transaction.
	Notes []Note
	// Before, when set, is a transition recorded first, in the same transaction, with
	// its own event and notes: a run's start that its executor reports together with the
	// end that came before the start was recorded. From is then Before's To.
	Before *Transition
}

// Note is a notice that goes with a state change: an event that leaves the state as the
// change left it ("the image was not pulled").
type Note struct {
	Reason  Reason
	Message string
}

// Events returns the events that record the transition: its own, then its notes.
func (t Transition) Events() []Event {
	evs := []Event{{RunID: t.RunID, Time: t.Time, State: t.To, Reason: t.Reason, Message: t.Message}}
	for _, n := range t.Notes {
		evs = append(evs, Event{RunID: t.RunID, Time: t.Time, State: t.To, Reason: n.Reason, Message: n.Message})
	}
	return evs
}

// NewRun returns the first attempt of a run of a job's revision, made at now by trigger:
// queued and due at once. The caller sets what differs (its state, reason and message, a
// slot, a key) and stores it with the event FirstEvent returns.
func NewRun(name string, revision int, trigger Trigger, now time.Time) Run {
	return Run{ID: NewRunID(now), Job: name, Revision: revision, State: StateQueued, Trigger: trigger, Attempt: 1, NotBefore: now, CreatedAt: now}
}

// FirstEvent is the event that records a run's creation, in the state it was made in.
func (r Run) FirstEvent() Event {
	return Event{RunID: r.ID, Time: r.CreatedAt, State: r.State, Reason: r.Reason, Message: r.Message}
}

// NextAttempt returns the run that retries r, made at now and queued until notBefore: the
// same job, revision, slot, env, queue, priority, params and key in its group (step or task), one attempt on.
func (r Run) NextAttempt(now, notBefore time.Time) Run {
	next := NewRun(r.Job, r.Revision, TriggerRetry, now)
	next.ScheduledTime, next.Attempt, next.RetryOf, next.NotBefore = r.ScheduledTime, r.Attempt+1, r.ID, notBefore
	next.Env, next.Exclusive, next.Overrides = r.Env, r.Exclusive, r.Overrides
	next.Queue, next.Priority, next.Params = r.Queue, r.Priority, r.Params
	next.Parent, next.Step, next.TaskIndex, next.Input, next.Needs, next.Always = r.Parent, r.Step, r.TaskIndex, r.Input, r.Needs, r.Always
	return next
}
