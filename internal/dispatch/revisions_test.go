package dispatch

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"docket.dev/docket/internal/job"
)

// revisionReads is a Store that counts its revision reads; anything else panics.
type revisionReads struct {
	Store
	reads map[revisionKey]int
}

func (s *revisionReads) DefinitionRevision(_ context.Context, name string, revision int) (job.Definition, error) {
	if name == "missing" {
		return job.Definition{}, job.ErrNotFound
	}
	s.reads[revisionKey{name, revision}]++
	return job.Definition{Spec: job.Spec{Name: name, Command: []string{fmt.Sprint(revision)}}, Revision: revision}, nil
}

func TestRevisionsReadOnce(t *testing.T) {
	ctx := context.Background()
	st := &revisionReads{reads: map[revisionKey]int{}}
	c := newRevisions()
	for range 3 {
		for _, rev := range []int{1, 2} {
			def, err := c.get(ctx, st, "a", rev)
			if err != nil || def.Revision != rev || def.Command[0] != fmt.Sprint(rev) {
				t.Fatalf("revision %d: %+v, %v", rev, def, err)
			}
		}
	}
	if st.reads[revisionKey{"a", 1}] != 1 || st.reads[revisionKey{"a", 2}] != 1 {
		t.Errorf("reads %v; want each revision read once", st.reads)
	}
	// A failed read is not kept.
	for range 2 {
		if _, err := c.get(ctx, st, "missing", 1); !errors.Is(err, job.ErrNotFound) {
			t.Fatalf("missing: err %v", err)
		}
	}
	// Bounded: past the size, the least recently used goes, and is read again.
	for i := range revisionCacheSize {
		if _, err := c.get(ctx, st, fmt.Sprintf("job-%d", i), 1); err != nil {
			t.Fatal(err)
		}
	}
	if c.order.Len() != revisionCacheSize || len(c.byKey) != revisionCacheSize {
		t.Errorf("keeps %d (%d); want %d", c.order.Len(), len(c.byKey), revisionCacheSize)
	}
	c.get(ctx, st, "a", 1)
	if st.reads[revisionKey{"a", 1}] != 2 {
		t.Errorf("revision 1 of a read %d times; want it read again once dropped", st.reads[revisionKey{"a", 1}])
	}
}
