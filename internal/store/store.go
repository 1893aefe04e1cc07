// Package store is the one seam between Docket and its database, composed of named parts:
// job definitions and their revisions, the runs table that is Docket's queue, the events
// that record each run's life, the runs' logs and reports, and what the servers sharing a
// database keep about themselves. Package sqlstore implements it once on database/sql,
// with a dialect for SQLite (the embedded default) and one for PostgreSQL; both pass the
// conformance suite (package storetest). The implementation translates driver errors into
// job.ErrNotFound and job.ErrConflict; nothing above the store imports a driver.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"docket.dev/docket/internal/job"
)

// Store is everything Docket keeps, composed of its named parts. Methods are named
// Noun+Verb so they sort together. All times passed in are UTC; the store never reads the
// clock. Consumers declare the parts (or the few methods) they use, not the whole Store.
type Store interface {
	Definitions
	Queue
	Queues
	Events
	Logs
	Reports
	Results
	Blobs
	Cluster
	// Close releases the database.
	Close() error
}

// Definitions are the job definitions and every revision of each.
type Definitions interface {
	// DefinitionPut creates a job or, when the spec differs from the current revision's,
	// stores a new revision. It returns the stored definition and whether anything changed.
	// A new job, or a changed schedule or timezone, sets ScheduledThrough to now so past
	// slots of the new schedule are not fired. Re-creating a deleted job continues its
	// revision count.
	DefinitionPut(ctx context.Context, spec job.Spec, now time.Time) (job.Definition, bool, error)
	// DefinitionGet returns the current revision of a job that is not deleted.
	DefinitionGet(ctx context.Context, name string) (job.Definition, error)
	// DefinitionRevision returns one revision of a job's spec, even of a deleted job.
	DefinitionRevision(ctx context.Context, name string, revision int) (job.Definition, error)
	// DefinitionList returns every job that is not deleted, by name.
	DefinitionList(ctx context.Context) ([]job.Definition, error)
	// DefinitionDue returns up to limit jobs that are not deleted and whose NextDue is at
	// or before now, in the order they came due (then by name), after the job named after
	// that came due at afterDue ("" starts at the first): what a scheduler pass reads,
	// without reading the jobs that are not due.
	DefinitionDue(ctx context.Context, now, afterDue time.Time, after string, limit int) ([]job.Definition, error)
	// DefinitionPage returns the jobs that are not deleted, by name, after f.Cursor, whose
	// name holds f.Name, at most f.Limit of them (all when 0), with the cursor of the next
	// page ("" at the end).
	DefinitionPage(ctx context.Context, f DefinitionFilter) ([]job.Definition, string, error)
	// DefinitionDelete marks a job deleted; its revisions and runs are kept. A job that
	// another live job runs after (after:) is job.ErrConflict, naming those.
	DefinitionDelete(ctx context.Context, name string, now time.Time) error
	// DefinitionSuspend sets or clears a job's suspended flag.
	DefinitionSuspend(ctx context.Context, name string, suspended bool, now time.Time) (job.Definition, error)
}

// DefinitionAt returns a job's definition at revision (a deleted job's too), or as it is
// now when revision is 0: the team of a run's own revision decides who may act on it.
func DefinitionAt(ctx context.Context, d Definitions, name string, revision int) (job.Definition, error) {
	if revision > 0 {
		return d.DefinitionRevision(ctx, name, revision)
	}
	return d.DefinitionGet(ctx, name)
}

// ResumePlan decides the new group run that resumes old, from old's children (every
// attempt); an error stores nothing and is returned as it is.
type ResumePlan func(old job.Run, children []job.Run) (parent job.Run, runs []job.Run, events []job.Event, err error)

