package job

// TaskAction is what a pod of an array's Indexed Job is told to do when it starts: every
// pod of the Job has the same template, so it asks the server which task run and attempt
// it is (GET /api/v1/runs/{id}/tasks/{index}/start) and gets one of these.
type TaskAction string

// The task actions.
const (
	// TaskRun: the attempt exists and has not ended; run its command with its env.
	TaskRun TaskAction = "run"
	// TaskSkip: the attempt already succeeded (a task a resumed array carried over);
	// there is nothing to run and the pod succeeds.
	TaskSkip TaskAction = "skip"
	// TaskWait: the attempt is not made yet, since Docket has not yet recorded the end of
	// the one before; ask again.
	TaskWait TaskAction = "wait"
	// TaskStop: the attempt ended otherwise than succeeded, or will never be made; the
	// pod stops with TaskStopExitCode.
	TaskStop TaskAction = "stop"
)

// TaskStart is what the server tells a pod of an array's Indexed Job: which task run and
// attempt it is and what to do. With TaskRun, Command and Env are that run's own, resolved
// as the dispatcher resolves it (its DOCKET_TOKEN included), and Inputs counts its input
// files; otherwise Message says why there is nothing to run.
type TaskStart struct {
	Action  TaskAction        `json:"action"`
	RunID   string            `json:"run_id,omitempty"`
	Attempt int               `json:"attempt"`
	Command []string          `json:"command,omitempty"`
	Env     map[string]string `json:"env,omitempty"`
	Inputs  int               `json:"inputs"`
	Message string            `json:"message,omitempty"`
}

// TaskStopExitCode is the exit code of docket task start when told to stop: the
// Kubernetes executor names it in the Job's podFailurePolicy so that such a pod fails
// its index at once instead of being retried.
const TaskStopExitCode = 3
