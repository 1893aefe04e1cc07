package job

// Limits of an array run, the same wherever it is asked for (a definition's tasks, a
// submission's array or inputs): Kubernetes' Indexed Jobs allow 100,000 completions, but
// Docket keeps every task a run with its own rows, so an array stays at a size one
// transaction makes and one page of the web UI shows.
const (
	// MaxTasks is the most tasks an array run may have.
	MaxTasks = 10000
	// MaxInputBytes is the longest input a task may be given (a line of --each-line, the
	// path of its file): it reaches the task as DOCKET_TASK_INPUT, and 10,000 of them make
	// one submission.
	MaxInputBytes = 4096
)
