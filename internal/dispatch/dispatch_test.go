package dispatch

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/record"
	"docket.dev/docket/internal/store"
	"docket.dev/docket/internal/store/sqlite"
)

var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// executor holds started executions without running anything.
type executor struct {
	mu        sync.Mutex
	started   []job.Execution
	cancelled []string
	fail      error
}

func (e *executor) Start(_ context.Context, x job.Execution) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.fail != nil {
		return e.fail
	}
	e.started = append(e.started, x)
	return nil
}
func (e *executor) Cancel(_ context.Context, id, by string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cancelled = append(e.cancelled, id+" by "+by)
	return nil
}
func (e *executor) Running() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.started)
}

func setup(t *testing.T, parallelism int) (*Dispatcher, store.Store, *executor) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "docket.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	spec := job.Spec{
		Name: "train", Image: "python:3.12", CPU: "2", Memory: "4Gi", Timezone: "America/New_York",
		Command: []string{"train", "--date={{ .ScheduledDate }}", "--run={{ .RunID }}"},
		Env:     map[string]string{"MODE": "full", "KEEP": "yes"},
	}
	if _, _, err := st.DefinitionPut(context.Background(), spec, t0); err != nil {
		t.Fatal(err)
	}
	ex := &executor{}
	log := slog.New(slog.DiscardHandler)
	d := New(Options{
		Store: st, Executor: ex, Reporter: record.New(record.Options{Store: st, Logger: log}), Logger: log,
		Claimer: "test", Parallelism: parallelism, Interval: time.Second, DefaultDeadline: time.Hour,
		Now: func() time.Time { return t0 },
	})
	return d, st, ex
}

