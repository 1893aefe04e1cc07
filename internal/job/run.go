package job

import "time"

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
)

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
	Reason      string     `json:"reason,omitempty"`
	Message     string     `json:"message,omitempty"`
	Executor    string     `json:"executor,omitempty"`
	ClaimedBy   string     `json:"claimed_by,omitempty"`
	CancelledBy string     `json:"cancel_requested_by,omitempty"`
}

// Event records one thing that happened to a run: a state transition, or a notice such as
// "the image was not pulled" that leaves the state as it was.
type Event struct {
	ID      int64     `json:"id"`
	RunID   string    `json:"run_id"`
	Time    time.Time `json:"time"`
	State   State     `json:"state"`
	Reason  string    `json:"reason"`
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
	Reason  string
	Message string
	// ExitCode is recorded when the executor knows it.
	ExitCode *int
	// ClaimedBy is set when a dispatcher takes the run.
	ClaimedBy string
	// Then is created in the same transaction, for example the retry of a failed run.
	Then *Run
	// Notes are recorded after the transition's event, in the same transaction.
	Notes []Note
}

// Note is a notice that goes with a state change: an event that leaves the state as the
// change left it ("the image was not pulled").
type Note struct {
	Reason  string
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
