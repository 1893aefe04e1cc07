package sqlite

import (
	"context"
	"database/sql"
	"errors"
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

// TestBlobOwnerMigration checks migration 16 on stored blobs: a blob some run's file names
// is not held by its sender, one no run names is; an upload left in progress counts as
// still since it began: another sender may begin it again once that is BlobIdle ago.
func TestBlobOwnerMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "docket.db")
	db := openBefore(t, path, 16)
	now := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	for _, b := range []struct {
		sha      string
		size     int64
		complete bool
		began    time.Time
	}{
		{"named", 100, true, now.Add(-time.Hour)},
		{"held", 5, true, now.Add(-time.Hour)},
		{"left", 3, false, now.Add(-time.Hour)},
		{"sending", 3, false, now.Add(-time.Minute)},
	} {
		if _, err := db.ExecContext(ctx, `INSERT INTO blobs (sha256, size, received, complete, created_at) VALUES (?, ?, 0, ?, ?)`,
			b.sha, b.size, b.complete, sqlstore.FormatTime(b.began)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO run_files (run_id, kind, path, sha256, size, mode, created_at) VALUES ('r', 'input', 'a', 'named', 100, 420, ?)`,
		sqlstore.FormatTime(now)); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if b, err := s.BlobBegin(ctx, store.Upload{SHA256: "left", Owner: "bo"}, 3, now); err != nil || b.Received != 0 {
		t.Errorf("another sender begins an upload left an hour ago: %+v %v; want it begun again", b, err)
	}
	if _, err := s.BlobBegin(ctx, store.Upload{SHA256: "sending", Owner: "bo"}, 3, now); !errors.Is(err, store.ErrBlobBusy) {
		t.Errorf("another sender begins an upload begun a minute ago: %v; want busy", err)
	}
	// What the server's one sender ("" without tokens) holds: "held" (5 bytes) and
	// "sending" (3), not "named".
	if _, err := s.BlobBegin(ctx, store.Upload{SHA256: "new1", MaxHeld: 10}, 3, now); !errors.Is(err, store.ErrBlobHeld) {
		t.Errorf("3 more bytes beside the 8 held, of 10: %v; want held", err)
	}
	if _, err := s.BlobBegin(ctx, store.Upload{SHA256: "new2", MaxHeld: 10}, 2, now); err != nil {
		t.Errorf("2 more bytes beside the 8 held, of 10: %v; want them", err)
	}
}
