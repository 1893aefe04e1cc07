package migrate

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"testing"

	_ "modernc.org/sqlite"
)

// TestApplyFillsGaps: a database that has a later migration but not an earlier one (a
// feature whose migration landed after a higher-numbered one) gets the earlier one, once.
func TestApplyFillsGaps(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m1 := Migration{Version: 1, Name: "0001_a.sql", SQL: `CREATE TABLE a (x INTEGER)`}
	m2 := Migration{Version: 2, Name: "0002_b.sql", SQL: `CREATE TABLE b (x INTEGER)`}
	m3 := Migration{Version: 3, Name: "0003_c.sql", SQL: `CREATE TABLE c (x INTEGER)`}
	if got, err := Apply(ctx, db, []Migration{m1, m3}); err != nil || !slices.Equal(got, []int{1, 3}) {
		t.Fatalf("first Apply = %v, %v; want [1 3]", got, err)
	}
	if got, err := Apply(ctx, db, []Migration{m1, m2, m3}); err != nil || !slices.Equal(got, []int{2}) {
		t.Fatalf("Apply with 2 added = %v, %v; want [2]", got, err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO b (x) VALUES (1)`); err != nil {
		t.Fatalf("migration 2 was not applied: %v", err)
	}
	if got, err := Apply(ctx, db, []Migration{m1, m2, m3}); err != nil || len(got) != 0 {
		t.Fatalf("Apply again = %v, %v; want nothing applied", got, err)
	}
	if _, err := Apply(ctx, db, []Migration{m1, m2}); err == nil {
		t.Fatal("Apply of older migrations to a newer database: no error")
	}
}