func submit(t *testing.T, st store.Store, r job.Run) job.Run {
	t.Helper()
	if r.ID == "" {
		r.ID = job.NewRunID(t0)
	}
	r.Job, r.Revision, r.State, r.Attempt, r.NotBefore, r.CreatedAt = "train", 1, job.StateQueued, 1, t0, t0
	if r.Trigger == "" {
		r.Trigger = job.TriggerAPI
	}
	if _, _, err := st.RunCreate(context.Background(), r, job.Event{RunID: r.ID, Time: t0, State: job.StateQueued}); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestResolve(t *testing.T) {
	t.Parallel()
	d, st, ex := setup(t, 4)
	slot := time.Date(2026, 3, 8, 8, 30, 0, 0, time.UTC) // 04:30 EDT, the morning of the spring-forward day
	r := submit(t, st, job.Run{Trigger: job.TriggerSchedule, ScheduledTime: &slot, Env: map[string]string{"MODE": "quick"}})
	if err := d.Pass(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(ex.started) != 1 {
		t.Fatalf("%d started, want 1", len(ex.started))
	}
	x := ex.started[0]
	wantCmd := []string{"train", "--date=2026-03-08", "--run=" + r.ID}
	wantEnv := map[string]string{
		"MODE": "quick", "KEEP": "yes", "DOCKET_RUN_ID": r.ID, "DOCKET_JOB": "train",
		"DOCKET_SCHEDULED_TIME": "2026-03-08T04:30:00-04:00", "DOCKET_ATTEMPT": "1",
	}
	if diff := cmp.Diff(wantCmd, x.Command); diff != "" {
		t.Errorf("command (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantEnv, x.Env); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}
	if x.Deadline != time.Hour || x.CPU != "2" || x.Memory != "4Gi" || x.Image != "python:3.12" {
		t.Errorf("execution %+v", x)
	}
}

func TestPassRespectsParallelism(t *testing.T) {
	t.Parallel()
	d, st, ex := setup(t, 2)
	for range 5 {
		submit(t, st, job.Run{})
	}
	if err := d.Pass(context.Background()); err != nil {
		t.Fatal(err)
	}
	queued, _, _ := st.RunList(context.Background(), store.RunFilter{States: []job.State{job.StateQueued}})
	if len(ex.started) != 2 || len(queued) != 3 {
		t.Errorf("started %d, queued %d; want 2 and 3", len(ex.started), len(queued))
	}
}

func TestStartFailure(t *testing.T) {
	t.Parallel()
	d, st, ex := setup(t, 2)
	ex.fail = errors.New("no room")
	r := submit(t, st, job.Run{})
	if err := d.Pass(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Nothing ran: the run is back in the queue, and the pass did not spin on it.
	got, _ := st.RunGet(context.Background(), r.ID)
	if got.State != job.StateQueued || got.Reason != "NotStarted" || got.Message != "not started, back in the queue: no room" {
		t.Errorf("run %s %s %q; want queued NotStarted", got.State, got.Reason, got.Message)
	}
	events, _ := st.EventList(context.Background(), r.ID)
	if n := len(states(events)); n != 3 {
		t.Errorf("events %v; want queued, dispatched, queued", states(events))
	}
}

// TestStoredBeforeSubstitutionsOnly dispatches a run of a definition stored before command
// templates were limited to substitutions: it fails at once saying what to do, without
// running its loop, and the run queued beside it starts in the same pass.
func TestStoredBeforeSubstitutionsOnly(t *testing.T) {
	t.Parallel()
	d, st, ex := setup(t, 2)
	ctx := context.Background()
	legacy := job.Spec{Name: "legacy", Image: "busybox", CPU: "1", Memory: "1Gi",
		Command: []string{"echo", "{{ range 3 }}x{{ end }}"}}
	if _, _, err := st.DefinitionPut(ctx, legacy, t0); err != nil {
		t.Fatal(err)
	}
	old := job.Run{ID: job.NewRunID(t0), Job: "legacy", Revision: 1, State: job.StateQueued, Attempt: 1,
		NotBefore: t0, CreatedAt: t0, Trigger: job.TriggerAPI}
	if _, _, err := st.RunCreate(ctx, old, job.Event{RunID: old.ID, Time: t0, State: job.StateQueued}); err != nil {
		t.Fatal(err)
	}
	other := submit(t, st, job.Run{ID: job.NewRunID(t0.Add(time.Second))})
	if err := d.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ := st.RunGet(ctx, old.ID)
	want := `render command: command[1]: "{{ range 3 }}" is not a substitution`
	if got.State != job.StateFailed || got.Reason != "StartFailed" || !strings.HasPrefix(got.Message, want) ||
		!strings.HasSuffix(got.Message, "apply the job again with substitutions only") {
		t.Errorf("run of the stored definition: %s %s %q; want failed StartFailed %q...", got.State, got.Reason, got.Message, want)
	}
	if len(ex.started) != 1 || ex.started[0].Run.ID != other.ID {
		t.Errorf("started %v; want only %s", ex.started, other.ID)
	}
}

func states(events []job.Event) []job.State {
	var out []job.State
	for _, ev := range events {
		out = append(out, ev.State)
	}
	return out
}

func TestRecover(t *testing.T) {
	t.Parallel()
	d, st, _ := setup(t, 2)
	ctx := context.Background()
	claimed := submit(t, st, job.Run{})
	if _, err := st.RunClaim(ctx, "old", t0, 1); err != nil {
		t.Fatal(err)
	}
	started := submit(t, st, job.Run{ID: job.NewRunID(t0.Add(time.Second))})
	for _, step := range [][2]job.State{{job.StateQueued, job.StateDispatched}, {job.StateDispatched, job.StatePending}, {job.StatePending, job.StateRunning}} {
		if _, err := st.RunTransition(ctx, job.Transition{RunID: started.ID, From: step[0], To: step[1], Time: t0}); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Recover(ctx, func(claimer string) bool { return claimer != "test" }); err != nil {
		t.Fatal(err)
	}
	a, _ := st.RunGet(ctx, claimed.ID)
	b, _ := st.RunGet(ctx, started.ID)
	if a.State != job.StateQueued || a.Reason != "Requeued" || a.ClaimedBy != "" {
		t.Errorf("claimed run after recovery: %s %s claimed by %q; want queued, Requeued", a.State, a.Reason, a.ClaimedBy)
	}
	if b.State != job.StateFailed || b.Reason != "Interrupted" {
		t.Errorf("running run after recovery: %s %s; want failed, Interrupted", b.State, b.Reason)
	}
}

// sweeper is an executor whose runs' processes may outlive their server; it notes the
// state each run it sweeps is in when swept.
type sweeper struct {
	executor
	st    store.Store
	swept map[string]job.State
	fail  error
}

func (s *sweeper) Sweep(ctx context.Context, runID string) error {
	r, err := s.st.RunGet(ctx, runID)
	if err != nil {
		return err
	}
	s.swept[runID] = r.State
	return s.fail
}

// TestRecoverSweeps recovers a running and a cancelled run whose server died: what is
// left of each is swept while the run is still active, before it is failed and retried;
// a sweep that fails stops the recovery, and the run stays as it was.
func TestRecoverSweeps(t *testing.T) {
	t.Parallel()
	d, st, _ := setup(t, 2)
	ctx := context.Background()
	sw := &sweeper{st: st, swept: map[string]job.State{}}
	d.opts.Executor = sw
	var runs []job.Run
	for i := range 2 {
		r := submit(t, st, job.Run{ID: job.NewRunID(t0.Add(time.Duration(i) * time.Second))})
		for _, step := range [][2]job.State{{job.StateQueued, job.StateDispatched}, {job.StateDispatched, job.StatePending}, {job.StatePending, job.StateRunning}} {
			if _, err := st.RunTransition(ctx, job.Transition{RunID: r.ID, From: step[0], To: step[1], Time: t0, ClaimedBy: "old"}); err != nil {
				t.Fatal(err)
			}
		}
		runs = append(runs, r)
	}
	if _, err := st.RunRequestCancel(ctx, runs[1].ID, "ana"); err != nil {
		t.Fatal(err)
	}
	dead := func(claimer string) bool { return claimer == "old" }

	sw.fail = errors.New("EPERM")
	if err := d.Recover(ctx, dead); err == nil || !strings.Contains(err.Error(), "EPERM") {
		t.Errorf("Recover with a failing sweep: %v", err)
	}
	if r, _ := st.RunGet(ctx, runs[0].ID); r.State != job.StateRunning {
		t.Errorf("a run whose sweep failed is %s; want it left running for the next recovery", r.State)
	}
	sw.fail = nil
	if err := d.Recover(ctx, dead); err != nil {
		t.Fatal(err)
	}
	for i, want := range []job.Reason{job.ReasonInterrupted, job.ReasonCancelled} {
		r, _ := st.RunGet(ctx, runs[i].ID)
		if sw.swept[r.ID] != job.StateRunning || r.Reason != want {
			t.Errorf("run %d: swept while %q, then %s %s; want swept while running, then %s", i, sw.swept[r.ID], r.State, r.Reason, want)
		}
	}
}

// adopter is an executor whose runs' work outlives its server; it follows on the runs
// whose ids it has work for.
type adopter struct {
	executor
	work    map[string]bool
	adopted map[string]int64
}

func (a *adopter) Adopt(_ context.Context, x job.Execution, logged int64) (bool, error) {
	if !a.work[x.Run.ID] {
		return false, nil
	}
	a.adopted[x.Run.ID] = logged
	return true, nil
}

// TestRecoverAdopts recovers running runs with an executor that can follow them on: a run
// whose work goes on is claimed and followed, with the size of its kept log; one with
// nothing to follow is interrupted.
func TestRecoverAdopts(t *testing.T) {
	t.Parallel()
	d, st, _ := setup(t, 2)
	ctx := context.Background()
	var running []job.Run
	for i := range 2 {
		r := submit(t, st, job.Run{ID: job.NewRunID(t0.Add(time.Duration(i) * time.Second))})
		for _, step := range [][2]job.State{{job.StateQueued, job.StateDispatched}, {job.StateDispatched, job.StatePending}, {job.StatePending, job.StateRunning}} {
			if _, err := st.RunTransition(ctx, job.Transition{RunID: r.ID, From: step[0], To: step[1], Time: t0, ClaimedBy: "old"}); err != nil {
				t.Fatal(err)
			}
		}
		running = append(running, r)
	}
	if err := st.LogAppend(ctx, running[0].ID, []byte("epoch 1\n")); err != nil {
		t.Fatal(err)
	}
	a := &adopter{work: map[string]bool{running[0].ID: true}, adopted: map[string]int64{}}
	d.opts.Executor = a
	if err := d.Recover(ctx, func(claimer string) bool { return claimer != "test" }); err != nil {
		t.Fatal(err)
	}
	followed, _ := st.RunGet(ctx, running[0].ID)
	if followed.State != job.StateRunning || followed.ClaimedBy != "test" || a.adopted[followed.ID] != int64(len("epoch 1\n")) {
		t.Errorf("the run with work: %s claimed by %q, adopted with %v", followed.State, followed.ClaimedBy, a.adopted)
	}
	if evs, _ := st.EventList(ctx, followed.ID); evs[len(evs)-1].Reason != "Adopted" {
		t.Errorf("the followed run's last event: %+v", evs[len(evs)-1])
	}
	lost, _ := st.RunGet(ctx, running[1].ID)
	if lost.State != job.StateFailed || lost.Reason != "Interrupted" {
		t.Errorf("the run without work: %s %s; want failed Interrupted", lost.State, lost.Reason)
	}
}

// TestLiveness recovers the runs of a server whose heartbeat stopped and leaves those of a
// live one, as replicas sharing a database do.
func TestLiveness(t *testing.T) {
	t.Parallel()
	d, st, _ := setup(t, 2)
	ctx := context.Background()
	ttl := 9 * time.Second
	for id, at := range map[string]time.Time{"live": t0.Add(-2 * time.Second), "stale": t0.Add(-ttl - time.Second)} {
		if err := st.InstanceBeat(ctx, id, at); err != nil {
			t.Fatal(err)
		}
	}
	mine := submit(t, st, job.Run{ID: job.NewRunID(t0)})
	if _, err := st.RunClaim(ctx, "live", t0, 1); err != nil {
		t.Fatal(err)
	}
	theirs := submit(t, st, job.Run{ID: job.NewRunID(t0.Add(time.Second))})
	if _, err := st.RunClaim(ctx, "stale", t0, 1); err != nil {
		t.Fatal(err)
	}
	l := &Liveness{Peers: &Peers{Store: st, Self: "test", TTL: ttl, Now: func() time.Time { return t0 }}, Dispatcher: d}
	if err := l.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if r, _ := st.RunGet(ctx, mine.ID); r.State != job.StateDispatched || r.ClaimedBy != "live" {
		t.Errorf("the live server's run: %s by %q; want dispatched by live", r.State, r.ClaimedBy)
	}
	if r, _ := st.RunGet(ctx, theirs.ID); r.State != job.StateQueued || r.Reason != "Requeued" {
		t.Errorf("the stale server's run: %s %s; want queued, Requeued", r.State, r.Reason)
	}
	instances, _ := st.InstanceList(ctx)
	var ids []string
	for _, in := range instances {
		ids = append(ids, in.ID)
	}
	if diff := cmp.Diff([]string{"live", "test"}, ids); diff != "" {
		t.Errorf("instances after recovery; the stale one is forgotten (-want +got):\n%s", diff)
	}
}
