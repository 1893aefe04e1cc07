package sqlstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"docket.dev/docket/internal/group"
	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
)

// BenchmarkResumeArray measures docket retry --failed of an ended array of 10,000 tasks,
// each with an input file of its own, all failed: one transaction that makes the new
// array run and its 10,000 tasks with their events and copies each task's input file,
// on both stores. Each iteration resumes an array made outside the timing.
func BenchmarkResumeArray(b *testing.B) {
	onStores(b, "", benchmarkResumeArray)
}

func benchmarkResumeArray(b *testing.B, st store.Store) {
	const tasks = 10_000
	ctx := context.Background()
	now := time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)
	sp := job.Spec{Name: "score", Image: "python:3.12", CPU: "1", Memory: "1Gi"}
	if _, _, err := st.DefinitionPut(ctx, sp, now); err != nil {
		b.Fatal(err)
	}
	plan := func(old job.Run, children []job.Run) (job.Run, []job.Run, []job.Event, error) {
		p, runs, events := group.Resume(old, children, nil, now)
		return p, runs, events, nil
	}
	for b.Loop() {
		b.StopTimer()
		parent := job.NewRun(sp.Name, 1, job.TriggerAPI, now)
		children, events := group.Expand(&parent, sp, tasks, nil)
		events = append([]job.Event{parent.FirstEvent()}, events...)
		if _, _, err := st.RunCreateGroup(ctx, parent, children, events); err != nil {
			b.Fatal(err)
		}
		files := make(map[string][]job.File, tasks)
		for i, c := range children {
			files[c.ID] = []job.File{{Path: fmt.Sprintf("shards/%05d.csv", i), SHA256: fmt.Sprintf("%064x", i), Size: 100, Mode: 0o644}}
		}
		if err := st.RunFilesPut(ctx, store.FileInput, files, now); err != nil {
			b.Fatal(err)
		}
		// Every task fails; the last end ends the array.
		claimed, err := st.RunClaim(ctx, "bench", now.Add(time.Minute), tasks)
		if err != nil || len(claimed) != tasks {
			b.Fatalf("claimed %d, %v", len(claimed), err)
		}
		for _, r := range claimed {
			if _, err := st.RunTransition(ctx, job.Transition{RunID: r.ID, From: job.StateDispatched, To: job.StateFailed, Time: now, Reason: "ExitCode"}); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		resumed, err := st.RunResume(ctx, parent.ID, plan)
		if err != nil || resumed.Group == nil || resumed.Group.Size != tasks {
			b.Fatalf("resume: %+v, %v", resumed, err)
		}
	}
}
