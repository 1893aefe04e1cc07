package sqlstore_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
	"docket.dev/docket/internal/store/postgres/pgtest"
	"docket.dev/docket/internal/store/sqlite"
)

// BenchmarkRunLife measures the store's share of a run's cost: one op is a run submitted
// (its own transaction, as an API submission is), claimed in a batch of 8 (the process
// executor's default room), and recorded pending, running and succeeded, each change its
// own transaction. One goroutine makes every call, so ns/op is about the CPU the store
// spends on a run, without the executor's processes or the scheduler's noise that
// BenchmarkProcessThroughput has.
func BenchmarkRunLife(b *testing.B) {
	onStores(b, "", benchmarkRunLife)
}

// onStores runs bench as the sub-benchmarks sqlite+name (a new database file) and
// postgres+name (a schema of its own on DOCKET_TEST_POSTGRES's server).
func onStores(b *testing.B, name string, bench func(b *testing.B, st store.Store)) {
	b.Run("sqlite"+name, func(b *testing.B) {
		st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "docket.db"))
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		bench(b, st)
	})
	b.Run("postgres"+name, func(b *testing.B) {
		bench(b, pgtest.Open(b))
	})
}

func benchmarkRunLife(b *testing.B, st store.Store) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	spec := job.Spec{Name: "life", Image: "busybox", Command: []string{"true"}, CPU: "1", Memory: "1Gi", Timezone: "UTC", Concurrency: job.ConcurrencyAllow}
	if _, _, err := st.DefinitionPut(ctx, spec, t0); err != nil {
		b.Fatal(err)
	}
	const batch = 8
	b.ResetTimer()
	for done := 0; done < b.N; done += batch {
		n := min(batch, b.N-done)
		for range n {
			r := job.Run{ID: job.NewRunID(t0), Job: "life", Revision: 1, State: job.StateQueued, Trigger: job.TriggerAPI,
				Attempt: 1, NotBefore: t0, CreatedAt: t0, Reason: "Submitted"}
			if _, _, err := st.RunCreateGroup(ctx, r, nil, []job.Event{{RunID: r.ID, Time: t0, State: job.StateQueued, Reason: "Submitted"}}); err != nil {
				b.Fatal(err)
			}
		}
		claimed, err := st.RunClaim(ctx, "bench", t0.Add(time.Minute), batch)
		if err != nil || len(claimed) != n {
			b.Fatalf("claimed %d runs, err %v; want %d", len(claimed), err, n)
		}
		for _, r := range claimed {
			for _, t := range []job.Transition{
				{RunID: r.ID, From: job.StateDispatched, To: job.StatePending, Time: t0, Reason: "Accepted", Message: "the process executor took the run"},
				{RunID: r.ID, From: job.StatePending, To: job.StateRunning, Time: t0, Reason: "Started", Message: "pid 1"},
				{RunID: r.ID, From: job.StateRunning, To: job.StateSucceeded, Time: t0, Reason: "Completed", Message: "exit code 0"},
			} {
				if _, err := st.RunTransition(ctx, t); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
}