// Queue is the runs table: how runs are made, claimed, moved from state to state, read
// and, once old, deleted.
type Queue interface {
	// SlotsRecord stores, in one transaction, what a scheduler pass decided for each of
	// jobs: the runs of its due slots (queued or skipped, each with its first event), the
	// move of its cursor from From to Through, and its next due time. A job whose cursor
	// is no longer From (another scheduler got there first, or the definition changed)
	// is left out; a run for a slot that already has one is not inserted again. It
	// returns the names of the jobs it recorded, or job.ErrConflict, storing nothing,
	// when fence names a lease term that has ended (a deposed leader).
	SlotsRecord(ctx context.Context, fence Fence, jobs []Slots) (recorded []string, err error)
	// RunUnfinished returns the runs of the named jobs that are queued or active, oldest
	// first, by job name.
	RunUnfinished(ctx context.Context, jobs []string) (map[string][]job.Run, error)

	// RunCreate stores a new run with its first event. When the run carries an idempotency
	// key that the job already used, it stores nothing and returns the earlier run with
	// created=false.
	RunCreate(ctx context.Context, run job.Run, ev job.Event) (stored job.Run, created bool, err error)
	// RunCreateGroup stores a new group run (a workflow or an array) with its children,
	// and every one's first event, in one transaction; the idempotency key is the group
	// run's, as in RunCreate. A run (or child) created waiting for other runs (WaitsFor)
	// is queued or skipped in the same transaction when those have ended already; later,
	// the transaction that ends the last of them does it (RunTransition).
	RunCreateGroup(ctx context.Context, run job.Run, children []job.Run, events []job.Event) (stored job.Run, created bool, err error)
	// RunGet returns one run.
	RunGet(ctx context.Context, id string) (job.Run, error)
	// RunAttempts returns run id and every attempt that retried it after, in order: one
	// job of the AWS Batch face, whose id is its first attempt's.
	RunAttempts(ctx context.Context, id string) ([]job.Run, error)
	// RunTask returns the first attempt of task index of array run parent.
	RunTask(ctx context.Context, parent string, index int) (job.Run, error)
	// RunList returns runs newest first, filtered, with a cursor for the next page ("" at
	// the end).
	RunList(ctx context.Context, f RunFilter) ([]job.Run, string, error)
	// RunLatest, RunRecent and RunEnds read a job's own runs: a workflow's or an
	// array's run, not its children.
	// RunLatest returns the newest run of every job that is not deleted, by job name, among
	// the runs in one of states (any state when none is given); jobs without such a run are
	// absent.
	RunLatest(ctx context.Context, states ...job.State) (map[string]job.Run, error)
	// RunRecent returns the newest n runs of each of jobs, newest first, by job name; jobs
	// without runs are absent.
	RunRecent(ctx context.Context, jobs []string, n int) (map[string][]job.Run, error)
	// RunSeries returns a job's runs that are no group's child (group runs among them),
	// newest first, each with the metrics it reported: the points of the job's charts. It
	// reads at most f.Limit runs (capped at MaxLimit), through an index, however many runs
	// the job has had.
	RunSeries(ctx context.Context, f SeriesFilter) ([]RunPoint, error)
	// RunEnds returns, for every job that is not deleted and has a finished run, when its
	// newest finished run ended and how, and when its newest successful run ended: what
	// RunLatest tells of the runs' ends, without reading whole runs.
	RunEnds(ctx context.Context) (map[string]JobEnds, error)
	// RunCount returns how many runs are in each of states.
	RunCount(ctx context.Context, states ...job.State) (map[job.State]int, error)
	// RunClaim moves up to limit queued runs whose NotBefore has come to dispatched, by
	// their queue's priority, then their own, then oldest first, marking them as claimed by
	// claimer. An exclusive run is not claimed while another run of its job is active, and
	// at most one exclusive run per job is claimed; a suspended job's runs are not claimed
	// until it is resumed. A named queue's runs are claimed only
	// while it has fewer than MaxRunning active and its start rate allows, counted with
	// every claimer sharing the store.
	RunClaim(ctx context.Context, claimer string, now time.Time, limit int) ([]job.Run, error)
	// RunTransition applies a guarded state change and records its events (its own, then
	// t.Notes); t.Then, if set, is created in the same transaction. A change of a group's
	// child applies the group rules in the same transaction (package group): the group
	// starts with its first child, and a child's end for good releases or skips what waits
	// for it and ends the group with its last child.
	// A run's end for good (no retry) also queues or skips, as group.ReleaseWaiter
	// decides, the runs waiting for it (WaitsFor), and what their skips end in turn. It returns the run as
	// the change left it, job.ErrConflict when the run is no longer in t.From (with t.From
	// empty: in no state that may move to t.To), and job.ErrNotFound when there is no such
	// run.
	RunTransition(ctx context.Context, t job.Transition) (job.Run, error)
	// RunTransitions applies transitions of different runs, each as RunTransition does, in
	// one transaction, and returns the runs as they left them, in order: all of them
	// apply, or, when one cannot, none, with that one's error.
	RunTransitions(ctx context.Context, ts []job.Transition) ([]job.Run, error)
	// RunRequestCancel records who asked to cancel an active run. It returns the run as
	// stored; the caller then asks the executor to stop it.
	RunRequestCancel(ctx context.Context, id, by string) (job.Run, error)
	// RunCancelGroup asks a group run and its children to stop: queued children are
	// cancelled and waiting ones skipped at once (except those that run always), active
	// ones get a cancel request, and the group ends once all its children have. It
	// returns job.ErrConflict for a run that ended or is no group run.
	RunCancelGroup(ctx context.Context, id, by string, now time.Time) (job.Run, error)
	// RunResume makes a new group run that takes up the ended group run id again
	// (docket retry): plan, given id's run and all its children's attempts, returns the
	// new group run, its children and their first events (group.Resume), which are stored
	// with the reports of the children carried over (ReusedFrom), in one transaction. It
	// returns job.ErrConflict for a run that is no group run, has not ended, or that a
	// resume still running takes up already; job.ErrNotFound when there is no such run.
	RunResume(ctx context.Context, id string, plan ResumePlan) (job.Run, error)
	// GroupReconcile settles every group run that has not ended from its children as
	// they stand (counts, releases, its end), as each child's end would have; it returns
	// how many group runs it changed; then it settles every run waiting for other runs
	// (WaitsFor) the same way, counting those too. A safety net: ends settle their groups
	// and release their waiters as they happen.
	GroupReconcile(ctx context.Context, now time.Time) (int, error)
	// TriggerReconcile fires what the ends of upstream runs in the last week should have
	// fired and did not (see Spec.After): each end is recorded, and fires, in the transaction
	// that makes it, so this is a safety net servers run when they start leading. It
	// returns how many runs it started.
	TriggerReconcile(ctx context.Context, now time.Time) (int, error)
	// RunCancelRequested returns the active runs claimed by claimer that have a cancel
	// request: the runs that server is to stop.
	RunCancelRequested(ctx context.Context, claimer string) ([]job.Run, error)
	// RunReclaim hands an active run (pending or running) from a server that is gone to
	// another, which follows the run's work on from where it is (a Kubernetes Job outlives
	// its server), and records ev. It returns job.ErrConflict, changing nothing, when the
	// run is no longer active or claimed by from (another server took it first).
	RunReclaim(ctx context.Context, id, from, to string, ev job.Event) (job.Run, error)
	// RunPrune deletes, with their events, logs and reports, up to limit runs that
	// finished before `before`, oldest first, but never the newest keep finished runs of a
	// job, however old. A workflow or array run goes whole with its children, which count
	// toward neither keep nor limit. It returns how many runs it deleted, children
	// included; fewer than limit means nothing more is due.
	RunPrune(ctx context.Context, before time.Time, keep, limit int) (int, error)
}

