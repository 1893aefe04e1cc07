package sqlite

import (
	"context"
	"encoding/json"
	"strings"

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
)

// DefinitionPage returns a page of the live jobs by name. The cursor is the page's last
// name.
func (s *Store) DefinitionPage(ctx context.Context, f store.DefinitionFilter) ([]job.Definition, string, error) {
	q, args := `SELECT `+defColumns+defFrom+` WHERE d.deleted_at IS NULL AND d.name > ?`, []any{f.Cursor}
	if f.Name != "" {
		q, args = q+` AND instr(d.name, ?) > 0`, append(args, strings.ToLower(f.Name))
	}
	q += ` ORDER BY d.name`
	if f.Limit > 0 {
		q, args = q+` LIMIT ?`, append(args, f.Limit+1)
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

// RunRecent returns the newest n runs of each job: per job, one probe of the runs (job, id)
// index finds its n-th newest run, and a walk of the index from there reads them.
func (s *Store) RunRecent(ctx context.Context, jobs []string, n int) (map[string][]job.Run, error) {
	out := map[string][]job.Run{}
	if len(jobs) == 0 || n <= 0 {
		return out, nil
	}
	names, err := json.Marshal(jobs)
	if err != nil {
		return nil, err
	}
	runs, err := queryAll(ctx, s.db, scanRun, `SELECT `+runColumns+` FROM runs WHERE id IN (
		SELECT r.id FROM json_each(?) j JOIN runs r ON r.job = j.value
		WHERE r.id >= COALESCE((SELECT x.id FROM runs x WHERE x.job = j.value ORDER BY x.id DESC LIMIT 1 OFFSET ?), ''))
	ORDER BY job, id DESC`, string(names), n-1)
	if err != nil {
		return nil, err
	}
	for _, r := range runs {
		out[r.Job] = append(out[r.Job], r)
	}
	return out, nil
}
