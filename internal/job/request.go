package job

// RunRequest is the optional body of a run submission (POST /api/v1/jobs/{name}/runs).
type RunRequest struct {
	Env     map[string]string `json:"env,omitempty"`
	Trigger Trigger           `json:"trigger,omitempty"`
	// Queue, when set, admits the run through this queue instead of its job's.
	Queue string `json:"queue,omitempty"`
	// Priority orders the run within its queue (0 to 1000, highest first).
	Priority int `json:"priority,omitempty"`
	// Params set the job's params for this run.
	Params map[string]string `json:"params,omitempty"`
	// Tasks, Inputs (one task each), Parallelism and MaxFailed make the run an array, or
	// change the one its job makes.
	Tasks       int      `json:"tasks,omitempty"`
	Inputs      []string `json:"inputs,omitempty"`
	Parallelism int      `json:"parallelism,omitempty"`
	MaxFailed   *int     `json:"max_failed,omitempty"`
	// Files are input files (uploaded blobs) placed in the run's working directory, or in
	// every task's; TaskFiles make an array of one task per file, each placed for its
	// task, whose input is its path.
	Files     []File `json:"files,omitempty"`
	TaskFiles []File `json:"task_files,omitempty"`
}