// Queues are the named admission rules runs are claimed under (package job's Queue).
type Queues interface {
	// QueuePut creates a queue or changes it, and reports whether anything changed. A new
	// priority reorders the queue's runs still to be claimed at once; new limits hold
	// from the next claim, and a lower one never stops active runs.
	QueuePut(ctx context.Context, q job.Queue, now time.Time) (job.Queue, bool, error)
	// QueueGet returns one queue, or job.ErrNotFound.
	QueueGet(ctx context.Context, name string) (job.Queue, error)
	// QueueList returns every queue by name.
	QueueList(ctx context.Context) ([]job.Queue, error)
	// QueueDelete deletes a queue; job.ErrConflict, naming them, while live definitions
	// name it.
	QueueDelete(ctx context.Context, name string) error
	// QueueStats counts the active and queued runs of each queue that has any, the
	// default queue's under job.DefaultQueue; of the named queues only, when names are
	// given.
	QueueStats(ctx context.Context, names ...string) (map[string]job.QueueStats, error)
	// QueueTokens returns how many starts the queue's rate allows at now.
	QueueTokens(ctx context.Context, name string, now time.Time) (float64, error)
}

// Events are what happened to each run, in order.
type Events interface {
	// EventAppend records an event that does not change the run's state; its State is the
	// run's state when it is recorded.
	EventAppend(ctx context.Context, ev job.Event) error
	// EventList returns a run's events, oldest first.
	EventList(ctx context.Context, runID string) ([]job.Event, error)
}

