package dispatch

import (
	"container/list"
	"context"
	"sync"

	"docket.dev/docket/internal/job"
)

// revisionCacheSize bounds how many revisions a dispatcher keeps read.
const revisionCacheSize = 256

// revisions keeps the revisions the dispatcher read last, so the runs of one job do not
// each read theirs: a revision never changes once stored (a job's edits are new
// revisions; one deleted and made again goes on counting). Only what a revision's spec
// says is used of what it keeps: a job's state (suspended, ...) is read where it counts.
// The definitions it hands out are shared: nothing that resolves a run changes them.
type revisions struct {
	mu    sync.Mutex
	order *list.List // of revisionKey, the most recently used first
	byKey map[revisionKey]revisionEntry
}

type revisionKey struct {
	job      string
	revision int
}

type revisionEntry struct {
	def job.Definition
	at  *list.Element
}

func newRevisions() *revisions {
	return &revisions{order: list.New(), byKey: map[revisionKey]revisionEntry{}}
}

// get returns revision revision of the job name, read from st unless kept.
func (c *revisions) get(ctx context.Context, st Store, name string, revision int) (job.Definition, error) {
	key := revisionKey{name, revision}
	c.mu.Lock()
	if e, ok := c.byKey[key]; ok {
		c.order.MoveToFront(e.at)
		c.mu.Unlock()
		return e.def, nil
	}
	c.mu.Unlock()
	def, err := st.DefinitionRevision(ctx, name, revision)
	if err != nil {
		return def, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byKey[key]; !ok {
		c.byKey[key] = revisionEntry{def: def, at: c.order.PushFront(key)}
		if c.order.Len() > revisionCacheSize {
			oldest := c.order.Back()
			c.order.Remove(oldest)
			delete(c.byKey, oldest.Value.(revisionKey))
		}
	}
	return def, nil
}
