package job

import (
	"fmt"
	"sync"
	"time"
)

// Concurrency says what happens when a slot fires while an earlier run of the same job is
// still active.
type Concurrency string

// The concurrency policies.
const (
	// ConcurrencyAllow starts the new run alongside the active ones.
	ConcurrencyAllow Concurrency = "allow"
	// ConcurrencyForbid never lets two runs of the job overlap: a slot that fires while a run
	// is active is skipped, and queued runs wait for the active one to finish.
	ConcurrencyForbid Concurrency = "forbid"
	// ConcurrencyReplace cancels the active runs and starts the new one.
	ConcurrencyReplace Concurrency = "replace"
)

// Catchup says which slots run when the scheduler finds slots it missed, for example after
// the server was down.
type Catchup string

// The catch-up policies.
const (
	// CatchupNone skips every missed slot.
	CatchupNone Catchup = "none"
	// CatchupLatest runs the most recent missed slot and skips the others.
	CatchupLatest Catchup = "latest"
	// CatchupAll runs every missed slot, up to MaxCatchup of the most recent ones.
	CatchupAll Catchup = "all"
)

// MaxCatchup caps how many missed slots CatchupAll runs; older ones are skipped.
const MaxCatchup = 100

// Spec is what a user writes: the job definition's fields, as stored in each revision.
// Field names in JSON and YAML are snake_case.
type Spec struct {
	Name    string   `json:"name"`
	Image   string   `json:"image"`
	Command []string `json:"command,omitempty"`
	CPU     string   `json:"cpu"`
	Memory  string   `json:"memory"`
	// GPU is how many whole GPUs a run needs (nvidia.com/gpu on Kubernetes); executors
	// that cannot give them refuse the definition.
	GPU         int         `json:"gpu,omitempty"`
	Schedule    string      `json:"schedule,omitempty"`
	Timezone    string      `json:"timezone,omitempty"`
	Concurrency Concurrency `json:"concurrency,omitempty"`
	Catchup     Catchup     `json:"catchup,omitempty"`
	Deadline    Duration    `json:"deadline,omitempty"`
	Retries     int         `json:"retries,omitempty"`
	// RetryOn are rules that decide by how an attempt failed whether it is retried (the
	// first that matches; none: retried).
	RetryOn []RetryRule `json:"retry_on,omitempty"`
	// ExpectSuccessWithin is the dead man's switch: when no run of the job has succeeded
	// for this long, the server alerts. Zero turns it off.
	ExpectSuccessWithin Duration          `json:"expect_success_within,omitempty"`
	Env                 map[string]string `json:"env,omitempty"`
	Labels              map[string]string `json:"labels,omitempty"`
	Annotations         map[string]string `json:"annotations,omitempty"`
	// Kubernetes places the job's pods when the Kubernetes executor runs it; other
	// executors ignore it.
	Kubernetes *Kubernetes `json:"kubernetes,omitempty"`

	// Steps make the job a workflow: each run of it is a group run whose children are the
	// steps, each an ordinary run once the steps it needs have ended.
	Steps []Step `json:"steps,omitempty"`
	// Tasks makes the job an array: each run of it is a group run of Tasks children, one
	// per index. A submission may ask for an array of any job.
	Tasks int `json:"tasks,omitempty"`
	// Parallelism caps the children of one of the job's group runs running at once; 0: no
	// cap of its own.
	Parallelism int `json:"parallelism,omitempty"`
	// MaxFailed is how many failed tasks an array tolerates (see Group.MaxFailed).
	MaxFailed *int `json:"max_failed,omitempty"`
	// After runs the job when runs of other jobs end: with several entries, once each
	// has a new qualifying end since the job last fired.
	After []After `json:"after,omitempty"`
	// Queue names the queue the job's runs are admitted through; "" is the default queue.
	Queue string `json:"queue,omitempty"`
	// Params are the job's named arguments with their defaults; an empty default means a
	// run must set it. Templates read them as {{ .Params.NAME }}; runs get them as env
	// DOCKET_PARAM_NAME.
	Params map[string]string `json:"params,omitempty"`
}

// When says when a workflow step runs.
type When string

// The step conditions.
const (
	// WhenSucceeded runs a step once all the steps it needs succeeded (the default).
	WhenSucceeded When = "succeeded"
	// WhenAlways runs a step once the steps it needs have ended, however they ended:
	// clean-up, notification.
	WhenAlways When = "always"
)

