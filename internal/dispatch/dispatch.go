// Package dispatch is the stage between the queue and the executors: it claims queued runs
// from the runs table in a transaction, resolves each into a job.Execution (the revision's
// spec, the rendered command, the env contract, the deadline) and hands it to the executor.
// It owns the executor, so cancelling a run goes through it. At start-up it recovers runs
// that a crash left between claim and completion.
package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"docket.dev/docket/internal/definition"
	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
)

// Executor runs executions. Start returns once the run has started (or could not start) and
// reports what happens next through the recorder; Running says how many runs are live.
type Executor interface {
	Start(ctx context.Context, x job.Execution) error
	Cancel(ctx context.Context, runID, by string) error
	Running() int
}

// Adopter is an executor whose runs' work outlives the server that started it (a
// Kubernetes Job): a server that recovers such a run follows it on instead of failing it.
type Adopter interface {
	// Adopt follows a run on from where it is, logged bytes of its output being kept
	// already. It returns false when the run left nothing to follow.
	Adopt(ctx context.Context, x job.Execution, logged int64) (bool, error)
}

// Sweeper is an executor whose runs' processes may outlive a server that dies: Sweep kills
// what is left of a run, so the retry of a recovered run never runs beside it.
type Sweeper interface {
	Sweep(ctx context.Context, runID string) error
}

// Reporter records updates about runs (the recorder).
type Reporter interface {
	Report(ctx context.Context, u job.Update) error
}

// Store is what the dispatcher needs of the store.
type Store interface {
	RunClaim(ctx context.Context, claimer string, now time.Time, limit int) ([]job.Run, error)
	RunGet(ctx context.Context, id string) (job.Run, error)
	RunList(ctx context.Context, f store.RunFilter) ([]job.Run, string, error)
	RunTransition(ctx context.Context, t job.Transition) (job.Run, error)
	RunRequestCancel(ctx context.Context, id, by string) (job.Run, error)
	RunCancelGroup(ctx context.Context, id, by string, now time.Time) (job.Run, error)
	RunCancelRequested(ctx context.Context, claimer string) ([]job.Run, error)
	RunReclaim(ctx context.Context, id, from, to string, ev job.Event) (job.Run, error)
	LogSize(ctx context.Context, runID string) (int64, error)
	DefinitionRevision(ctx context.Context, name string, revision int) (job.Definition, error)
	ReportStepResults(ctx context.Context, parent string) (map[string]json.RawMessage, error)
	RunFiles(ctx context.Context, runID, kind string) ([]job.File, error)
}

// Options configures a Dispatcher.
type Options struct {
	Store    Store
	Executor Executor
	Reporter Reporter
	Logger   *slog.Logger
	// Claimer names this server in the runs it claims.
	Claimer string
	// Parallelism caps how many runs the executor holds at once.
	Parallelism int
	// Interval is how often the dispatcher polls the queue when nothing wakes it.
	Interval time.Duration
	// DefaultDeadline applies when a revision has none (definitions stored before a
	// default existed).
	DefaultDeadline time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Failed, if set, is told the reason of each claimed run that did not start:
	// StartFailed (failed at once) or NotStarted (back in the queue).
	Failed func(reason job.Reason)
	// RunEnv, if set, gives variables each run gets besides the env contract: where and
	// with which token it reports (DOCKET_API, DOCKET_TOKEN).
	RunEnv func(runID string) map[string]string
	// Wake, if set, is rung by whatever queues runs (the scheduler, the API, the
	// recorder's retries); default a Wake of the dispatcher's own.
	Wake Wake
}

// Wake is a dispatcher's doorbell: a channel of capacity one, so rings while the
// dispatcher is busy make one more pass, not many.
type Wake chan struct{}

// NewWake returns a Wake.
func NewWake() Wake { return make(Wake, 1) }

// Ring asks the dispatcher to look at the queue now. It never blocks.
func (w Wake) Ring() {
	select {
	case w <- struct{}{}:
	default:
	}
}

