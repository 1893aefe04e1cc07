package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"docket.dev/docket/internal/store/migrate/migratetest"
)

func TestMain(m *testing.M) {
	migratetest.Main(m, func(ctx context.Context, path string) (io.Closer, error) { return Open(ctx, path) })
}

// TestMigrationKilled kills a process with SIGKILL in the middle of migration 15 (which
// copies the events table whole) on a database of 300,000 events, then opens the database
// again: the events and their ids are as they were, at schema version 14, and the next
// start applies the migration in full. The kill comes once the migration's transaction
// has spilled pages to the WAL: it commits only after writing the whole new table, so
// the kill is always before its commit.
func TestMigrationKilled(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "docket.db")
	db := openBefore(t, path, 15)
	const events = 300_000
	if _, err := db.ExecContext(ctx, `WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < ?)
		INSERT INTO events (run_id, time, state, reason, message)
		SELECT printf('run-%05d', x % 10000), '2026-12-01T00:00:00.000000000Z', 'queued', 'Submitted', 'event number ' || x FROM n`, events); err != nil {
		t.Fatal(err)
	}
	type sums struct{ count, ids, max, version int }
	read := func(db *sql.DB) sums {
		t.Helper()
		var s sums
		if err := db.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(id), 0), coalesce(max(id), 0),
			(SELECT max(version) FROM schema_migrations) FROM events`).Scan(&s.count, &s.ids, &s.max, &s.version); err != nil {
			t.Fatal(err)
		}
		return s
	}
	want := read(db)
	if want.count != events || want.version != 14 {
		t.Fatalf("the database made: %+v", want)
	}
	db.Close()

	const spilled = 4 << 20 // the new table is larger than this many times over
	migratetest.KillDuring(t, path, fmt.Sprintf("its WAL grew past %d bytes", spilled), func() bool {
		fi, err := os.Stat(path + "-wal")
		return err == nil && fi.Size() > spilled
	})

	db, err := openDB(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := read(db); got != want {
		t.Errorf("after a kill during migration 15: %+v; want %+v, as before it", got, want)
	}
	var check string
	if err := db.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Errorf("integrity check after the kill: %q, %v", check, err)
	}
	db.Close()

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want.version = migratetest.Latest(t, os.DirFS("migrations"))
	if got := read(s.DB()); got != want {
		t.Errorf("after the migration ran again in full: %+v; want %+v", got, want)
	}
}
