package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
	"docket.dev/docket/internal/store/storetest"
)

func open(t *testing.T) store.Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "docket.db"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, open)
}

// TestReopen checks that state survives closing the database and that migrations are
// applied once.
func TestReopen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "docket.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	spec := job.Spec{Name: "kept", Image: "busybox", CPU: "1", Memory: "1Gi", Timezone: "UTC"}
	if _, _, err := s.DefinitionPut(ctx, spec, now); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	d, err := s.DefinitionGet(ctx, "kept")
	if err != nil || d.Revision != 1 || !d.CreatedAt.Equal(now) {
		t.Errorf("after reopen: %+v err %v", d, err)
	}
}
