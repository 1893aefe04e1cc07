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

// TestClaimPlan checks that the claim reads queued runs through runs_claim, in claim
// order, on a database without ANALYZE's statistics too, so a claim stops after what it
// takes rather than reading and sorting the whole queue.
func TestClaimPlan(t *testing.T) {
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
	rows, err := db.QueryContext(ctx, `EXPLAIN QUERY PLAN SELECT id FROM `+dialect{}.QueuedRuns()+`
		WHERE state = 'queued' AND kind = '' AND not_before <= ? AND (claim_order, id) > (?, ?)
		AND job NOT IN (SELECT name FROM definitions WHERE suspended)
		AND queue NOT IN (SELECT name FROM queues WHERE disabled)
		ORDER BY claim_order, id LIMIT ?`, "2026-12-01", -1, "", 8)
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
	if !strings.Contains(got, "SEARCH runs USING INDEX runs_claim") || strings.Contains(got, "TEMP B-TREE") {
		t.Errorf("plan of the claim: %s; want a walk of runs_claim with no sort", got)
	}
}