// Logs are the runs' output.
type Logs interface {
	// LogAppend adds output to the end of a run's log.
	LogAppend(ctx context.Context, runID string, data []byte) error
	// LogSize returns how many bytes of a run's log are stored.
	LogSize(ctx context.Context, runID string) (int64, error)
	// LogRead returns up to limit bytes of a run's log starting at offset.
	LogRead(ctx context.Context, runID string, offset int64, limit int) ([]byte, error)
	// LogPrune deletes the logs of up to limit runs that finished before `before`, taking
	// runs in the order they finished from just after cursor ("" starts at the oldest).
	// Each run that had a log gets ev as an event (with the run's id and state). It
	// returns the cursor to continue from and how many runs it took; fewer than limit
	// means it reached `before`.
	LogPrune(ctx context.Context, cursor string, before time.Time, limit int, ev job.Event) (string, int, error)
}

// Reports are what runs say about themselves while they run.
type Reports interface {
	// ReportPut merges a run's report into what it reported before (job.Report.Merge) and
	// returns the merged report. It returns job.ErrNotFound when there is no such run and
	// job.ErrConflict when the run is not active: only a running job reports.
	ReportPut(ctx context.Context, r job.Report) (job.Report, error)
	// ReportGet returns what a run reported; a run that reported nothing has an empty
	// report. It returns job.ErrNotFound when there is no such run.
	ReportGet(ctx context.Context, runID string) (job.Report, error)
	// ReportLatest returns, for every job that is not deleted, the report with metrics
	// of its run that reported last, by job name.
	ReportLatest(ctx context.Context) (map[string]job.Report, error)
	// ReportStepResults returns the results the steps of a workflow run reported, by
	// step: of each step's run that succeeded (one carried over by a resume included).
	// A step that reported no result is not in it.
	ReportStepResults(ctx context.Context, parent string) (map[string]json.RawMessage, error)
}

// Results are what an array's tasks came to, read in index order for docket results and
// the web UI.
type Results interface {
	// TaskResults returns up to limit tasks of the array run parent whose index is more
	// than after (-1 starts at the first), in index order: each task's newest attempt with
	// the result it reported.
	TaskResults(ctx context.Context, parent string, after, limit int) ([]TaskResult, error)
	// GroupStates counts the children of a group run in each state they are in, each
	// attempt counted (a retried task's failed attempt too).
	GroupStates(ctx context.Context, parent string) (map[job.State]int, error)
}

