package postgres_test

import (
	"context"
	"database/sql"
	"io"
	"os"
	"testing"
	"time"

	"docket.dev/docket/internal/store"
	"docket.dev/docket/internal/store/migrate/migratetest"
	"docket.dev/docket/internal/store/postgres"
	"docket.dev/docket/internal/store/postgres/pgtest"
)

func TestMain(m *testing.M) {
	migratetest.Main(m, func(ctx context.Context, url string) (io.Closer, error) { return postgres.Open(ctx, url) })
}

// TestMigrationKilled kills a process with SIGKILL while PostgreSQL runs its migration 15
// (which rewrites the indexes on runs.job) over 200,000 runs, then reads the database:
// the runs are all there, at schema version 14 with the job names' collation as before,
// and the next start applies the migration in full. A migration is one transaction, which
// its server rolls back when its client is gone before the commit.
func TestMigrationKilled(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url, db := openBefore(t, 15)
	const runs = 200_000
	if _, err := db.ExecContext(ctx, `INSERT INTO runs (id, job, revision, state, trigger, attempt, not_before, created_at)
		SELECT 'run-' || lpad(x::text, 7, '0'), 'job-' || (x % 5000), 1, 'succeeded', 'manual', 1, now(), now()
		FROM generate_series(1, $1) AS x`, runs); err != nil {
		t.Fatal(err)
	}
	type state struct {
		count, jobs, version int
		collation            string
	}
	read := func() state {
		t.Helper()
		var s state
		if err := db.QueryRowContext(ctx, `SELECT count(*), count(DISTINCT job), (SELECT max(version) FROM schema_migrations),
			(SELECT COALESCE(collation_name, '') FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'runs' AND column_name = 'job')
			FROM runs`).Scan(&s.count, &s.jobs, &s.version, &s.collation); err != nil {
			t.Fatal(err)
		}
		return s
	}
	want := read()
	if want.count != runs || want.version != 14 || want.collation == "C" {
		t.Fatalf("the database made: %+v", want)
	}

	migratetest.KillDuring(t, url, "PostgreSQL was seen running migration 15", func() bool {
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE pid <> pg_backend_pid() AND state = 'active' AND query LIKE '%ALTER TABLE runs ALTER COLUMN job TYPE TEXT COLLATE "C"%'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n > 0
	})
	// The killed client's backend ends its statement, finds its client gone, and rolls
	// back; its locks on the tables are held until then.
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(10 * time.Millisecond) {
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE pid <> pg_backend_pid() AND query LIKE '%ALTER TABLE runs ALTER COLUMN job%'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the killed client's backend did not end in 2 minutes")
		}
	}
	if got := read(); got != want {
		t.Errorf("after a kill during migration 15: %+v; want %+v, as before it", got, want)
	}

	s, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	want.version, want.collation = migratetest.Latest(t, os.DirFS("migrations")), "C"
	if got := read(); got != want {
		t.Errorf("after the migration ran again in full: %+v; want %+v", got, want)
	}
}

// TestBlobOwnerMigration checks migration 16 on stored blobs (migratetest.BlobOwners).
func TestBlobOwnerMigration(t *testing.T) {
	t.Parallel()
	url, db := openBefore(t, 16)
	migratetest.BlobOwners(t, db, func(tm time.Time) any { return tm }, func() store.Store {
		s, err := postgres.Open(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// openBefore makes a database of the test's own at the schema a binary before migration
// version left, and returns its URL and a connection to it (closed when the test ends).
func openBefore(t *testing.T, version int) (string, *sql.DB) {
	t.Helper()
	url := pgtest.URL(t)
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	migratetest.ApplyBefore(t, db, os.DirFS("migrations"), version)
	return url, db
}
