package migrate

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	_ "modernc.org/sqlite"
)

// TestApplyFillsGaps: a fresh database gets every migration in order; one at a newer
// version that lacks an older migration (landed after it) gets that one, and no other; a
// database newer than the binary is refused.
func TestApplyFillsGaps(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fsys := fstest.MapFS{
		"m/0001_a.sql": {Data: []byte(`CREATE TABLE a (x INTEGER)`)},
		"m/0002_b.sql": {Data: []byte(`CREATE TABLE b (x INTEGER)`)},
		"m/0003_c.sql": {Data: []byte(`CREATE TABLE c (x INTEGER)`)},
	}
	all, err := Load(fsys, "m")
	if err != nil {
		t.Fatal(err)
	}
	open := func(name string) *sql.DB {
		db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}

	fresh := open("fresh.db")
	if got, err := Apply(ctx, fresh, all); err != nil || !slices.Equal(got, []int{1, 2, 3}) {
		t.Fatalf("fresh database: applied %v, %v; want [1 2 3]", got, err)
	}
	if got, err := Apply(ctx, fresh, all); err != nil || len(got) != 0 {
		t.Fatalf("second Apply: applied %v, %v; want none", got, err)
	}

	// A database made by a binary that had 0001 and 0003 but not yet 0002.
	gap := open("gap.db")
	if _, err := Apply(ctx, gap, []Migration{all[0], all[2]}); err != nil {
		t.Fatal(err)
	}
	if got, err := Apply(ctx, gap, all); err != nil || !slices.Equal(got, []int{2}) {
		t.Fatalf("database at 3 without 2: applied %v, %v; want [2]", got, err)
	}
	if _, err := gap.ExecContext(ctx, `INSERT INTO b (x) VALUES (1)`); err != nil {
		t.Fatalf("table of migration 2 missing after Apply: %v", err)
	}

	if _, err := Apply(ctx, gap, all[:2]); err == nil || !strings.Contains(err.Error(), "newer than this binary's 2") {
		t.Fatalf("downgrade: %v; want a refusal naming the versions", err)
	}
}