// TaskResult is one task of an array as docket results shows it: its newest attempt and
// the result that attempt reported (nil: none).
type TaskResult struct {
	Run    job.Run
	Result json.RawMessage
}

// Blobs are content-addressed files, kept in chunks (never whole in memory), and the
// files each run has: inputs placed before it starts, outputs it reported.
type Blobs interface {
	// BlobStat returns how a blob stands; job.ErrNotFound when it is unknown.
	BlobStat(ctx context.Context, sha256 string) (Blob, error)
	// BlobBegin records that up's owner is sending a blob of size, unless it is known, and
	// returns it as it stands. A complete blob of another size is job.ErrConflict. One not
	// complete is its owner's: the owner resumes it, or begins it again at another size
	// (what it received dropped); anyone else gets ErrBlobBusy (with the blob as it
	// stands), until nothing has arrived for BlobIdle and it is begun again as theirs. A
	// blob begun (or begun again) that would make its owner hold more than up.MaxHeld
	// bytes of blobs no run names is ErrBlobHeld, and nothing changes.
	BlobBegin(ctx context.Context, up Upload, size int64, now time.Time) (Blob, error)
	// BlobAppend stores data as the blob's bytes from offset, which must be what it has
	// received from up's owner (job.ErrConflict otherwise, storing nothing), and returns
	// what it has received now.
	BlobAppend(ctx context.Context, up Upload, offset int64, data []byte, now time.Time) (int64, error)
	// BlobSeal marks a blob whose bytes were checked complete; BlobDiscard drops what up's
	// owner sent of a blob not complete, so its upload starts again.
	BlobSeal(ctx context.Context, sha256 string) error
	BlobDiscard(ctx context.Context, up Upload) error
	// BlobRead returns the stored chunk of a blob that starts at offset (the first at 0,
	// the next at offset plus its length); empty past the end.
	BlobRead(ctx context.Context, sha256 string, offset int64) ([]byte, error)
	// BlobPrune deletes up to limit blobs that no run's file refers to, begun before
	// before (an upload in progress is left alone), and returns how many it deleted.
	BlobPrune(ctx context.Context, before time.Time, limit int) (int, error)
	// RunFilesPut records files of kind (input or output) of runs (by run id), in one
	// transaction; a path recorded before is replaced.
	RunFilesPut(ctx context.Context, kind string, files map[string][]job.File, now time.Time) error
	// RunFiles returns a run's files of kind, by path.
	RunFiles(ctx context.Context, runID, kind string) ([]job.File, error)
	// RunFilesOf returns the files of kind of each of runs that has any, by run id (a
	// page of an array's tasks).
	RunFilesOf(ctx context.Context, kind string, runs []string) (map[string][]job.File, error)
}

// Blob is how a blob stands: its size, the bytes stored so far, and whether they were
// checked against its name.
type Blob struct {
	SHA256   string `json:"sha256"`
	Size     int64  `json:"size"`
	Received int64  `json:"received"`
	Complete bool   `json:"complete"`
}

// Upload names a blob being sent and who sends it: the name of the request's token ("" on
// a server without tokens, where every sender is one).
type Upload struct {
	SHA256 string
	Owner  string
	// MaxHeld caps the bytes of blobs no run's file names that Owner may hold, this one
	// and those in progress included (0: no cap).
	MaxHeld int64
}

// BlobIdle is how long a blob being sent stays its sender's with no byte arriving; then
// another sender may begin it again as theirs.
const BlobIdle = 10 * time.Minute

// ErrBlobBusy is a blob another sender is sending (a job.ErrConflict).
var ErrBlobBusy = fmt.Errorf("%w: another client is sending this blob", job.ErrConflict)

// ErrBlobHeld is a blob its sender may not begin: they hold too much that no run names
// (Upload.MaxHeld). The error's text after it says how much.
var ErrBlobHeld = errors.New("sender holds too many bytes no run names")

