package store

import (
	"context"
	"fmt"

	"docket.dev/docket/internal/job"
)

// FileReader is what InputsOf reads.
type FileReader interface {
	RunGet(ctx context.Context, id string) (job.Run, error)
	RunFiles(ctx context.Context, runID, kind string) ([]job.File, error)
}

// InputsOf returns the input files of a run: those of its first attempt (a retry has
// its first attempt's) and, for a child, its group run's, the child's own winning on a
// path both name. The walk back through the attempts is bounded by the run's attempt.
func InputsOf(ctx context.Context, st FileReader, run job.Run) ([]job.File, error) {
	for run.RetryOf != "" && run.Attempt > 1 {
		prev, err := st.RunGet(ctx, run.RetryOf)
		if err != nil {
			return nil, fmt.Errorf("load attempt %d of run %s: %w", run.Attempt-1, run.ID, err)
		}
		run = prev
	}
	own, err := st.RunFiles(ctx, run.ID, FileInput)
	if err != nil {
		return nil, err
	}
	out := []job.File{}
	if run.Parent != "" {
		shared, err := st.RunFiles(ctx, run.Parent, FileInput)
		if err != nil {
			return nil, err
		}
		mine := map[string]bool{}
		for _, f := range own {
			mine[f.Path] = true
		}
		for _, f := range shared {
			if !mine[f.Path] {
				out = append(out, f)
			}
		}
	}
	return append(out, own...), nil
}
