package definition

import "docket.dev/docket/internal/job"

// checkArray checks what makes a job an array (tasks) and the limits a group run of it
// keeps (parallelism, max_failed). A submission may make an array of any job, so
// parallelism and max_failed stand without tasks: they apply to its arrays.
func checkArray(s job.Spec, _ Limits) error {
	return CheckArray("", s.Tasks, s.Parallelism, s.MaxFailed)
}

// CheckArray checks an array's size and limits, in a definition or a submission; prefix
// goes before the field names ("" in a definition).
func CheckArray(prefix string, tasks, parallelism int, maxFailed *int) error {
	switch {
	case tasks < 0 || tasks > job.MaxTasks:
		return job.Invalid(prefix+"tasks", "%d is out of range; an array has 1 to %d tasks (0 or none: no array)", tasks, job.MaxTasks)
	case parallelism < 0 || parallelism > job.MaxTasks:
		return job.Invalid(prefix+"parallelism", "%d is out of range; use 1 to %d tasks running at once (0 or none: no cap but the server's)", parallelism, job.MaxTasks)
	case maxFailed != nil && (*maxFailed < 0 || *maxFailed > job.MaxTasks):
		return job.Invalid(prefix+"max_failed", "%d is out of range; use 0 to %d failed tasks tolerated", *maxFailed, job.MaxTasks)
	case maxFailed != nil && tasks > 0 && *maxFailed >= tasks:
		return job.Invalid(prefix+"max_failed", "%d tolerates every one of the %d tasks failing; use less than %d", *maxFailed, tasks, tasks)
	}
	return nil
}
