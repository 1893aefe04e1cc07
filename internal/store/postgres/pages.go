package postgres

import (
	"context"
	"strconv"
	"strings"

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
)

// DefinitionPage returns a page of the live jobs by name. The cursor is the page's last
// name.
func (s *Store) DefinitionPage(ctx context.Context, f store.DefinitionFilter) ([]job.Definition, string, error) {
	// Names compare bytewise ("C"), as SQLite compares them, whatever the database's collation.
	q, args := `SELECT `+defColumns+defFrom+` WHERE d.deleted_at IS NULL AND d.name COLLATE "C" > $1`, []any{f.Cursor}
	if f.Name != "" {
		args = append(args, strings.ToLower(f.Name))
		q += ` AND strpos(d.name, $` + strconv.Itoa(len(args)) + `) > 0`
	}
	q += ` ORDER BY d.name COLLATE "C"`
	if f.Limit > 0 {
		args = append(args, f.Limit+1)
		q += ` LIMIT $` + strconv.Itoa(len(args))
	}
	defs, err := queryAll(ctx, s.db, scanDefinition, q, args...)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if f.Limit > 0 && len(defs) > f.Limit {
		defs = defs[:f.Limit]
		next = defs[f.Limit-1].Name
	}
	return defs, next, nil
}

// RunRecent returns the newest n runs of each job, one walk of the runs (job, id) index
// per job (LATERAL).
func (s *Store) RunRecent(ctx context.Context, jobs []string, n int) (map[string][]job.Run, error) {
	out := map[string][]job.Run{}
	if len(jobs) == 0 || n <= 0 {
		return out, nil
	}
	runs, err := queryAll(ctx, s.db, scanRun, `SELECT r.* FROM unnest($1::text[]) AS j(name)
		CROSS JOIN LATERAL (SELECT `+runColumns+` FROM runs WHERE job = j.name ORDER BY id DESC LIMIT $2) r
		ORDER BY r.job, r.id DESC`, jobs, n)
	if err != nil {
		return nil, err
	}
	for _, r := range runs {
		out[r.Job] = append(out[r.Job], r)
	}
	return out, nil
}