// The kinds of a run's files.
const (
	FileInput  = "input"
	FileOutput = "output"
)

// Cluster is what the servers sharing a store keep in it about themselves: who is alive,
// who leads what, and the settings they share.
type Cluster interface {
	// InstanceBeat records that the server instance id is alive at now.
	InstanceBeat(ctx context.Context, id string, now time.Time) error
	// InstanceList returns every instance that has beaten, with its last beat.
	InstanceList(ctx context.Context) ([]Instance, error)
	// InstanceForget removes an instance's record (a dead one, once its runs are recovered).
	InstanceForget(ctx context.Context, id string) error

	// LeaseAcquire takes the named lease for holder until now+ttl when it is free, expired
	// or already holder's (a renewal), and returns the lease as it stands: held by holder
	// on success, by another otherwise. The token grows by one with each new holder.
	LeaseAcquire(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (Lease, error)
	// LeaseRelease gives the lease up if holder holds it.
	LeaseRelease(ctx context.Context, name, holder string) error

	// SettingInit stores value under name unless a value is stored there already, and
	// returns the stored value: the first server to ask decides for all. It keeps shared
	// keys (the run token key) and marks that something was done once (an alert sent).
	SettingInit(ctx context.Context, name, value string) (string, error)
}

// Slots is what a scheduler pass decided for one job (see Queue.SlotsRecord).
type Slots struct {
	Job string
	// From is the cursor the pass read; Through is where it moves it.
	From, Through time.Time
	// Next is when the job is next due; nil: never.
	Next   *time.Time
	Runs   []job.Run
	Events []job.Event
}

// JobEnds is when a job's runs last ended. Newest is by run id, as in RunLatest.
type JobEnds struct {
	// Finished is when the job's newest finished run (succeeded, failed or cancelled)
	// ended, and State how.
	Finished time.Time
	State    job.State
	// Succeeded is when its newest successful run ended; zero when none has.
	Succeeded time.Time
}

// Instance is a server sharing the database, with its last heartbeat.
type Instance struct {
	ID     string
	BeatAt time.Time
}

// Lease is who holds a named lease, with which fencing token, until when.
type Lease struct {
	Name      string
	Holder    string
	Token     int64
	ExpiresAt time.Time
}

// Fence names the lease term a leader-only write is made under: the write is refused once
// the lease has another holder or token. The zero Fence fences nothing.
type Fence struct {
	Lease  string
	Holder string
	Token  int64
}

// RunFilter selects runs for RunList. Zero values select everything.
type RunFilter struct {
	Job    string
	States []job.State
	// Parent selects the children of a group run (every attempt of each).
	Parent string
	// TopLevel selects the runs that are no group's children: a workflow is one run.
	TopLevel bool
	// Queue, when set, selects the runs admitted through that queue (job.DefaultQueue:
	// the default queue's).
	Queue *string
	// Limit caps the page size; 0 means DefaultLimit.
	Limit int
	// Cursor continues a previous page.
	Cursor string
}

// SeriesFilter selects a job's runs for RunSeries.
type SeriesFilter struct {
	Job string
	// Since and Until bound when the runs were made, [Since, Until); zero is no bound.
	Since, Until time.Time
	// Limit caps how many runs are read; 0 means DefaultLimit.
	Limit int
}

// RunPoint is a run with the metrics it reported (none when it reported none).
type RunPoint struct {
	Run     job.Run
	Metrics map[string]float64
}

// DefinitionFilter selects jobs for DefinitionPage. Zero values select everything.
type DefinitionFilter struct {
	// Name selects the jobs whose name holds it.
	Name string
	// Limit caps the page size; 0 is no cap.
	Limit int
	// Cursor continues a previous page.
	Cursor string
}

// DefaultLimit is the page size of RunList when the filter sets none.
const DefaultLimit = 50

// MaxLimit caps the page size of RunList.
const MaxLimit = 1000
