package postgres_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
	"docket.dev/docket/internal/store/postgres"
	"docket.dev/docket/internal/store/postgres/pgtest"
	"docket.dev/docket/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := postgres.Open(context.Background(), pgtest.URL(t))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestMicroseconds checks that times come back at PostgreSQL's precision, in UTC.
func TestMicroseconds(t *testing.T) {
	t.Parallel()
	s := pgtest.Open(t)
	now := time.Date(2026, 11, 23, 9, 0, 0, 123456789, time.FixedZone("x", 3600))
	spec := job.Spec{Name: "precise", Image: "busybox", CPU: "1", Memory: "1Gi", Timezone: "UTC"}
	d, _, err := s.DefinitionPut(context.Background(), spec, now)
	if err != nil {
		t.Fatal(err)
	}
	want := now.UTC().Truncate(time.Microsecond)
	if !d.CreatedAt.Equal(want) || d.CreatedAt.Location() != time.UTC {
		t.Errorf("created_at = %v; want %v in UTC", d.CreatedAt, want)
	}
}

// TestMigrateConcurrently opens one database from several servers at once: each
// migration is applied once and every server starts.
func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := postgres.Open(context.Background(), url)
			if err != nil {
				t.Error(err)
				return
			}
			s.Close()
		}()
	}
	wg.Wait()
}

// TestRunCreateReturnsStored checks that the run RunCreate returns is the run a read
// returns, though it is not read back.
func TestRunCreateReturnsStored(t *testing.T) {
	t.Parallel()
	s := pgtest.Open(t)
	ctx := context.Background()
	at := time.Date(2026, 11, 23, 9, 0, 0, 123456789, time.FixedZone("x", 3600))
	r := job.Run{ID: job.NewRunID(at), Job: "j", Revision: 1, State: job.StateQueued, Trigger: job.TriggerAPI,
		Attempt: 1, NotBefore: at, CreatedAt: at, ScheduledTime: &at, Env: map[string]string{"A": "1"}}
	created, ok, err := s.RunCreate(ctx, r, job.Event{RunID: r.ID, Time: at, State: job.StateQueued})
	if err != nil || !ok {
		t.Fatalf("RunCreate: %v %v", ok, err)
	}
	read, err := s.RunGet(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(read, created); diff != "" {
		t.Errorf("created run differs from the stored one (-read +created):\n%s", diff)
	}
}

// TestJobNameJoinsUseIndexes checks that joins of a job's name between tables find their
// rows through the index on that name: every such column compares bytewise (migrations 7
// and 15). Under different collations PostgreSQL can use neither index for the join, so
// reading one definition scanned every revision and each job's last finish walked every
// run. The plans are read with sequential scans made as costly as the planner allows, so
// tables this small are read through an index where one serves.
func TestJobNameJoinsUseIndexes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.Open(t)
	conn, err := s.DB().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SET enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	for _, q := range []struct{ what, sql, scan, cond string }{
		{"a definition with its revision", `SELECT r.spec FROM definitions d JOIN revisions r ON r.name = d.name AND r.revision = d.revision WHERE d.name = 'nightly'`,
			" on revisions r", "name = 'nightly'"},
		{"each job's newest success", `SELECT (SELECT r.id FROM runs r WHERE r.job = d.name AND r.parent_id IS NULL AND r.state = 'succeeded' ORDER BY r.id DESC LIMIT 1) FROM definitions d`,
			" on runs r", "job = d.name"},
		{"the newest runs of each job of a page (RunRecent)", `SELECT r.* FROM (SELECT unnest('{nightly,hourly}'::text[]) COLLATE "C" AS name) AS j
			CROSS JOIN LATERAL (SELECT id FROM runs WHERE job = j.name AND parent_id IS NULL ORDER BY id DESC LIMIT 3) AS r`,
			" on runs", "(job = "},
	} {
		rows, err := conn.QueryContext(ctx, `EXPLAIN `+q.sql)
		if err != nil {
			t.Fatalf("%s: %v", q.what, err)
		}
		var plan []string
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, line)
		}
		rows.Close()
		if !indexCond(plan, q.scan, q.cond) {
			t.Errorf("%s: the scan%s has no index condition on %q:\n%s", q.what, q.scan, q.cond, strings.Join(plan, "\n"))
		}
	}
}

// indexCond says whether the plan's node scanning scan (" on runs r") finds its rows by an
// index condition holding cond.
func indexCond(plan []string, scan, cond string) bool {
	for i, line := range plan {
		if !strings.Contains(line, scan) {
			continue
		}
		for _, detail := range plan[i+1:] {
			if strings.Contains(detail, "->") {
				break
			}
			if strings.Contains(detail, "Index Cond:") && strings.Contains(detail, cond) {
				return true
			}
		}
	}
	return false
}
