package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunSeriesPlan checks that a job's chart points are read through the index of the
// runs that are no group's child, newest first, so the read stops after the limit however
// many runs and children the job has had.
func TestRunSeriesPlan(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "docket.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, where := range []string{"", " AND id >= ? AND id < ?"} {
		args := []any{"nightly", 100}
		if where != "" {
			args = []any{"nightly", "a", "b", 100}
		}
		rows, err := db.QueryContext(ctx, `EXPLAIN QUERY PLAN SELECT id FROM runs WHERE job = ? AND parent_id IS NULL`+where+` ORDER BY id DESC LIMIT ?`, args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		got := strings.Join(plan, "; ")
		if !strings.Contains(got, "USING INDEX runs_job_top") && !strings.Contains(got, "USING COVERING INDEX runs_job_top") || strings.Contains(got, "TEMP B-TREE") {
			t.Errorf("plan of the series query%s: %s; want a walk of runs_job_top with no sort", where, got)
		}
	}
}
