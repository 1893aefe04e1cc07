package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
	"docket.dev/docket/internal/store/migrate/migratetest"
	"docket.dev/docket/internal/store/sqlstore"
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

// openBefore opens a new database at path with the migrations numbered below version
// applied, as a binary before that migration left it.
func openBefore(t *testing.T, path string, version int) *sql.DB {
	t.Helper()
	db, err := openDB(path)
	if err != nil {
		t.Fatal(err)
	}
	migratetest.ApplyBefore(t, db, dialect{}.Migrations(), version)
	return db
}

// TestEventsMigration checks migration 15, which rebuilds events without AUTOINCREMENT,
// on a database with events: they keep their ids and order, the run's index is back, and
// a new event's id is above them all.
func TestEventsMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "docket.db")
	db := openBefore(t, path, 15)
	for _, msg := range []string{"first", "second", "third"} {
		if _, err := db.ExecContext(ctx, `INSERT INTO events (run_id, time, state, reason, message) VALUES ('r', 't', 'queued', 'Submitted', ?)`, msg); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	db = s.DB()
	var got []string
	rows, err := db.QueryContext(ctx, `SELECT id, message FROM events WHERE run_id = 'r' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var (
			id  int
			msg string
		)
		if err := rows.Scan(&id, &msg); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%d %s", id, msg))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"1 first", "2 second", "3 third"}; !slices.Equal(got, want) {
		t.Errorf("events after the migration: %q; want %q", got, want)
	}
	var schema string
	var indexes, sequences int
	if err := db.QueryRowContext(ctx, `SELECT sql, (SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'events_run'),
		(SELECT count(*) FROM sqlite_sequence WHERE name = 'events') FROM sqlite_master WHERE name = 'events'`).Scan(&schema, &indexes, &sequences); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(strings.ToUpper(schema), "AUTOINCREMENT") || indexes != 1 || sequences != 0 {
		t.Errorf("events after the migration: %s, %d events_run indexes, %d sqlite_sequence rows; want no AUTOINCREMENT, 1, 0", schema, indexes, sequences)
	}
	var id int
	if err := db.QueryRowContext(ctx, `INSERT INTO events (run_id, time, state, reason, message) VALUES ('s', 't', 'queued', 'Submitted', 'new') RETURNING id`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if id != 4 {
		t.Errorf("a new event's id: %d; want 4", id)
	}
}

// TestBlobOwnerMigration checks migration 16 on stored blobs (migratetest.BlobOwners).
func TestBlobOwnerMigration(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "docket.db")
	db := openBefore(t, path, 16)
	migratetest.BlobOwners(t, db, func(tm time.Time) any { return sqlstore.FormatTime(tm) }, func() store.Store {
		db.Close()
		s, err := Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
