// Package container is the executor that runs each run in a container through the Docker
// Engine API, which Docker and Podman both serve (found by Connect). It pulls the
// image when the engine lacks it, sets the definition's cpu and memory as limits, passes
// the env contract, enforces the deadline (stop, then kill), keeps stdout and stderr in the
// run's log, and removes the container when the run ends.
package container

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"docket.dev/docket/internal/execute"
	"docket.dev/docket/internal/job"
)

// Labels Docket puts on every container it creates.
const (
	LabelRun     = "docket.dev/run"
	LabelJob     = "docket.dev/job"
	LabelAttempt = "docket.dev/attempt"
)

// Options configures an Executor.
type Options struct {
	// Engine is the Docker Engine API client; see Connect.
	Engine   *client.Client
	Reporter execute.Reporter
	Logs     execute.LogOpener
	Logger   *slog.Logger
	// KillGrace is how long a container has between the stop signal and SIGKILL.
	KillGrace time.Duration
	// Network is the network mode of every container ("" for the engine's default,
	// "none", "host", "bridge" or a network name).
	Network string
	// Orphaned says whether a Docket container's run is nobody's any more (finished, or
	// its server is dead); Reap removes those containers. Nil: none is.
	Orphaned func(ctx context.Context, runID string) bool
	// ReapInterval is how often Run looks for orphaned containers (default 30s).
	ReapInterval time.Duration
	// LogSettle is how long the log stream may take to end after the container has
	// (default 2s). Podman sometimes leaves a follow stream open after a quick exit; the
	// rest of the output is then read from the engine's stored log.
	LogSettle time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Released, if set, is called each time the executor lets go of a run, so it has
	// room for another.
	Released func()
	// Blobs, when set, is where a run's input files are read from, to be copied into its
	// container before it starts.
	Blobs execute.BlobReader
}

// Executor runs jobs in containers.
type Executor struct {
	opts   Options
	engine *client.Client
	rec    execute.Updater
	now    func() time.Time
	runs   execute.Set
}

// New returns an Executor.
func New(opts Options) *Executor {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.KillGrace <= 0 {
		opts.KillGrace = 10 * time.Second
	}
	if opts.ReapInterval <= 0 {
		opts.ReapInterval = 30 * time.Second
	}
	if opts.LogSettle <= 0 {
		opts.LogSettle = 2 * time.Second
	}
	return &Executor{
		opts:   opts,
		engine: opts.Engine,
		now:    opts.Now,
		rec:    execute.Updater{Reporter: opts.Reporter, Logger: opts.Logger, Now: opts.Now},
		runs:   execute.Set{Released: opts.Released},
	}
}

// Running returns how many runs the executor holds.
func (e *Executor) Running() int { return e.runs.Len() }

// Run removes orphaned containers every ReapInterval until ctx ends, then stops every
// container it holds (each run is recorded as interrupted) and waits for their records to
// be written.
func (e *Executor) Run(ctx context.Context) error {
	t := time.NewTicker(e.opts.ReapInterval)
	defer t.Stop()
	for ctx.Err() == nil {
		select {
		case <-t.C:
			if _, err := e.Reap(ctx); err != nil && ctx.Err() == nil {
				e.opts.Logger.Warn("remove orphaned containers", "err", err)
			}
		case <-ctx.Done():
		}
	}
	e.runs.Shutdown(execute.Interrupted)
	return nil
}

// Cancel stops a run's container; the run is recorded as cancelled by by. It returns
// job.ErrNotFound when this executor holds no container for the run.
func (e *Executor) Cancel(_ context.Context, runID, by string) error {
	return e.runs.Cancel(runID, by)
}

// Name is the container's name for a run: deterministic, so a container left behind by a
// crash is found again.
func Name(runID string) string { return "docket-" + runID }

