// Package storetest is the conformance suite every store backend passes: the contract of
// store.Store written as tests, run against a real database.
package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
)

// Open returns a new, empty store for one test; the suite closes it.
type Open func(t *testing.T) store.Store

// Run runs the whole suite against stores made by open.
func Run(t *testing.T, open Open) {
	tests := map[string]func(*testing.T, store.Store){
		"DefinitionRevisions":     testDefinitionRevisions,
		"DefinitionDelete":        testDefinitionDelete,
		"DefinitionSuspend":       testDefinitionSuspend,
		"DefinitionCursor":        testDefinitionCursor,
		"DefinitionDue":           testDefinitionDue,
		"GroupWorkflow":           testGroupWorkflow,
		"GroupRetry":              testGroupRetry,
		"GroupArray":              testGroupArray,
		"GroupCancel":             testGroupCancel,
		"GroupExclusive":          testGroupExclusive,
		"GroupConcurrentEnds":     testGroupConcurrentEnds,
		"GroupResume":             testGroupResume,
		"ResumeGoneQueue":         testResumeGoneQueue,
		"GroupResumeFiles":        testGroupResumeFiles,
		"Triggers":                testTriggers,
		"TriggersConcurrent":      testTriggersConcurrent,
		"TriggerCycle":            testTriggerCycle,
		"TaskResults":             testTaskResults,
		"Blobs":                   testBlobs,
		"BlobOwners":              testBlobOwners,
		"BlobHeld":                testBlobHeld,
		"BlobSenders":             testBlobSenders,
		"GroupExclusiveLater":     testGroupExclusiveLater,
		"GroupBatchesCross":       testGroupBatchesCross,
		"GroupEndsCross":          testGroupEndsCross,
		"GroupClaimCancelCross":   testGroupClaimCancelCross,
		"GroupCancelledStep":      testGroupCancelledStep,
		"TriggerBatchesCross":     testTriggerBatchesCross,
		"SlotsCrossFirings":       testSlotsCrossFirings,
		"TriggerUpstreamDelete":   testTriggerUpstreamDelete,
		"SlotsRecordBatch":        testSlotsRecordBatch,
		"SlotsRecord":             testSlotsRecord,
		"SlotsRecordConcurrent":   testSlotsRecordConcurrent,
		"SlotsRecordFenced":       testSlotsRecordFenced,
		"RunCreateIdempotency":    testRunCreateIdempotency,
		"RunList":                 testRunList,
		"RunLatest":               testRunLatest,
		"RunRecent":               testRunRecent,
		"RunSeries":               testRunSeries,
		"DefinitionPage":          testDefinitionPage,
		"RunEnds":                 testRunEnds,
		"RunClaim":                testRunClaim,
		"RunClaimExclusive":       testRunClaimExclusive,
		"RunClaimNoInputs":        testRunClaimNoInputs,
		"RunClaimConcurrent":      testRunClaimConcurrent,
		"RunClaimExclusiveRace":   testRunClaimExclusiveConcurrent,
		"RunTransition":           testRunTransition,
		"RunTransitionThenAtomic": testRunTransitionThenAtomic,
		"RunTransitionBefore":     testRunTransitionBefore,
		"RunTransitions":          testRunTransitions,
		"RunRequestCancel":        testRunRequestCancel,
		"Events":                  testEvents,
		"Logs":                    testLogs,
		"Instances":               testInstances,
		"Leases":                  testLeases,
		"RunPrune":                testRunPrune,
		"RunPruneGroups":          testRunPruneGroups,
		"LogPrune":                testLogPrune,
		"Reports":                 testReports,
		"Settings":                testSettings,
		"RunReclaim":              testRunReclaim,
		"LogSize":                 testLogSize,
		"RunAttempts":             testRunAttempts,
		"RunWaits":                testRunWaits,
		"Queues":                  testQueues,
		"QueueMaxRunning":         testQueueMaxRunning,
		"QueuePriority":           testQueuePriority,
		"QueueRate":               testQueueRate,
		"QueueSuspended":          testQueueSuspended,
		"QueueDisabled":           testQueueDisabled,
	}
	for name, fn := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			t.Cleanup(func() { s.Close() })
			fn(t, s)
		})
	}
}

// t0 is the suite's fixed clock.
var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

func spec(name string) job.Spec {
	return job.Spec{
		Name: name, Image: "python:3.12", Command: []string{"true"}, CPU: "1", Memory: "1Gi",
		Schedule: "@every 1m", Timezone: "UTC", Concurrency: job.ConcurrencyAllow, Catchup: job.CatchupAll,
		Deadline: job.Duration(time.Hour), Env: map[string]string{"A": "1"},
	}
}

func put(t *testing.T, s store.Store, sp job.Spec, now time.Time) job.Definition {
	t.Helper()
	d, _, err := s.DefinitionPut(context.Background(), sp, now)
	if err != nil {
		t.Fatalf("DefinitionPut %s: %v", sp.Name, err)
	}
	return d
}

// seq makes run ids that sort in creation order within one test.
type seq struct{ n int }

func (q *seq) run(jobName string, state job.State) job.Run {
	q.n++
	created := t0.Add(time.Duration(q.n) * time.Millisecond)
	return job.Run{
		ID: job.NewRunID(created), Job: jobName, Revision: 1, State: state, Trigger: job.TriggerAPI,
		Attempt: 1, NotBefore: created, CreatedAt: created, Reason: job.ReasonSubmitted, Message: "queued on request",
	}
}

func create(t *testing.T, s store.Store, r job.Run) job.Run {
	t.Helper()
	got, created, err := s.RunCreate(context.Background(), r, firstEvent(r))
	if err != nil || !created {
		t.Fatalf("RunCreate %s: created %v, err %v", r.ID, created, err)
	}
	return got
}

func firstEvent(r job.Run) job.Event {
	return job.Event{RunID: r.ID, Time: r.CreatedAt, State: r.State, Reason: r.Reason, Message: r.Message}
}

func mustGet(t *testing.T, s store.Store, id string) job.Run {
	t.Helper()
	r, err := s.RunGet(context.Background(), id)
	if err != nil {
		t.Fatalf("RunGet %s: %v", id, err)
	}
	return r
}

// recordSlots records one job's slots, as a scheduler pass does for each due job; a job
// SlotsRecord left out (its cursor moved) is a job.ErrConflict here.
func recordSlots(s store.Store, fence store.Fence, name string, from, through time.Time, runs []job.Run, events []job.Event) error {
	next := through.Add(time.Minute)
	recorded, err := s.SlotsRecord(context.Background(), fence, []store.Slots{{Job: name, From: from, Through: through, Next: &next, Runs: runs, Events: events}})
	if err == nil && len(recorded) != 1 {
		return fmt.Errorf("%w: job %s was not recorded", job.ErrConflict, name)
	}
	return err
}