// Dispatcher moves runs from the queue to the executor.
type Dispatcher struct {
	opts      Options
	now       func() time.Time
	revisions *revisions
}

// New returns a Dispatcher.
func New(opts Options) *Dispatcher {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Failed == nil {
		opts.Failed = func(job.Reason) {}
	}
	if opts.Wake == nil {
		opts.Wake = NewWake()
	}
	return &Dispatcher{opts: opts, now: opts.Now, revisions: newRevisions()}
}

// Wake asks the dispatcher to look at the queue now. It never blocks.
func (d *Dispatcher) Wake() { d.opts.Wake.Ring() }

// Run claims and starts runs until ctx ends. Call Recover first.
func (d *Dispatcher) Run(ctx context.Context) error {
	t := time.NewTicker(d.opts.Interval)
	defer t.Stop()
	for {
		if err := d.Pass(ctx); err != nil && ctx.Err() == nil {
			d.opts.Logger.Error("dispatch pass", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-d.opts.Wake:
		}
	}
}

// maxStarting caps how many claimed runs a dispatcher hands to its executor at once.
const maxStarting = 16

// Pass stops the runs it holds that someone asked to cancel, then claims as many queued
// runs as the executor has room for and starts them.
func (d *Dispatcher) Pass(ctx context.Context) error {
	if err := d.stopRequested(ctx); err != nil {
		return err
	}
	for ctx.Err() == nil {
		free := d.opts.Parallelism - d.opts.Executor.Running()
		if free <= 0 {
			return nil
		}
		runs, err := d.opts.Store.RunClaim(ctx, d.opts.Claimer, d.now().UTC(), free)
		if err != nil {
			return fmt.Errorf("claim runs: %w", err)
		}
		if len(runs) == 0 {
			return nil
		}
		// Runs start side by side: an executor's start waits on the store and on the
		// process, container or API call it makes, and those of different runs overlap.
		var (
			wg       sync.WaitGroup
			requeued atomic.Bool
			starts   = make(chan struct{}, maxStarting)
		)
		for _, r := range runs {
			starts <- struct{}{}
			wg.Go(func() {
				defer func() { <-starts }()
				if !d.start(ctx, r) {
					requeued.Store(true)
				}
			})
		}
		wg.Wait()
		// A cancel requested between the claim and the start found nothing to stop; look
		// again now that the executor holds the runs: one read for the whole batch.
		if err := d.stopRequested(ctx); err != nil {
			return err
		}
		if requeued.Load() {
			// The executor is refusing runs; try again at the next tick, not at once.
			return nil
		}
	}
	return nil
}

// start hands one claimed run to the executor. A run that cannot be resolved is failed
// with the reason; one the executor does not take goes back to the queue (start returns
// false). Pass passes on a cancel that arrived while it was starting.
func (d *Dispatcher) start(ctx context.Context, r job.Run) bool {
	log := d.opts.Logger.With("run_id", r.ID, "job", r.Job)
	x, err := d.resolve(ctx, r)
	if err != nil {
		log.Warn("run not started", "err", err)
		d.opts.Failed(job.ReasonStartFailed)
		d.report(ctx, job.Update{RunID: r.ID, State: job.StateFailed, Reason: job.ReasonStartFailed, Message: err.Error()})
		return true
	}
	if err := d.opts.Executor.Start(ctx, x); err != nil {
		// The executor did not take the run (it is shutting down, or could not record
		// the start): nothing ran, so the run goes back to the queue.
		log.Warn("run not started; back to the queue", "err", err)
		d.opts.Failed(job.ReasonNotStarted)
		d.requeue(ctx, r, err)
		return false
	}
	return true
}

// requeue puts a claimed run that did not start back in the queue, retrying for a minute
// while the store fails (it may be why the start failed).
func (d *Dispatcher) requeue(ctx context.Context, r job.Run, why error) {
	ctx = context.WithoutCancel(ctx)
	wait, giveUp := 100*time.Millisecond, time.Now().Add(time.Minute)
	for {
		_, err := d.opts.Store.RunTransition(ctx, job.Transition{
			RunID: r.ID, From: job.StateDispatched, To: job.StateQueued, Time: d.now().UTC(),
			Reason: job.ReasonNotStarted, Message: "not started, back in the queue: " + why.Error(),
		})
		if err == nil || errors.Is(err, job.ErrConflict) || time.Now().After(giveUp) {
			if err != nil {
				d.opts.Logger.Error("requeue a run that did not start", "run_id", r.ID, "err", err)
			}
			return
		}
		time.Sleep(wait)
		wait = min(2*wait, 5*time.Second)
	}
}

// report passes an update to the recorder, stamping the time; failures are logged, since
// the caller has nobody to return them to.
func (d *Dispatcher) report(ctx context.Context, u job.Update) {
	u.Time = d.now().UTC()
	if err := d.opts.Reporter.Report(ctx, u); err != nil {
		d.opts.Logger.Error("report update", "run_id", u.RunID, "state", u.State, "err", err)
	}
}

// Execution resolves run r into the execution the dispatcher hands an executor when it
// starts r: its command, its env (with where and with which token it reports), its
// inputs. A pod of an array's Indexed Job learns its task's command and env so.
func (d *Dispatcher) Execution(ctx context.Context, r job.Run) (job.Execution, error) {
	return d.resolve(ctx, r)
}

// resolve builds the execution for a run from the revision it recorded.
func (d *Dispatcher) resolve(ctx context.Context, r job.Run) (job.Execution, error) {
	def, err := d.revisions.get(ctx, d.opts.Store, r.Job, r.Revision)
	if err != nil {
		return job.Execution{}, fmt.Errorf("load revision %d of job %s: %w", r.Revision, r.Job, err)
	}
	var results map[string]json.RawMessage
	if r.Step != "" && len(r.Needs) > 0 {
		// A step's command may read the results of the steps before it.
		if results, err = d.opts.Store.ReportStepResults(ctx, r.Parent); err != nil {
			return job.Execution{}, fmt.Errorf("read the results of the steps before step %s: %w", r.Step, err)
		}
	}
	x, err := Resolve(def, r, results, d.opts.DefaultDeadline)
	if err != nil {
		return x, err
	}
	if r.TaskIndex != nil && r.Parent != "" {
		parent, err := d.opts.Store.RunGet(ctx, r.Parent)
		if err != nil {
			return job.Execution{}, fmt.Errorf("load array run %s: %w", r.Parent, err)
		}
		var env map[string]string
		if d.opts.RunEnv != nil {
			env = d.opts.RunEnv(parent.ID)
		}
		SetArray(&x, parent, env)
	}
	if r.NoInputs {
		x.Inputs = []job.File{} // the claim found none to read
	} else if x.Inputs, err = store.InputsOf(ctx, d.opts.Store, r); err != nil {
		return job.Execution{}, fmt.Errorf("list input files: %w", err)
	}
	if d.opts.RunEnv != nil {
		maps.Copy(x.Env, d.opts.RunEnv(r.ID))
	}
	return x, nil
}

// SetArray gives a task of an array what it knows of its array run: the size
// (DOCKET_TASK_COUNT), and for the executor the array's limits and env (what its pods ask
// the server with: DOCKET_API, the array's DOCKET_TOKEN).
func SetArray(x *job.Execution, array job.Run, env map[string]string) {
	if array.Group == nil {
		return
	}
	x.Env["DOCKET_TASK_COUNT"] = fmt.Sprint(array.Group.Size)
	x.Array = &job.TaskArray{RunID: array.ID, Size: array.Group.Size, Parallelism: array.Group.Parallelism,
		MaxFailed: array.Group.MaxFailed, Env: env}
}

// Resolve turns a run of def into the execution an executor runs: the command with its
// templates rendered, the env contract (DOCKET_RUN_ID, DOCKET_JOB, DOCKET_SCHEDULED_TIME,
// DOCKET_ATTEMPT, DOCKET_PARAM_NAME for each param; a task's DOCKET_TASK_INDEX and
// DOCKET_TASK_INPUT, the dispatcher adding DOCKET_TASK_COUNT) under the definition's env
// and the run's overrides, and the deadline. A workflow's step gets its own fields over the
// job's, and results are the results of the steps before it, by step, for its command's
// templates.
func Resolve(def job.Definition, r job.Run, results map[string]json.RawMessage, defaultDeadline time.Duration) (job.Execution, error) {
	loc := def.Location()
	slot := r.CreatedAt
	if r.ScheduledTime != nil {
		slot = *r.ScheduledTime
	}
	slot = slot.In(loc)
	spec := r.Overrides.Apply(def.ForStep(r.Step)) // a workflow's step runs its own fields over the job's, a submission's over both
	command, err := definition.RenderCommand(spec.Command, definition.TemplateData{
		RunID:         r.ID,
		Job:           r.Job,
		Attempt:       r.Attempt,
		ScheduledTime: slot.Format(time.RFC3339),
		ScheduledDate: slot.Format(time.DateOnly),
		ScheduledUnix: slot.Unix(),
		Steps:         results,
		Params:        r.Params,
	})
	if err != nil {
		return job.Execution{}, fmt.Errorf("render command: %w", err)
	}
	var notes []job.Note
	if r.Step != "" {
		for _, gap := range definition.ResultGaps(spec.Command, results) {
			notes = append(notes, job.Note{Reason: job.ReasonResultMissing, Message: gap})
		}
	}
	env := map[string]string{}
	for k, v := range spec.Env {
		env[k] = v
	}
	for k, v := range r.Env {
		env[k] = v
	}
	for k, v := range r.Params {
		env[definition.ParamEnv(k)] = v
	}
	env["DOCKET_RUN_ID"] = r.ID
	env["DOCKET_JOB"] = r.Job
	env["DOCKET_SCHEDULED_TIME"] = slot.Format(time.RFC3339)
	env["DOCKET_ATTEMPT"] = fmt.Sprint(r.Attempt)
	if r.Parent != "" {
		env["DOCKET_PARENT_RUN_ID"] = r.Parent
	}
	if r.Step != "" {
		env["DOCKET_STEP"] = r.Step
	}
	if r.TaskIndex != nil {
		env["DOCKET_TASK_INDEX"] = fmt.Sprint(*r.TaskIndex)
		env["DOCKET_TASK_INPUT"] = r.Input
	}
	// A job submitted through the AWS Batch face (it carries AWS_BATCH_JOB_ID) also gets
	// the variables AWS Batch gives each attempt.
	if id, ok := r.Env["AWS_BATCH_JOB_ID"]; ok {
		env["AWS_BATCH_JOB_ATTEMPT"] = fmt.Sprint(r.Attempt)
		if r.TaskIndex != nil {
			// A child is PARENT:INDEX, its array run's id (a resumed array's own, not
			// the one whose env it keeps).
			if r.Parent != "" {
				id = r.Parent
			}
			env["AWS_BATCH_JOB_ARRAY_INDEX"] = fmt.Sprint(*r.TaskIndex)
			env["AWS_BATCH_JOB_ID"] = fmt.Sprintf("%s:%d", id, *r.TaskIndex)
		}
	}
	deadline := time.Duration(spec.Deadline)
	if deadline <= 0 {
		deadline = defaultDeadline
	}
	return job.Execution{
		Run:         r,
		Image:       spec.Image,
		Command:     command,
		Env:         env,
		CPU:         spec.CPU,
		Memory:      spec.Memory,
		GPU:         spec.GPU,
		Deadline:    deadline,
		Labels:      spec.Labels,
		Annotations: spec.Annotations,
		Kubernetes:  spec.Kubernetes,
		Retries:     spec.Retries,
		Notes:       notes,
	}, nil
}
