package job

// Reason is a short CamelCase word saying why a run is where it is (ExitCode,
// DeadlineExceeded, UpstreamFailed); the event's message is the sentence a person reads.
// Reasons that more than one stage uses are constants here, with what they mean beside
// them; an executor's own notices (Pulling, Disrupted) and the reasons Kubernetes gives
// are reasons too.
type Reason string

// Why a run was made, or queued.
const (
	// ReasonSubmitted: queued on request (API, CLI, web UI).
	ReasonSubmitted Reason = "Submitted"
	// ReasonScheduled: queued for a cron slot.
	ReasonScheduled Reason = "Scheduled"
	// ReasonRetrying: a later attempt of a failed run, queued after its backoff.
	ReasonRetrying Reason = "Retrying"
	// ReasonQueued: a group's child that needs nothing, queued with its group.
	ReasonQueued Reason = "Queued"
	// ReasonWaiting: a group's child waiting for the steps it needs.
	ReasonWaiting Reason = "Waiting"
	// ReasonReady: a waiting child queued once what it needs has ended.
	ReasonReady Reason = "Ready"
	// ReasonRequeued: claimed by a server that stopped before starting it; queued again.
	ReasonRequeued Reason = "Requeued"
	// ReasonNotStarted: claimed, but the executor did not take it; queued again.
	ReasonNotStarted Reason = "NotStarted"
	// ReasonResumed: a group run that takes up an ended one again (docket retry).
	ReasonResumed Reason = "Resumed"
	// ReasonReused: a child of a resumed group run carried over from the run it resumes,
	// where it succeeded; it does not run again.
	ReasonReused Reason = "Reused"
	// ReasonTriggered: queued because a run of a job it runs after ended (a trigger).
	ReasonTriggered Reason = "Triggered"
)

// Why a slot or a child was not run (a skipped run).
const (
	ReasonMissed            Reason = "Missed"
	ReasonSuspended         Reason = "Suspended"
	ReasonConcurrencyForbid Reason = "ConcurrencyForbid"
	ReasonReplaced          Reason = "Replaced"
	// ReasonUpstreamFailed: a step whose needs did not all succeed.
	ReasonUpstreamFailed Reason = "UpstreamFailed"
)

// A run's way through dispatch and its executor.
const (
	ReasonClaimed  Reason = "Claimed"
	ReasonStarting Reason = "Starting"
	ReasonStarted  Reason = "Started"
	// ReasonAdopted: a server follows on a run whose server stopped (a Kubernetes Job).
	ReasonAdopted Reason = "Adopted"
)

// How a run ended.
const (
	ReasonCompleted        Reason = "Completed"
	ReasonExitCode         Reason = "ExitCode"
	ReasonSignaled         Reason = "Signaled"
	ReasonOOMKilled        Reason = "OOMKilled"
	ReasonDeadlineExceeded Reason = "DeadlineExceeded"
	ReasonCancelled        Reason = "Cancelled"
	// ReasonInterrupted: its server stopped during the run.
	ReasonInterrupted Reason = "Interrupted"
	// ReasonStartFailed: the run could not be started (resolved, or executed).
	ReasonStartFailed Reason = "StartFailed"
	// ReasonCommandNotFound: the program is not on the host or in the image.
	ReasonCommandNotFound Reason = "CommandNotFound"
	// ReasonNoCommand: the process executor needs a command and the definition has none.
	ReasonNoCommand       Reason = "NoCommand"
	ReasonWaitFailed      Reason = "WaitFailed"
	ReasonImagePullFailed Reason = "ImagePullFailed"
	ReasonUnschedulable   Reason = "Unschedulable"
	// ReasonStepFailed and ReasonTasksFailed: a group run whose children did not all
	// succeed; ReasonMaxFailed: a task cancelled once its array had failed too often.
	ReasonStepFailed  Reason = "StepFailed"
	ReasonTasksFailed Reason = "TasksFailed"
	ReasonMaxFailed   Reason = "MaxFailed"
	// ReasonInputsUnavailable: the run's input files could not be placed in its working
	// directory before it started (a retry may find the store reachable again).
	ReasonInputsUnavailable Reason = "InputsUnavailable"
)

// Notices recorded on a run that leave its state as it is.
const (
	ReasonImageNotUsed         Reason = "ImageNotUsed"
	ReasonResourcesNotEnforced Reason = "ResourcesNotEnforced"
	ReasonLogsExpired          Reason = "LogsExpired"
	// ReasonResultMissing: a substitution of a step's result in the command rendered as ""
	// because the result has nothing there (a misspelt key, say).
	ReasonResultMissing Reason = "ResultMissing"
)

// Permanent reports whether a failure for this reason is one a retry cannot mend: the
// run is not retried however many attempts its definition allows.
func (r Reason) Permanent() bool {
	switch r {
	case ReasonNoCommand, ReasonCommandNotFound, ReasonStartFailed:
		return true
	}
	return false
}