// Step is one step of a workflow: a small definition of its own, whose unset fields are
// the job's, and the steps it needs.
type Step struct {
	Name        string            `json:"name"`
	Needs       []string          `json:"needs,omitempty"`
	When        When              `json:"when,omitempty"`
	Image       string            `json:"image,omitempty"`
	Command     []string          `json:"command,omitempty"`
	CPU         string            `json:"cpu,omitempty"`
	Memory      string            `json:"memory,omitempty"`
	Deadline    Duration          `json:"deadline,omitempty"`
	Retries     *int              `json:"retries,omitempty"`
	Env         map[string]string `json:"env,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Kubernetes  *Kubernetes       `json:"kubernetes,omitempty"`
	// Queue, when set, is the step's own queue instead of its run's.
	Queue string `json:"queue,omitempty"`
}

// Queues returns the queues the job names, its own and its steps', without repeats.
func (s Spec) Queues() []string {
	var out []string
	for _, q := range append([]string{s.Queue}, stepQueues(s.Steps)...) {
		if q != "" && !contains(out, q) {
			out = append(out, q)
		}
	}
	return out
}

// QueueField names the field of s that names queue q, for an error about it: queue, or
// the first step's that does.
func (s Spec) QueueField(q string) string {
	if s.Queue != q {
		for i, st := range s.Steps {
			if st.Queue == q {
				return fmt.Sprintf("steps[%d].queue", i)
			}
		}
	}
	return "queue"
}

func stepQueues(steps []Step) []string {
	out := make([]string, len(steps))
	for i, st := range steps {
		out[i] = st.Queue
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Kind is what a run of the spec is: a workflow, an array, or a plain run.
func (s Spec) Kind() Kind {
	switch {
	case len(s.Steps) > 0:
		return KindWorkflow
	case s.Tasks > 0:
		return KindArray
	}
	return KindRun
}

// Step returns the step called name, and whether there is one.
func (s Spec) Step(name string) (Step, bool) {
	for _, st := range s.Steps {
		if st.Name == name {
			return st, true
		}
	}
	return Step{}, false
}

// ForStep returns what a step of the job runs: the job's spec with the step's fields laid
// over it (env, labels and annotations merged, the step's values winning), and no steps of
// its own. An unknown step, or "", gives the job's spec.
func (s Spec) ForStep(name string) Spec {
	st, ok := s.Step(name)
	if !ok {
		return s
	}
	out := s
	out.Steps, out.Tasks, out.Parallelism, out.MaxFailed, out.After = nil, 0, 0, nil, nil
	if st.Image != "" {
		out.Image = st.Image
	}
	if st.Command != nil {
		out.Command = st.Command
	}
	if st.CPU != "" {
		out.CPU = st.CPU
	}
	if st.Memory != "" {
		out.Memory = st.Memory
	}
	if st.Deadline != 0 {
		out.Deadline = st.Deadline
	}
	if st.Retries != nil {
		out.Retries = *st.Retries
	}
	out.Env = merged(s.Env, st.Env)
	out.Labels = merged(s.Labels, st.Labels)
	out.Annotations = merged(s.Annotations, st.Annotations)
	if st.Kubernetes != nil {
		out.Kubernetes = st.Kubernetes
	}
	if st.Queue != "" {
		out.Queue = st.Queue
	}
	return out
}

// merged returns base with over's entries laid over it; nil when both are empty.
func merged(base, over map[string]string) map[string]string {
	if len(over) == 0 {
		return base
	}
	out := make(map[string]string, len(base)+len(over))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		out[k] = v
	}
	return out
}

// Kubernetes is where and as whom a job's pods run on Kubernetes: a batch node pool, its
// taints, the pod's identity and priority. An empty field takes the server's default; the
// node selector is added to the server's (the definition's value wins for a key it sets)
// and the tolerations to the server's.
type Kubernetes struct {
	// Namespace is one of the namespaces the server runs Jobs in.
	Namespace    string            `json:"namespace,omitempty"`
	NodeSelector map[string]string `json:"node_selector,omitempty"`
	// Tolerations are written as kubectl taint writes taints: KEY=VALUE:EFFECT, KEY:EFFECT,
	// KEY=VALUE or KEY.
	Tolerations    []string `json:"tolerations,omitempty"`
	ServiceAccount string   `json:"service_account,omitempty"`
	PriorityClass  string   `json:"priority_class,omitempty"`
}

// Definition is a stored job definition: the current revision's spec plus the state Docket
// keeps about the job.
type Definition struct {
	Spec
	// Revision counts the spec's versions, starting at 1; a run records the one it used.
	Revision int `json:"revision"`
	// Suspended jobs keep their schedule but record each slot as skipped.
	Suspended bool      `json:"suspended"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// ScheduledThrough is the scheduler's cursor: every slot at or before it has been turned
	// into a run (queued or skipped).
	ScheduledThrough time.Time `json:"scheduled_through"`
	// NextDue is when the scheduler next looks at the job: its next slot after the
	// cursor, or a time already past when that is still to be worked out (a new or
	// changed schedule). Nil for a job without a schedule.
	NextDue *time.Time `json:"-"`
}

// Location returns the definition's time zone. The zone is validated when the definition is
// applied, so an unknown zone here falls back to UTC.
func (s Spec) Location() *time.Location {
	if s.Timezone == "" {
		return time.UTC
	}
	if loc, ok := locations.Load(s.Timezone); ok {
		return loc.(*time.Location)
	}
	loc, err := time.LoadLocation(s.Timezone)
	if err != nil {
		return time.UTC
	}
	locations.Store(s.Timezone, loc)
	return loc
}

// locations keeps the zones Location loaded, by name: time.LoadLocation reads the zone's
// file each time. There are only so many zones, so it needs no bound.
var locations sync.Map
