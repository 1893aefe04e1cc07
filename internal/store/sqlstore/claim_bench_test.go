package sqlstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
	"docket.dev/docket/internal/store/sqlstore"
)

// BenchmarkClaim measures one claim of 8 runs (the process executor's default room) from
// a queue of 100 and of 100,000 runs, on both stores: a claim reads and locks what it
// takes, so its cost does not grow with the queue. The runs claimed are marked succeeded
// between claims, outside the timing.
func BenchmarkClaim(b *testing.B) {
	for _, queued := range []int{100, 100_000} {
		onStores(b, fmt.Sprintf("/queued=%d", queued), func(b *testing.B, st store.Store) {
			benchmarkClaim(b, st, queued, 0, 8)
		})
	}
}

// BenchmarkClaimQueues is BenchmarkClaim with the runs spread over 50 named queues, each
// with a max_running and a start rate (neither reached), and priorities, beside the
// default queue alone (queues=0): what the limit checks cost, for claims of 8 runs and
// of 64.
func BenchmarkClaimQueues(b *testing.B) {
	for _, take := range []int{8, 64} {
		for _, queues := range []int{0, 50} {
			onStores(b, fmt.Sprintf("/queued=100000/take=%d/queues=%d", take, queues), func(b *testing.B, st store.Store) {
				benchmarkClaim(b, st, 100_000, queues, take)
			})
		}
	}
}

func benchmarkClaim(b *testing.B, st store.Store, queued, queues, take int) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	spec := job.Spec{Name: "q", Image: "busybox", Command: []string{"true"}, CPU: "1", Memory: "1Gi", Timezone: "UTC"}
	if _, _, err := st.DefinitionPut(ctx, spec, t0); err != nil {
		b.Fatal(err)
	}
	for i := range queues {
		q := job.Queue{Name: fmt.Sprintf("q%d", i), MaxRunning: 1_000_000, MaxStartsPerSecond: 10_000, Priority: i % 3}
		if _, _, err := st.QueuePut(ctx, q, t0); err != nil {
			b.Fatal(err)
		}
	}
	next := 0
	// The queue stays at its size: each claim's runs are replaced by as many new ones.
	add := func(n int) {
		runs := make([]job.Run, n)
		events := make([]job.Event, n)
		for i := range runs {
			runs[i] = job.Run{ID: job.NewRunID(t0), Job: "q", Revision: 1, State: job.StateQueued, Trigger: job.TriggerAPI,
				Attempt: 1, NotBefore: t0, CreatedAt: t0, Reason: "Submitted"}
			if queues > 0 {
				runs[i].Queue, next = fmt.Sprintf("q%d", next%queues), next+1
			}
			events[i] = job.Event{RunID: runs[i].ID, Time: t0, State: job.StateQueued, Reason: "Submitted"}
		}
		d, err := st.DefinitionGet(ctx, "q")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := st.SlotsRecord(ctx, store.Fence{}, []store.Slots{{Job: "q", From: d.ScheduledThrough, Through: d.ScheduledThrough, Runs: runs, Events: events}}); err != nil {
			b.Fatal(err)
		}
	}
	for left := queued; left > 0; left -= 5000 {
		add(min(left, 5000))
	}
	// As the database's own statistics would be a minute later (PostgreSQL's autovacuum
	// analyzes a table that grew this much): a plan made for an empty table reads it all.
	if _, err := st.(*sqlstore.Store).DB().ExecContext(ctx, `ANALYZE`); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		claimed, err := st.RunClaim(ctx, "bench", t0.Add(time.Minute), take)
		if err != nil || len(claimed) != take {
			b.Fatalf("claimed %d runs, err %v; want %d", len(claimed), err, take)
		}
		b.StopTimer()
		for _, r := range claimed {
			if _, err := st.RunTransition(ctx, job.Transition{RunID: r.ID, From: job.StateDispatched, To: job.StateSucceeded, Time: t0, Reason: "Completed"}); err != nil {
				b.Fatal(err)
			}
		}
		add(len(claimed))
		b.StartTimer()
	}
}
