// Package migratetest helps the stores' tests of their migrations: a database as a binary
// before a migration left it, and a process killed with SIGKILL in the middle of one.
package migratetest

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"docket.dev/docket/internal/store"
	"docket.dev/docket/internal/store/migrate"
)

// ApplyBefore applies to db the migrations of fsys numbered below version: the schema a
// binary before that migration left.
func ApplyBefore(t testing.TB, db *sql.DB, fsys fs.FS, version int) {
	t.Helper()
	ms, err := migrate.Load(fsys, ".")
	if err != nil {
		t.Fatal(err)
	}
	var before []migrate.Migration
	for _, m := range ms {
		if m.Version < version {
			before = append(before, m)
		}
	}
	if _, err := migrate.Apply(context.Background(), db, before); err != nil {
		t.Fatal(err)
	}
}

// Latest returns the number of the last migration of fsys: the version a store opened by
// this binary is at.
func Latest(t testing.TB, fsys fs.FS) int {
	t.Helper()
	ms, err := migrate.Load(fsys, ".")
	if err != nil || len(ms) == 0 {
		t.Fatalf("migrations: %d, %v", len(ms), err)
	}
	return ms[len(ms)-1].Version
}

// childEnv, set in the environment, makes a test binary whose TestMain is Main the process
// KillDuring kills: it opens the store its value names (applying its migrations), as a
// server does first, and exits.
const childEnv = "DOCKET_TEST_MIGRATE_CHILD"

// Main is a test package's TestMain: it runs the tests, or, in the child KillDuring
// starts, opens the store target names with open and exits.
func Main(m *testing.M, open func(ctx context.Context, target string) (io.Closer, error)) {
	if target := os.Getenv(childEnv); target != "" {
		s, err := open(context.Background(), target)
		if err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		s.Close()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// KillDuring starts this test binary (whose TestMain is Main) as a process that opens the
// store target names, waits until started reports its migration under way (what says
// what started looks for), kills it with SIGKILL and returns once it is gone. The test
// fails if the process ends first, or started is not true within 2 minutes.
func KillDuring(t *testing.T, target, what string, started func() bool) {
	t.Helper()
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), childEnv+"="+target)
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- child.Wait() }()
	for deadline := time.Now().Add(2 * time.Minute); !started(); time.Sleep(time.Millisecond) {
		select {
		case err := <-exited:
			t.Fatalf("the migrating process ended (%v) before %s", err, what)
		default:
		}
		if time.Now().After(deadline) {
			child.Process.Kill()
			<-exited
			t.Fatalf("in 2 minutes of the migrating process, never %s", what)
		}
	}
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited
}

// BlobOwners checks migration 16 on blobs stored before it: db is at the schema before it
// (ApplyBefore 16), ts writes a time as its store keeps times, and open opens the store on
// the same database, which applies the migration. A blob some run's file names is then
// not held by its sender and one no run names is; an upload left in progress counts as
// still since it began, so another sender may begin it again once that is BlobIdle ago.
func BlobOwners(t *testing.T, db *sql.DB, ts func(time.Time) any, open func() store.Store) {
	t.Helper()
	ctx := context.Background()
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
		if _, err := db.ExecContext(ctx, `INSERT INTO blobs (sha256, size, received, complete, created_at) VALUES ($1, $2, 0, $3, $4)`,
			b.sha, b.size, b.complete, ts(b.began)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO run_files (run_id, kind, path, sha256, size, mode, created_at) VALUES ('r', 'input', 'a', 'named', 100, 420, $1)`,
		ts(now)); err != nil {
		t.Fatal(err)
	}

	s := open()
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
