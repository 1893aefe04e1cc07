package process

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// A run's keeper is recorded in WorkDir as RUN_ID.keeper, with its pid and start time,
// while the run goes on: after a crash, the server that recovers the run finds by it a
// keeper that outlived its server, and what is still under it.

const recordSuffix = ".keeper"

func (e *Executor) workDir(runID string) string { return filepath.Join(e.opts.WorkDir, runID) }

func (e *Executor) recordPath(runID string) string {
	return filepath.Join(e.opts.WorkDir, runID+recordSuffix)
}

// record writes down a run's keeper: its record, written once per keeper and kept while
// the keeper waits for a run (see spares.go), renamed to the run's.
func (e *Executor) record(runID string, k *keeper) error {
	if k.record != "" && rename(k.record, e.recordPath(runID)) == nil {
		return nil
	}
	k.record = "" // gone (removed by hand, say): written again
	start, err := k.startTime()
	if err != nil {
		return err
	}
	idle := e.idleRecord(k)
	if err := os.WriteFile(idle, fmt.Appendf(nil, "%d %d\n", k.pid(), start), 0o600); err != nil {
		return err
	}
	k.record = idle
	return rename(idle, e.recordPath(runID))
}

// done puts away what a run of this executor left in the work directory, once all its
// processes are gone: its keeper's record goes back to waiting with the keeper, and its
// working directory is removed or kept as a spare.
func (e *Executor) done(runID string, k *keeper) {
	if k.record == "" || rename(e.recordPath(runID), k.record) != nil {
		os.Remove(e.recordPath(runID))
	}
	e.dropWorkDir(e.workDir(runID))
}

// forget removes what a finished run left in the work directory: its working directory
// and its keeper's record.
func (e *Executor) forget(runID string) {
	os.RemoveAll(e.workDir(runID))
	os.Remove(e.recordPath(runID))
}

// recorded returns the keeper recorded for a run, if it still runs.
func (e *Executor) recorded(runID string) (int, bool) {
	data, err := os.ReadFile(e.recordPath(runID))
	if err != nil {
		return 0, false
	}
	var pid int
	var start uint64
	if _, err := fmt.Sscanf(string(data), "%d %d", &pid, &start); err != nil || pid <= 0 {
		return 0, false
	}
	st, err := readStat(pid)
	return pid, err == nil && st.start == start && st.alive()
}

// Sweep kills every process left of a run whose server died, with the keeper that
// outlived it, and removes what the run left in the work directory. The dispatcher calls
// it before it records a recovered run as interrupted and retries it. A run this
// executor is running is left alone.
func (e *Executor) Sweep(_ context.Context, runID string) error {
	if e.runs.Holds(runID) {
		return nil
	}
	if pid, ok := e.recorded(runID); ok {
		if err := killTree(pid, true); err != nil {
			return fmt.Errorf("kill the processes left of run %s: %w", runID, err)
		}
		e.opts.Logger.Warn("killed the processes left of a run whose server stopped", "run_id", runID, "keeper", pid)
	}
	e.forget(runID)
	return nil
}

// sweepStale removes what runs whose keepers are gone left in the work directory (a
// crashed server's runs that a server elsewhere recovered). Live keepers are left to the
// Sweep of their run's recovery.
func (e *Executor) sweepStale() error {
	entries, err := os.ReadDir(e.opts.WorkDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, entry := range entries {
		if name := entry.Name(); strings.HasPrefix(name, sparePrefix) || strings.HasPrefix(name, idlePrefix) {
			if stale(name) {
				os.RemoveAll(filepath.Join(e.opts.WorkDir, name)) // a server's that is gone
			}
			continue
		}
		runID, ok := strings.CutSuffix(entry.Name(), recordSuffix)
		if !ok || e.runs.Holds(runID) {
			continue
		}
		if _, alive := e.recorded(runID); !alive {
			e.forget(runID)
		}
	}
	return nil
}
