package sqlstore

import (
	"sync"

	"docket.dev/docket/internal/job"
)

// maxKnownGroups bounds knownGroups: past it, it starts again empty.
const maxKnownGroups = 100_000

// knownGroups keeps the group (the parent's id, "" for none) of each run this store
// claimed and has not yet written the end of. A run's group is set when it is inserted and
// never changes, so the order in which a batch of state changes locks rows (batchOrder)
// is known without reading it: where rows are locked, that read was one more round trip
// to the database for every batch. A run it does not know (claimed by another server, or
// forgotten) is read.
type knownGroups struct {
	mu sync.Mutex
	m  map[string]string
}

// keep records the groups of claimed runs; on a nil knownGroups it does nothing.
func (k *knownGroups) keep(runs []job.Run) {
	if k == nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.m)+len(runs) > maxKnownGroups {
		clear(k.m) // runs ended through another server are never forgotten here
	}
	for _, r := range runs {
		k.m[r.ID] = r.Parent
	}
}

// lookup returns the groups it knows of the runs ids, and the ids it does not know.
func (k *knownGroups) lookup(ids []string) (map[string]string, []string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	known := make(map[string]string, len(ids))
	var unknown []string
	for _, id := range ids {
		if p, ok := k.m[id]; ok {
			known[id] = p
		} else {
			unknown = append(unknown, id)
		}
	}
	return known, unknown
}

// forget drops the runs that ts, now written, ended; on a nil knownGroups it does
// nothing.
func (k *knownGroups) forget(ts ...job.Transition) {
	if k == nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, t := range ts {
		if t.To.Terminal() {
			delete(k.m, t.RunID)
		}
	}
}