// Start records the run as pending and runs it in the background: pull, create, start,
// wait, remove. It returns an error only when the run could not be marked as starting.
func (e *Executor) Start(ctx context.Context, x job.Execution) error {
	id := x.Run.ID
	h, err := e.runs.Add(id)
	if err != nil {
		return err
	}
	// Pending is recorded before the container exists: after a crash, a pending run is
	// known to have maybe started and is never started again under the same attempt.
	if err := e.rec.Report(ctx, job.Update{RunID: id, State: job.StatePending, Reason: job.ReasonStarting, Message: "starting a container from image " + x.Image, Notes: x.Notes}); err != nil {
		e.runs.Release(id)
		return fmt.Errorf("mark run %s pending: %w", id, err)
	}
	go func() {
		defer e.runs.Release(id)
		// Engine calls outlive a shutdown of the caller: the container must be stopped
		// and removed, and the record written, whatever happens to ctx.
		bg := context.WithoutCancel(ctx)
		e.rec.Final(bg, e.run(bg, h, x))
	}()
	return nil
}

// run takes a run from pull to removal and returns its final update. The deadline counts
// from the start of the pull, as a Kubernetes Job's activeDeadlineSeconds does.
func (e *Executor) run(ctx context.Context, h *execute.Handle, x job.Execution) job.Update {
	id := x.Run.ID
	deadline := time.NewTimer(x.Deadline)
	defer deadline.Stop()

	// The pull is abandoned on a stop or the deadline.
	pullCtx, cancelPull := context.WithCancel(ctx)
	defer cancelPull()
	pulled := make(chan error, 1)
	go func() { pulled <- e.ensureImage(pullCtx, id, x.Image) }()
	var why execute.Stop
	select {
	case err := <-pulled:
		if err != nil {
			return job.Update{RunID: id, State: job.StateFailed, Reason: job.ReasonImagePullFailed, Message: fmt.Sprintf("could not pull image %s: %v", x.Image, err)}
		}
	case <-deadline.C:
		why = execute.Deadline(x.Deadline)
	case why = <-h.Stopped():
	}
	if why.State != "" {
		cancelPull()
		<-pulled
		return stopped(id, why)
	}

	cfg, host, err := containerConfig(x, e.opts.Network)
	if err != nil {
		return job.Update{RunID: id, State: job.StateFailed, Reason: job.ReasonStartFailed, Message: err.Error()}
	}
	created, err := e.engine.ContainerCreate(ctx, client.ContainerCreateOptions{Name: Name(id), Config: cfg, HostConfig: host})
	if err != nil {
		return job.Update{RunID: id, State: job.StateFailed, Reason: job.ReasonStartFailed, Message: fmt.Sprintf("could not create the container: %v", err)}
	}
	cid := created.ID
	defer e.remove(ctx, id, cid)
	for _, w := range created.Warnings {
		e.rec.Notice(ctx, id, "EngineWarning", w)
	}
	if len(x.Inputs) > 0 {
		if f, err := e.copyInputs(ctx, cid, x.Inputs); err != nil {
			return execute.InputsUnavailable(id, f, err)
		}
	}

	if _, err := e.engine.ContainerStart(ctx, cid, client.ContainerStartOptions{}); err != nil {
		return execute.CouldNotStart(x, err.Error())
	}
	e.rec.Report(ctx, job.Update{RunID: id, State: job.StateRunning, Reason: job.ReasonStarted,
		Message: fmt.Sprintf("container %s (%.12s) started with a %s deadline", Name(id), cid, job.Duration(x.Deadline))})

	// Once started, the container is running or has exited already; waiting for
	// not-running covers both, with no window for a missed exit.
	waited := e.engine.ContainerWait(ctx, cid, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	logs := e.follow(ctx, id, cid)
	defer logs.finish(ctx)
	select {
	case res := <-waited.Result:
		logs.finish(ctx)
		return e.exited(ctx, id, cid, res.StatusCode, x.Memory)
	case err := <-waited.Error:
		return job.Update{RunID: id, State: job.StateFailed, Reason: job.ReasonWaitFailed, Message: fmt.Sprintf("lost track of the container: %v", err)}
	case <-deadline.C:
		why = execute.Deadline(x.Deadline)
	case why = <-h.Stopped():
	}
	e.stop(ctx, id, cid, waited)
	logs.finish(ctx)
	return stopped(id, why)
}

// stopped is the final update of a run stopped by Docket.
func stopped(id string, why execute.Stop) job.Update {
	return job.Update{RunID: id, State: why.State, Reason: why.Reason, Message: why.Message}
}

// stop stops a container: the stop signal, then SIGKILL after the grace.
func (e *Executor) stop(ctx context.Context, runID, cid string, waited client.ContainerWaitResult) {
	grace := int(e.opts.KillGrace.Round(time.Second) / time.Second)
	if _, err := e.engine.ContainerStop(ctx, cid, client.ContainerStopOptions{Timeout: &grace}); err != nil && !cerrdefs.IsNotFound(err) {
		e.opts.Logger.Warn("stop container", "run_id", runID, "err", err)
		e.engine.ContainerKill(ctx, cid, client.ContainerKillOptions{Signal: "KILL"})
	}
	select {
	case <-waited.Result:
	case <-waited.Error:
	case <-time.After(e.opts.KillGrace + 10*time.Second):
		e.opts.Logger.Warn("container did not stop", "run_id", runID)
	}
}

// exited turns a container's exit into the run's final update.
func (e *Executor) exited(ctx context.Context, id, cid string, code int64, memory string) job.Update {
	oomKilled := false
	if info, err := e.engine.ContainerInspect(ctx, cid, client.ContainerInspectOptions{}); err == nil && info.Container.State != nil {
		oomKilled = info.Container.State.OOMKilled
	}
	return execute.Exited(id, int(code), oomKilled, memory)
}

// remove deletes a run's container; its output is in the run's log by now.
func (e *Executor) remove(ctx context.Context, runID, cid string) {
	if _, err := e.engine.ContainerRemove(ctx, cid, client.ContainerRemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
		e.opts.Logger.Warn("remove container", "run_id", runID, "err", err)
	}
}

// ensureImage pulls image unless the engine has it, recording the pull on the run.
func (e *Executor) ensureImage(ctx context.Context, runID, image string) error {
	_, err := e.engine.ImageInspect(ctx, image)
	if err == nil {
		return nil
	}
	if !cerrdefs.IsNotFound(err) {
		return err
	}
	e.rec.Notice(ctx, runID, "Pulling", "pulling image "+image)
	start := e.now()
	resp, err := e.engine.ImagePull(ctx, image, client.ImagePullOptions{})
	if err != nil {
		return err
	}
	defer resp.Close()
	if err := resp.Wait(ctx); err != nil {
		return err
	}
	e.rec.Notice(ctx, runID, "Pulled", fmt.Sprintf("pulled image %s in %s", image, e.now().Sub(start).Round(time.Millisecond)))
	return nil
}

// Reap removes the Docket containers of runs that Options.Orphaned says nobody runs any
// more (left behind by a crashed server, or by a run recovered after its server died);
// the runs this executor holds, and containers of other stores' runs, are left alone. It
// returns how many it removed.
func (e *Executor) Reap(ctx context.Context) (int, error) {
	if e.opts.Orphaned == nil {
		return 0, nil
	}
	list, err := e.engine.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: client.Filters{}.Add("label", LabelRun)})
	if err != nil {
		return 0, fmt.Errorf("list docket containers: %w", err)
	}
	n := 0
	for _, c := range list.Items {
		runID := c.Labels[LabelRun]
		if runID == "" || e.runs.Holds(runID) || !e.opts.Orphaned(ctx, runID) {
			continue
		}
		if _, err := e.engine.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
			return n, fmt.Errorf("remove container of run %s: %w", runID, err)
		}
		e.opts.Logger.Warn("removed a container left by an earlier server", "run_id", runID, "container", c.ID)
		n++
	}
	return n, nil
}
